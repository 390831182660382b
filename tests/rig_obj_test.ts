import assert from "node:assert/strict";
import { DataError } from "../data/errors.ts";
import { formatObj, loadObjRigFolder, parseObj } from "../data/obj_rig.ts";
import { posedPositions } from "../data/rig.ts";
import { Rng } from "../gpu/rng.ts";
import { assertClose } from "./helpers.ts";

/** Writes an ICT-style fixture: neutral.obj plus one full mesh per expression; returns the shapes used. */
async function writeFixture(dir: string, V: number, names: string[]) {
  const rng = new Rng(11);
  const neutral = rng.floats(V * 3, -0.1, 0.1);
  const colors = rng.floats(V * 3, 0, 1);
  const indices = rng.uints(((V * 3) >> 1) * 3, V);
  await Deno.writeTextFile(`${dir}/neutral.obj`, formatObj(neutral, indices, colors));
  const deltas = names.map(() => rng.floats(V * 3, -0.01, 0.01));
  for (let k = 0; k < names.length; k++) {
    const shape = neutral.map((v, i) => v + deltas[k][i]);
    await Deno.writeTextFile(`${dir}/${names[k]}.obj`, formatObj(shape, indices));
  }
  return { neutral, colors, indices, deltas };
}

Deno.test("obj rig: ICT-style folder loads as neutral + named deltas", async () => {
  const dir = await Deno.makeTempDir({ prefix: "npga-obj-" });
  try {
    const names = ["browInnerUp", "eyeBlink_L", "jawOpen"];
    const fx = await writeFixture(dir, 40, names);
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a mesh");
    const rig = await loadObjRigFolder(dir);
    assert.deepEqual(rig.blendshapeNames, names);
    assertClose(rig.positions, fx.neutral, { atol: 1e-7, what: "neutral" });
    assertClose(rig.colors, fx.colors, { atol: 1e-7, what: "colors" });
    assert.deepEqual(Array.from(rig.indices), Array.from(fx.indices));
    names.forEach((_, k) => assertClose(rig.deltas[k], fx.deltas[k], { atol: 2e-7, what: `delta ${k}` }));
    const w = [0.3, 1, -0.5];
    const expected = fx.neutral.map((v, i) => v + w.reduce((s, wk, k) => s + wk * fx.deltas[k][i], 0));
    assertClose(posedPositions(rig, w), expected, { atol: 1e-6, what: "posed" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("obj rig: quads and polygons are fan-triangulated; v/vt/vn and negative indices work", () => {
  const text =
    "# quad\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvn 0 0 1\nf 1/1/1 2/1/1 3/1/1 4/1/1\nf -4//1 -3//1 -1//1\n";
  const m = parseObj(text, "quad.obj");
  assert.deepEqual(Array.from(m.indices), [0, 1, 2, 0, 2, 3, 0, 1, 3]);
  assert.equal(m.colors, null);
});

Deno.test("obj rig: bad input gives one DataError naming the file", async () => {
  assert.throws(() => parseObj("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", "bad_index.obj"), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /^bad_index\.obj: .*vertex 7, out of range for 3 vertices/);
    return true;
  });
  assert.throws(() => parseObj("v 0 zero 0\n", "nan.obj"), /^DataError: nan\.obj: line 1/);
  const dir = await Deno.makeTempDir({ prefix: "npga-obj-" });
  try {
    await writeFixture(dir, 30, ["jawOpen", "mouthSmile_L"]);
    // Drop the last vertex of one expression: a vertex count mismatch.
    const file = `${dir}/mouthSmile_L.obj`;
    const lines = (await Deno.readTextFile(file)).split("\n");
    const lastV = lines.findLastIndex((l) => l.startsWith("v "));
    lines.splice(lastV, 1);
    await Deno.writeTextFile(file, lines.filter((l) => !l.startsWith("f ")).join("\n"));
    await assert.rejects(() => loadObjRigFolder(dir), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.file, file);
      assert.match(
        e.message,
        /has 29 vertices but the neutral mesh .* has 30 \(blendshape vertex count mismatch\)/,
      );
      return true;
    });
    await Deno.remove(`${dir}/neutral.obj`);
    await assert.rejects(() => loadObjRigFolder(dir), /no neutral mesh/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
