/**
 * Rigs as glTF 2.0 binary (GLB) files with morph targets, read and written with `@gltf-transform/core`.
 *
 * Reading: every triangle primitive of every mesh in the default scene is merged into one mesh, with node
 * transforms applied (positions by the full world matrix, deltas by its linear part). Morph target names come
 * from `mesh.extras.targetNames` (the common convention of Blender and three.js); targets without a name are
 * called `target_{i}`. A primitive lacking a target that another primitive has gets zero deltas for it. Vertex
 * colours are read from `COLOR_0` (float, or normalized u8/u16; linear as glTF requires, converted to the
 * rig's sRGB encoding); without COLOR_0 the material's base colour texture is sampled at TEXCOORD_0 (bilinear)
 * and multiplied by its base colour factor; grey when there is neither. Meshopt-compressed files
 * (`EXT_meshopt_compression`) are decoded with the `meshoptimizer` package.
 *
 * Writing: one mesh, one primitive (POSITION, COLOR_0, indices, one morph target with POSITION deltas per
 * blendshape, stored as a sparse accessor when uncompressed), `extras.targetNames`, and the mouth vertex indices in `mesh.extras.npgaMouthVertices`.
 * With `{ compress: true }` the buffers are meshopt-compressed (lossless for float attributes).
 */
import { Document, type Mesh, type Node, NodeIO, type Primitive } from "@gltf-transform/core";
import { EXTMeshoptCompression } from "@gltf-transform/extensions";
import { MeshoptDecoder, MeshoptEncoder } from "meshoptimizer";
import { DataError } from "./errors.ts";
import { decodeImage } from "./image_io.ts";
import { type Rig, validateRig } from "./rig.ts";

const GREY = 0.6;

async function makeIO(): Promise<NodeIO> {
  await MeshoptDecoder.ready;
  await MeshoptEncoder.ready;
  return new NodeIO().registerExtensions([EXTMeshoptCompression]).registerDependencies({
    "meshopt.decoder": MeshoptDecoder,
    "meshopt.encoder": MeshoptEncoder,
  });
}

/** Serializes a rig to GLB bytes. */
export async function writeRigGlb(
  rig: Rig,
  opts: { compress?: boolean; name?: string } = {},
): Promise<Uint8Array> {
  validateRig(rig, opts.name ?? "rig");
  const doc = new Document();
  const buffer = doc.createBuffer();
  const acc = (type: "VEC3" | "SCALAR", array: Float32Array | Uint32Array) =>
    doc.createAccessor().setType(type).setArray(array.slice()).setBuffer(buffer);
  const prim = doc.createPrimitive()
    .setAttribute("POSITION", acc("VEC3", rig.positions))
    .setAttribute("COLOR_0", acc("VEC3", rig.colors.map(srgbToLinear)))
    .setIndices(acc("SCALAR", rig.indices));
  for (let k = 0; k < rig.deltas.length; k++) {
    const t = doc.createPrimitiveTarget(rig.blendshapeNames[k]).setAttribute(
      "POSITION",
      acc("VEC3", rig.deltas[k]).setSparse(!opts.compress && mostlyZero(rig.deltas[k])),
    );
    prim.addTarget(t);
  }
  const mesh = doc.createMesh(opts.name ?? "rig").addPrimitive(prim)
    .setWeights(new Array(rig.deltas.length).fill(0))
    .setExtras({ targetNames: [...rig.blendshapeNames], npgaMouthVertices: Array.from(rig.mouthVertices) });
  const node = doc.createNode(opts.name ?? "rig").setMesh(mesh);
  doc.createScene("scene").addChild(node);
  if (opts.compress) {
    doc.createExtension(EXTMeshoptCompression).setRequired(true).setEncoderOptions({
      method: EXTMeshoptCompression.EncoderMethod.QUANTIZE,
    });
  }
  const io = await makeIO();
  return await io.writeBinary(doc);
}

/** Parses GLB bytes into a validated rig; `file` names the source in errors. */
export async function readRigGlb(bytes: Uint8Array, file: string): Promise<Rig> {
  checkGlbContainer(bytes, file);
  const io = await makeIO();
  let doc: Document;
  try {
    doc = await io.readBinary(bytes);
  } catch (e) {
    throw new DataError(
      file,
      `not a readable GLB file (${(e as Error).message})`,
      "The file may be truncated or not a binary glTF; re-export it as .glb",
    );
  }
  const root = doc.getRoot();
  const scene = root.getDefaultScene() ?? root.listScenes()[0];
  const nodes: Node[] = [];
  if (scene) scene.traverse((n) => void nodes.push(n));
  else nodes.push(...root.listNodes().filter((n) => n.getMesh()));
  const parts: { mesh: Mesh; prim: Primitive; matrix: number[] }[] = [];
  for (const n of nodes) {
    const mesh = n.getMesh();
    if (!mesh) continue;
    const matrix = Array.from(n.getWorldMatrix());
    for (const prim of mesh.listPrimitives()) {
      if (prim.getMode() === 4 && prim.getAttribute("POSITION")) parts.push({ mesh, prim, matrix });
    }
  }
  if (parts.length === 0) throw new DataError(file, "contains no triangle mesh with positions");

  const names: string[] = [];
  for (const { mesh, prim } of parts) {
    targetNamesOf(mesh, prim).forEach((n) => names.includes(n) || names.push(n));
  }
  const V = parts.reduce((s, p) => s + p.prim.getAttribute("POSITION")!.getCount(), 0);
  const positions = new Float32Array(V * 3), colors = new Float32Array(V * 3).fill(GREY);
  const deltas = names.map(() => new Float32Array(V * 3));
  const indexList: number[] = [];
  let mouth: number[] = [];
  let base = 0;
  for (const { mesh, prim, matrix } of parts) {
    const pos = prim.getAttribute("POSITION")!;
    const n = pos.getCount();
    const el: number[] = [];
    for (let i = 0; i < n; i++) {
      pos.getElement(i, el);
      transformInto(positions, base + i, matrix, el, 1);
    }
    const col = prim.getAttribute("COLOR_0");
    if (!col) materialColors(prim, n, file, colors, base);
    if (col) {
      if (col.getCount() !== n) {
        throw new DataError(file, `COLOR_0 has ${col.getCount()} entries for ${n} vertices`);
      }
      for (let i = 0; i < n; i++) {
        col.getElement(i, el);
        for (let c = 0; c < 3; c++) colors[(base + i) * 3 + c] = linearToSrgb(el[c]);
      }
    }
    const idx = prim.getIndices();
    if (idx) {
      for (let i = 0; i < idx.getCount(); i++) {
        const v = idx.getScalar(i);
        if (!(v >= 0 && v < n)) {
          throw new DataError(file, `mesh '${mesh.getName()}' index ${v} is out of range for ${n} vertices`);
        }
        indexList.push(base + v);
      }
    } else for (let i = 0; i < n; i++) indexList.push(base + i);
    const tnames = targetNamesOf(mesh, prim);
    prim.listTargets().forEach((t, ti) => {
      const d = t.getAttribute("POSITION");
      if (!d) return;
      if (d.getCount() !== n) {
        throw new DataError(
          file,
          `morph target '${
            tnames[ti]
          }' has ${d.getCount()} vertices but its mesh has ${n} (vertex count mismatch)`,
        );
      }
      const k = names.indexOf(tnames[ti]);
      for (let i = 0; i < n; i++) {
        d.getElement(i, el);
        transformInto(deltas[k], base + i, matrix, el, 0);
      }
    });
    const extra = (mesh.getExtras() as { npgaMouthVertices?: unknown }).npgaMouthVertices;
    if (Array.isArray(extra)) mouth = mouth.concat(extra.map((m) => Number(m) + base));
    base += n;
  }
  const rig: Rig = {
    positions,
    indices: Uint32Array.from(indexList),
    colors,
    blendshapeNames: names,
    deltas,
    mouthVertices: Uint32Array.from(mouth),
  };
  validateRig(rig, file);
  return rig;
}

function targetNamesOf(mesh: Mesh, prim: Primitive): string[] {
  const extras = mesh.getExtras() as { targetNames?: unknown };
  const fromExtras = Array.isArray(extras.targetNames) ? extras.targetNames.map(String) : [];
  return prim.listTargets().map((t, i) => fromExtras[i] || t.getName() || `target_${i}`);
}

/** out[v] = M * (x, y, z, w) for a column-major 4x4 matrix M. */
function transformInto(out: Float32Array, v: number, m: number[], p: number[], w: number): void {
  for (let r = 0; r < 3; r++) {
    out[v * 3 + r] = m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r] * w;
  }
}

/** sRGB transfer function, inverse (encoded [0,1] to linear). */
function srgbToLinear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** sRGB transfer function (linear [0,1] to encoded). */
function linearToSrgb(c: number): number {
  const x = Math.min(Math.max(c, 0), 1);
  return x <= 0.0031308 ? x * 12.92 : 1.055 * x ** (1 / 2.4) - 0.055;
}

/** Checks the GLB header and chunk table against the byte count, so a truncated file is reported as such. */
function checkGlbContainer(bytes: Uint8Array, file: string): void {
  const fix = "The file may be truncated or not a binary glTF; re-export it as .glb";
  if (bytes.length < 20) {
    throw new DataError(file, `only ${bytes.length} bytes, too short for a GLB file`, fix);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== 0x46546c67) {
    throw new DataError(file, "does not start with the GLB magic 'glTF'", fix);
  }
  const version = dv.getUint32(4, true);
  if (version !== 2) throw new DataError(file, `GLB version ${version}, expected 2`);
  const total = dv.getUint32(8, true);
  if (total !== bytes.length) {
    throw new DataError(
      file,
      `GLB header declares ${total} bytes but the file has ${bytes.length} (truncated?)`,
      fix,
    );
  }
  let at = 12;
  while (at < total) {
    if (at + 8 > total) throw new DataError(file, `GLB chunk header at byte ${at} is cut off`, fix);
    const len = dv.getUint32(at, true);
    if (at + 8 + len > total) {
      throw new DataError(file, `GLB chunk at byte ${at} runs past the end of the file`, fix);
    }
    at += 8 + len;
  }
}

/** True when fewer than a third of the vertices have a non-zero delta (then a sparse accessor is smaller). */
function mostlyZero(d: Float32Array): boolean {
  let moved = 0;
  for (let i = 0; i < d.length; i += 3) if (d[i] !== 0 || d[i + 1] !== 0 || d[i + 2] !== 0) moved++;
  return moved * 3 < d.length / 3;
}

/**
 * Vertex colours from the primitive's material: base colour texture sampled at TEXCOORD_0 (bilinear, repeat
 * wrapping) times the base colour factor, written as sRGB into `out` at vertex offset `base`.
 */
function materialColors(prim: Primitive, n: number, file: string, out: Float32Array, base: number): void {
  const mat = prim.getMaterial();
  if (!mat) return;
  const factor = mat.getBaseColorFactor(); // linear RGBA
  const tex = mat.getBaseColorTexture(), uvs = prim.getAttribute("TEXCOORD_0");
  const img = tex?.getImage();
  const decoded = img && uvs
    ? decodeImage(img, `${file} (texture '${tex!.getName() || tex!.getURI()}')`)
    : null;
  const uv: number[] = [];
  for (let i = 0; i < n; i++) {
    let rgb = [1, 1, 1];
    if (decoded && uvs) {
      uvs.getElement(i, uv);
      rgb = sampleBilinear(decoded.data, decoded.width, decoded.height, decoded.channels, uv[0], uv[1]).map(
        srgbToLinear,
      );
    }
    for (let c = 0; c < 3; c++) out[(base + i) * 3 + c] = linearToSrgb(rgb[c] * factor[c]);
  }
}

/** Bilinear sample of an 8-bit image at texture coordinates (u, v) (glTF: v down), repeat wrapping; 0..1. */
function sampleBilinear(data: Uint8Array, w: number, h: number, ch: number, u: number, v: number): number[] {
  const x = (u - Math.floor(u)) * w - 0.5, y = (v - Math.floor(v)) * h - 0.5;
  const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
  const at = (xx: number, yy: number, c: number) =>
    data[((((yy % h) + h) % h) * w + (((xx % w) + w) % w)) * ch + c] / 255;
  return [0, 1, 2].map((c) =>
    (at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx) * (1 - fy) +
    (at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx) * fy
  );
}
