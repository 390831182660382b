import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { readRigGlb, writeRigGlb } from "../data/gltf_rig.ts";
import { DataError } from "../data/errors.ts";
import { posedPositions, type Rig } from "../data/rig.ts";
import { assertClose } from "./helpers.ts";

/** A small random rig: a V-vertex mesh with random triangles and K blendshapes. */
export function randomRig(seed: number, V = 50, F = 80, K = 4): Rig {
  const rng = new Rng(seed);
  return {
    positions: rng.floats(V * 3, -0.1, 0.1),
    indices: rng.uints(F * 3, V),
    colors: rng.floats(V * 3, 0, 1),
    blendshapeNames: Array.from({ length: K }, (_, k) => `shape_${k}`),
    deltas: Array.from({ length: K }, () => rng.floats(V * 3, -0.01, 0.01)),
    mouthVertices: Uint32Array.from([1, 5, 7]),
  };
}

/** Triangles rotated to start at their smallest index (meshopt's index codec may rotate them; winding kept). */
function canonicalTriangles(idx: Uint32Array): string[] {
  const out: string[] = [];
  for (let t = 0; t < idx.length; t += 3) {
    const tri = [idx[t], idx[t + 1], idx[t + 2]];
    const m = tri.indexOf(Math.min(...tri));
    out.push([tri[m], tri[(m + 1) % 3], tri[(m + 2) % 3]].join(","));
  }
  return out;
}

function assertSameRig(a: Rig, b: Rig): void {
  assertClose(a.positions, b.positions, { atol: 0, rtol: 0, what: "positions" });
  assert.deepEqual(canonicalTriangles(a.indices), canonicalTriangles(b.indices));
  assertClose(a.colors, b.colors, { atol: 1e-5, rtol: 0, what: "colors" });
  assert.deepEqual(a.blendshapeNames, b.blendshapeNames);
  assert.equal(a.deltas.length, b.deltas.length);
  a.deltas.forEach((d, k) => assertClose(d, b.deltas[k], { atol: 0, rtol: 0, what: `delta ${k}` }));
  assert.deepEqual(Array.from(a.mouthVertices), Array.from(b.mouthVertices));
}

Deno.test("gltf rig: GLB write/read round trip keeps every array", async () => {
  const rig = randomRig(1);
  const back = await readRigGlb(await writeRigGlb(rig), "mem.glb");
  assertSameRig(back, rig);
  const w = [0.5, -1, 0, 2];
  assertClose(posedPositions(back, w), posedPositions(rig, w), { atol: 1e-7, what: "posed" });
});

Deno.test("gltf rig: localized blendshapes are stored as sparse accessors and read back exactly", async () => {
  const rig = randomRig(7, 200, 300, 2);
  for (const d of rig.deltas) d.fill(0, 15); // only the first 5 vertices move
  const glb = await writeRigGlb(rig);
  assert.ok(new TextDecoder().decode(glb.subarray(0, 4000)).includes('"sparse"'), "deltas written sparse");
  assertSameRig(await readRigGlb(glb, "sparse.glb"), rig);
});

Deno.test("gltf rig: meshopt-compressed GLB round trip", async () => {
  const rig = randomRig(2, 300, 500, 3);
  const plain = await writeRigGlb(rig);
  const packed = await writeRigGlb(rig, { compress: true });
  const text = new TextDecoder().decode(packed.subarray(0, 2000));
  assert.ok(text.includes("EXT_meshopt_compression"), "compressed file declares EXT_meshopt_compression");
  assert.ok(packed.length < plain.length, `compressed ${packed.length} B < plain ${plain.length} B`);
  assertSameRig(await readRigGlb(packed, "packed.glb"), rig);
});

Deno.test("gltf rig: truncated GLB gives one DataError naming the file", async () => {
  const bytes = await writeRigGlb(randomRig(3));
  for (const cut of [10, bytes.length >> 1, bytes.length - 7]) {
    await assert.rejects(() => readRigGlb(bytes.subarray(0, cut), "cut.glb"), (e: unknown) => {
      assert.ok(e instanceof DataError, `cut ${cut}: ${e}`);
      assert.match(e.message, /^cut\.glb: /);
      return true;
    });
  }
});

Deno.test("gltf rig: out-of-range indices and blendshape vertex count mismatch are rejected", async () => {
  const bad = randomRig(4);
  bad.indices[7] = 50;
  await assert.rejects(
    () => writeRigGlb(bad, { name: "bad.glb" }),
    /bad\.glb: .*vertex index 50, out of range/,
  );
  // Build the broken file by hand-editing a valid one: point an index past the end through the binary chunk.
  const good = randomRig(5, 20, 10, 2);
  const glb = await writeRigGlb(good);
  const patched = patchFirstIndex(glb, 999);
  await assert.rejects(() => readRigGlb(patched, "idx.glb"), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /^idx\.glb: .*index 999 is out of range for 20 vertices/);
    return true;
  });
  // A morph target accessor one vertex short of its mesh (count 20 -> 19 in the JSON chunk, same length).
  const short = patchJson(glb, (json) => {
    const target = json.meshes[0].primitives[0].targets[1].POSITION;
    json.accessors[target].count = 19;
  });
  await assert.rejects(() => readRigGlb(short, "short.glb"), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(
      e.message,
      /^short\.glb: morph target 'shape_1' has 19 vertices but its mesh has 20 \(vertex count mismatch\)/,
    );
    return true;
  });
  const mismatch = randomRig(6, 20, 10, 2);
  mismatch.deltas[1] = mismatch.deltas[1].subarray(0, 30);
  await assert.rejects(
    () => writeRigGlb(mismatch, { name: "mm.glb" }),
    /mm\.glb: .*shape_1.*10 vertices.*20.*mismatch/,
  );
});

/** Rewrites the first triangle index in a GLB written by writeRigGlb (indices accessor read from the JSON). */
function patchFirstIndex(glb: Uint8Array, value: number): Uint8Array {
  const out = glb.slice();
  const dv = new DataView(out.buffer);
  const jsonLen = dv.getUint32(12, true);
  const json = JSON.parse(new TextDecoder().decode(out.subarray(20, 20 + jsonLen)));
  const acc = json.accessors[json.meshes[0].primitives[0].indices];
  const view = json.bufferViews[acc.bufferView];
  const binStart = 20 + jsonLen + 8;
  const at = binStart + (view.byteOffset ?? 0) + (acc.byteOffset ?? 0);
  if (acc.componentType === 5125) dv.setUint32(at, value, true);
  else dv.setUint16(at, value, true);
  return out;
}

interface GltfJson {
  meshes: { primitives: { targets: { POSITION: number }[] }[] }[];
  accessors: { count: number }[];
}

/** Edits the JSON chunk of a GLB; the edit must keep the JSON text the same length. */
function patchJson(glb: Uint8Array, edit: (json: GltfJson) => void): Uint8Array {
  const out = glb.slice();
  const jsonLen = new DataView(out.buffer).getUint32(12, true);
  const text = new TextDecoder().decode(out.subarray(20, 20 + jsonLen));
  const json = JSON.parse(text);
  edit(json);
  const patched = new TextEncoder().encode(JSON.stringify(json).padEnd(jsonLen, " "));
  assert.equal(patched.length, jsonLen, "patched JSON keeps its length");
  out.set(patched, 20);
  return out;
}

Deno.test("gltf rig: node transforms, textured materials and unnamed targets of foreign GLBs", async () => {
  const { Document, NodeIO } = await import("@gltf-transform/core");
  const { encodePng } = await import("../data/image_io.ts");
  const doc = new Document();
  const buf = doc.createBuffer();
  const acc = (type: "VEC2" | "VEC3" | "SCALAR", a: Float32Array | Uint32Array) =>
    doc.createAccessor().setType(type).setArray(a.slice()).setBuffer(buf);
  // 2x2 texture: red, green / blue, white.
  const png = encodePng(Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]), 2, 2, 3);
  const tex = doc.createTexture("albedo").setImage(png).setMimeType("image/png");
  const mat = doc.createMaterial().setBaseColorTexture(tex).setBaseColorFactor([1, 1, 1, 1]);
  const prim = doc.createPrimitive()
    .setAttribute("POSITION", acc("VEC3", Float32Array.from([0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0])))
    .setAttribute(
      "TEXCOORD_0",
      acc("VEC2", Float32Array.from([0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75])),
    )
    .setIndices(acc("SCALAR", Uint32Array.from([0, 1, 2, 1, 3, 2])))
    .setMaterial(mat)
    .addTarget(
      doc.createPrimitiveTarget().setAttribute("POSITION", acc("VEC3", new Float32Array(12).fill(0.5))),
    );
  const mesh = doc.createMesh().addPrimitive(prim);
  const node = doc.createNode().setMesh(mesh).setTranslation([1, 2, 3]).setScale([2, 2, 2]);
  doc.createScene().addChild(doc.createNode().addChild(node));
  const glb = await new NodeIO().writeBinary(doc);
  const rig = await readRigGlb(glb, "foreign.glb");
  assert.equal(rig.blendshapeNames.length, 1, "an unnamed target still gets a (non-empty) name");
  assertClose(rig.positions, [1, 2, 3, 3, 2, 3, 1, 4, 3, 3, 4, 3], { atol: 1e-6, what: "world positions" });
  assertClose(rig.deltas[0], new Float32Array(12).fill(1), {
    atol: 1e-6,
    what: "deltas scaled, not translated",
  });
  assertClose(rig.colors, [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1], { atol: 1e-5, what: "texture colours" });
});
