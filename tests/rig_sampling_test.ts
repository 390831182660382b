import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import {
  canonicalPoints,
  meshBounds,
  posedPoints,
  type RigMesh,
  sampleColors,
  sampleSurface,
  triangleAreaCdf,
} from "../training/rig_sampling.ts";
import { assertClose } from "./helpers.ts";

// Two triangles: a unit right triangle in z = 0 (area 0.5) and one three times larger in z = 1 (area 1.5).
const mesh: RigMesh = {
  positions: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 3, 0, 1, 0, 1, 1]),
  indices: new Uint32Array([0, 1, 2, 3, 4, 5]),
  colors: new Float32Array([1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1]),
  // One blendshape moving only the second triangle's vertices up by 1 in y.
  deltas: [new Float32Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0])],
};

Deno.test("rig sampling: area-weighted, deterministic, posed by blendshapes, offset along normals", () => {
  assertClose(triangleAreaCdf(mesh), [0.5, 2], { atol: 1e-12 });
  const s = sampleSurface(mesh, 4000, new Rng(5));
  const again = sampleSurface(mesh, 4000, new Rng(5));
  assert.deepEqual(s.barycentrics, again.barycentrics);
  const onSecond = s.triangles.reduce((a, t) => a + t, 0) / s.count;
  assert.ok(Math.abs(onSecond - 0.75) < 0.03, `fraction on the larger triangle ${onSecond}`);
  for (let i = 0; i < s.count; i++) {
    const b = s.barycentrics.subarray(3 * i, 3 * i + 3);
    assert.ok(b[0] >= 0 && b[1] >= 0 && b[2] >= 0 && Math.abs(b[0] + b[1] + b[2] - 1) < 1e-6);
  }
  const can = canonicalPoints(mesh, s);
  const posed = posedPoints(mesh, s, [0.5]);
  const colors = sampleColors(mesh, s);
  for (let i = 0; i < s.count; i++) {
    const second = s.triangles[i] === 1;
    assertClose([can[3 * i + 2]], [second ? 1 : 0], { atol: 1e-6 });
    assertClose([posed[3 * i + 1] - can[3 * i + 1]], [second ? 0.5 : 0], { atol: 1e-6 });
    assertClose(colors.subarray(3 * i, 3 * i + 3), second ? [0, 0, 1] : [1, 0, 0], { atol: 1e-6 });
  }
  const shell = sampleSurface(mesh, 1000, new Rng(6), 0.1);
  const pts = canonicalPoints(mesh, shell);
  for (let i = 0; i < shell.count; i++) {
    const base = shell.triangles[i] === 1 ? 1 : 0;
    assertClose([pts[3 * i + 2] - base], [shell.offsets[i]], { atol: 1e-6, what: "normal offset" });
  }
  const bb = meshBounds(mesh);
  assert.deepEqual(bb.max, [3, 1, 1]);
  assertClose([bb.diagonal], [Math.sqrt(11)], { atol: 1e-12 });
});
