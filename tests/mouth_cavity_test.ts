import assert from "node:assert/strict";
import { addMouthCavity, boundaryLoops } from "../data/mouth_cavity.ts";
import { posedPositions, type Rig, validateRig } from "../data/rig.ts";

/**
 * A face-like test rig: an N x N grid in the plane z = 0.1 (facing +z) with the middle 2 x 4 quads removed (a
 * mouth slit), plus a triangle at z = -0.2 so the head's bounding-box centre lies behind the face. Blendshape 0
 * moves the whole mesh by (0, 0, 0.01); blendshape 1 drops the vertices below the slit's centre line.
 */
function slitRig(N = 10): Rig {
  const pos: number[] = [];
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) pos.push(x * 0.01, y * 0.01, 0.1);
  pos.push(0, 0, -0.2, 0.09, 0, -0.2, 0, 0.09, -0.2);
  const idx: number[] = [];
  const id = (x: number, y: number) => y * N + x;
  for (let y = 0; y < N - 1; y++) {
    for (let x = 0; x < N - 1; x++) {
      if (y >= 4 && y < 6 && x >= 3 && x < 7) continue;
      idx.push(id(x, y), id(x + 1, y), id(x + 1, y + 1), id(x, y), id(x + 1, y + 1), id(x, y + 1));
    }
  }
  const V = pos.length / 3;
  idx.push(V - 3, V - 1, V - 2);
  const up = new Float32Array(V * 3), jaw = new Float32Array(V * 3);
  for (let v = 0; v < V; v++) {
    up[3 * v + 2] = 0.01;
    if (v < N * N && pos[3 * v + 1] < 0.05) jaw[3 * v + 1] = -0.02;
  }
  const mouth: number[] = [];
  for (let y = 4; y <= 6; y++) for (let x = 3; x <= 7; x++) mouth.push(id(x, y));
  return {
    positions: Float32Array.from(pos),
    indices: Uint32Array.from(idx),
    colors: new Float32Array(V * 3).fill(0.8),
    blendshapeNames: ["up", "jawOpen"],
    deltas: [up, jaw],
    mouthVertices: Uint32Array.from(mouth),
  };
}

Deno.test("boundaryLoops finds the outer border, the slit and the back triangle's edge loop", () => {
  const loops = boundaryLoops(slitRig().indices).map((l) => l.length).sort((a, b) => a - b);
  assert.deepEqual(loops, [3, 12, 36]);
});

Deno.test("addMouthCavity closes the slit with a sack behind the face that moves with the lips", () => {
  const rig = slitRig(), V = rig.positions.length / 3;
  const { rig: out, added, loopVertices } = addMouthCavity(rig, { rings: 3 });
  assert.equal(loopVertices, 12);
  assert.equal(added, 3 * 12 + 1);
  validateRig(out, "cavity");
  assert.equal(out.positions.length / 3, V + added);
  assert.deepEqual(out.positions.subarray(0, 3 * V), rig.positions);
  assert.equal(out.mouthVertices.length, rig.mouthVertices.length + added);
  // The slit is closed: only the outer border and the back triangle stay open.
  assert.deepEqual(boundaryLoops(out.indices).map((l) => l.length).sort((a, b) => a - b), [3, 36]);
  // Every cavity vertex lies behind the face plane, the apex deepest (0.6 x the slit's width of ~0.045 m).
  let deepest = 0.1;
  for (let v = V; v < V + added; v++) {
    assert.ok(out.positions[3 * v + 2] < 0.1, `vertex ${v} is behind the face`);
    deepest = Math.min(deepest, out.positions[3 * v + 2]);
    assert.ok(out.colors[3 * v] < 0.4, "the cavity is dark");
  }
  assert.ok(Math.abs(deepest - (0.1 - 0.6 * Math.hypot(0.04, 0.02))) < 1e-6, `apex depth ${deepest}`);
  // A uniform translation moves the cavity rigidly with the face.
  const up = posedPositions(out, [1, 0]);
  for (let v = V; v < V + added; v++) {
    assert.ok(Math.abs(up[3 * v + 2] - out.positions[3 * v + 2] - 0.01) < 1e-6);
    assert.ok(Math.abs(up[3 * v] - out.positions[3 * v]) < 1e-7);
  }
  // Opening the jaw drops the lower ring vertices, and the apex by the mean of the loop's motion.
  const open = posedPositions(out, [0, 1]);
  const apex = V + added - 1;
  assert.ok(open[3 * apex + 1] < out.positions[3 * apex + 1] - 0.001, "the apex follows the opening jaw");
});

Deno.test("addMouthCavity leaves a rig without an open mouth loop, or without mouth vertices, unchanged", () => {
  const rig = slitRig();
  const closed = { ...rig, mouthVertices: Uint32Array.from([0, 1, 2]) };
  const a = addMouthCavity(closed);
  assert.equal(a.added, 0);
  assert.equal(a.rig, closed);
  assert.match(a.reason ?? "", /no open boundary loop/);
  // Geometry behind the slit (a rig with its own mouth interior): left alone.
  const V = rig.positions.length / 3, inner: number[] = [];
  for (let i = 0; i < 9; i++) inner.push(0.045 + 0.002 * (i % 3), 0.05 + 0.002 * Math.floor(i / 3), 0.085);
  const positions = new Float32Array([...rig.positions, ...inner]);
  const grow = (a: Float32Array) => new Float32Array([...a, ...new Array(27).fill(0)]);
  const withInterior = { ...rig, positions, colors: grow(rig.colors), deltas: rig.deltas.map(grow) };
  const b = addMouthCavity(withInterior);
  assert.equal(b.added, 0, `${V} + 9 vertices`);
  assert.match(b.reason ?? "", /already has geometry behind the mouth/);
  const none = addMouthCavity({ ...rig, mouthVertices: new Uint32Array() });
  assert.equal(none.added, 0);
  assert.match(none.reason ?? "", /no mouth vertices/);
});
