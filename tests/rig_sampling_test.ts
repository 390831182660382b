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
  triangleMixCdf,
} from "../training/rig_sampling.ts";
import { samplePairs, shapeFocusOf } from "../training/prior_pairs.ts";
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

Deno.test("rig sampling: a triangle share mixes equal parts per triangle with area weighting", () => {
  // Areas 0.5 and 1.5: by area the second triangle gets 3/4, per triangle 1/2, half and half 5/8.
  assertClose(triangleMixCdf(mesh, 0), [0.25, 1], { atol: 1e-12 });
  assertClose(triangleMixCdf(mesh, 1), [0.5, 1], { atol: 1e-12 });
  assertClose(triangleMixCdf(mesh, 0.5), [0.375, 1], { atol: 1e-12 });
  const s = sampleSurface(mesh, 4000, new Rng(7), 0, triangleMixCdf(mesh, 0.5));
  const onSecond = s.triangles.reduce((a, t) => a + t, 0) / s.count;
  assert.ok(Math.abs(onSecond - 0.625) < 0.03, `fraction on the larger triangle ${onSecond}`);
  assert.throws(() => triangleMixCdf(mesh, 1.5), /share 1.5/);
});

Deno.test("pair sampling: shape focus puts each code's points where its active shapes move", () => {
  // A large static triangle (area 50), a small one moved 10 by shape 0 and a small one moved 0.001 by shape 1.
  const P = [0, 0, 0, 10, 0, 0, 0, 10, 0, 20, 0, 0, 21, 0, 0, 20, 1, 0, 30, 0, 0, 31, 0, 0, 30, 1, 0];
  const d0 = new Float32Array(27), d1 = new Float32Array(27);
  for (const v of [3, 4, 5]) d0[3 * v + 2] = 10;
  for (const v of [6, 7, 8]) d1[3 * v + 2] = 0.001;
  const rig: RigMesh = {
    positions: new Float32Array(P),
    indices: new Uint32Array([0, 1, 2, 3, 4, 5, 6, 7, 8]),
    colors: new Float32Array(27),
    deltas: [d0, d1],
  };
  const onShape1 = new Float32Array([0, 1]);
  const share = (focus?: number) => {
    const o = {
      fixedCodes: onShape1,
      shell: 0,
      shapeFocus: focus === undefined ? undefined : shapeFocusOf(rig, focus),
    };
    const pairs = samplePairs(rig, 4096, new Rng(9), o);
    let n = 0;
    for (let i = 0; i < pairs.count; i++) {
      const dz = pairs.posed[3 * i + 2] - pairs.canonical[3 * i + 2];
      if (pairs.posed[3 * i] >= 30) {
        n++;
        assertClose([dz], [0.001], { atol: 1e-6 }); // posed by the group's code
      } else assert.equal(dz, 0);
    }
    return n / pairs.count;
  };
  // By area the moving triangle gets 0.5 / 51 of the points; focused, it gets the focused fraction on top.
  assert.ok(share() < 0.02, `unfocused: ${share()}`);
  assert.equal(share(1), 1);
  const half = share(0.5);
  assert.ok(half > 0.47 && half < 0.53, `half focused: ${half}`);
  assert.equal(shapeFocusOf(rig).cdfs.length, 2);
});
