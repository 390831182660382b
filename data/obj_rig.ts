/**
 * ICT-FaceKit-style rigs: a folder of Wavefront OBJ files, one neutral mesh plus one full mesh per expression
 * with the same vertex order. Blendshape deltas are `shape - neutral`; blendshape names are the file names
 * without `.obj` (e.g. `jawOpen.obj` -> "jawOpen"), sorted by name. The neutral file is `neutral.obj`, or
 * `generic_neutral_mesh.obj` as in ICT-FaceKit, unless named explicitly.
 *
 * OBJ support: `v x y z [r g b]` (vertex colours as written by MeshLab/ZBrush, 0..1), `f` with any number of
 * corners (fan-triangulated) in the `v`, `v/vt`, `v//vn`, `v/vt/vn` forms, negative (relative) indices; other
 * statements are ignored. Only the neutral mesh's faces are used.
 */
import { DataError } from "./errors.ts";
import { type Rig, validateRig } from "./rig.ts";

/** A parsed OBJ mesh. */
export interface ObjMesh {
  positions: Float32Array;
  /** Vertex colours when every vertex has one, else null. */
  colors: Float32Array | null;
  indices: Uint32Array;
}

/** Parses OBJ text; `file` names it in errors (bad numbers, out-of-range face indices). */
export function parseObj(text: string, file: string): ObjMesh {
  const pos: number[] = [], col: number[] = [], idx: number[] = [];
  let colored = 0;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const parts = lines[ln].trim().split(/\s+/);
    if (parts[0] === "v") {
      const nums = parts.slice(1).map(Number);
      if (nums.length < 3 || nums.some((n) => !Number.isFinite(n))) {
        throw new DataError(
          file,
          `line ${ln + 1}: vertex '${lines[ln].trim()}' is not 3 (or 6) finite numbers`,
        );
      }
      pos.push(nums[0], nums[1], nums[2]);
      if (nums.length >= 6) {
        col.push(nums[3], nums[4], nums[5]);
        colored++;
      } else col.push(0.6, 0.6, 0.6);
    } else if (parts[0] === "f") {
      const corners = parts.slice(1).map((p) => {
        const i = parseInt(p.split("/")[0], 10);
        const n = pos.length / 3;
        const v = i < 0 ? n + i : i - 1;
        if (!Number.isInteger(i) || i === 0 || v < 0) {
          throw new DataError(file, `line ${ln + 1}: face index '${p}' is out of range`);
        }
        return v;
      });
      if (corners.length < 3) throw new DataError(file, `line ${ln + 1}: face with fewer than 3 corners`);
      for (let k = 1; k + 1 < corners.length; k++) idx.push(corners[0], corners[k], corners[k + 1]);
    }
  }
  const V = pos.length / 3;
  for (let i = 0; i < idx.length; i++) {
    if (idx[i] >= V) {
      throw new DataError(file, `face uses vertex ${idx[i] + 1}, out of range for ${V} vertices`);
    }
  }
  return {
    positions: Float32Array.from(pos),
    colors: colored === V && V > 0 ? Float32Array.from(col) : null,
    indices: Uint32Array.from(idx),
  };
}

/**
 * Builds a rig from a neutral mesh and named expression meshes (full shapes, same vertex count and order).
 * `files` maps each name to its file for error messages.
 */
export function rigFromObjMeshes(
  neutral: ObjMesh,
  neutralFile: string,
  shapes: { name: string; mesh: ObjMesh; file: string }[],
): Rig {
  const V = neutral.positions.length / 3;
  const deltas = shapes.map(({ mesh, file }) => {
    const n = mesh.positions.length / 3;
    if (n !== V) {
      throw new DataError(
        file,
        `has ${n} vertices but the neutral mesh ${neutralFile} has ${V} (blendshape vertex count mismatch)`,
      );
    }
    const d = new Float32Array(V * 3);
    for (let i = 0; i < d.length; i++) d[i] = mesh.positions[i] - neutral.positions[i];
    return d;
  });
  const rig: Rig = {
    positions: neutral.positions,
    indices: neutral.indices,
    colors: neutral.colors ?? new Float32Array(V * 3).fill(0.6),
    blendshapeNames: shapes.map((s) => s.name),
    deltas,
    mouthVertices: new Uint32Array(),
  };
  validateRig(rig, neutralFile);
  return rig;
}

const NEUTRAL_NAMES = ["neutral.obj", "generic_neutral_mesh.obj"];

/** Loads an ICT-FaceKit-style folder of OBJ files (see the module comment). */
export async function loadObjRigFolder(dir: string, neutralName?: string): Promise<Rig> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isFile && /\.obj$/i.test(e.name))
      .map((e) => e.name).sort();
  } catch (e) {
    throw new DataError(dir, `cannot read the rig folder (${(e as Error).message})`);
  }
  const neutral = neutralName ?? NEUTRAL_NAMES.find((n) => names.includes(n));
  if (!neutral || !names.includes(neutral)) {
    throw new DataError(
      dir,
      `no neutral mesh (${neutralName ?? NEUTRAL_NAMES.join(" or ")}) among ${names.length} OBJ files`,
      "Name the neutral mesh neutral.obj",
    );
  }
  const read = async (name: string) => {
    const file = `${dir}/${name}`;
    try {
      return { file, mesh: parseObj(await Deno.readTextFile(file), file) };
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(file, `cannot read (${(e as Error).message})`);
    }
  };
  const n = await read(neutral);
  const shapes = [];
  for (const name of names) {
    if (name === neutral) continue;
    const s = await read(name);
    shapes.push({ name: name.replace(/\.obj$/i, ""), mesh: s.mesh, file: s.file });
  }
  if (shapes.length === 0) throw new DataError(dir, "contains a neutral mesh but no expression meshes");
  return rigFromObjMeshes(n.mesh, n.file, shapes);
}

/** Writes a mesh as OBJ text with vertex colours (used to make fixtures and to export a posed rig). */
export function formatObj(positions: Float32Array, indices: Uint32Array, colors?: Float32Array): string {
  const lines: string[] = [];
  for (let i = 0; i < positions.length; i += 3) {
    const c = colors ? ` ${colors[i]} ${colors[i + 1]} ${colors[i + 2]}` : "";
    lines.push(`v ${positions[i]} ${positions[i + 1]} ${positions[i + 2]}${c}`);
  }
  for (let t = 0; t < indices.length; t += 3) {
    lines.push(`f ${indices[t] + 1} ${indices[t + 1] + 1} ${indices[t + 2] + 1}`);
  }
  return lines.join("\n") + "\n";
}
