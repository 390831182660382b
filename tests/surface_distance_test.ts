import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { rigError } from "../data/rig_error.ts";
import { posedPositions, type Rig } from "../data/rig.ts";
import { SurfaceDistance } from "../data/surface_distance.ts";

type V3 = [number, number, number];

const sub = (a: V3, b: V3): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a: V3, b: V3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: V3, b: V3): V3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

function segmentDistance(p: V3, a: V3, b: V3): number {
  const e = sub(b, a), l2 = dot(e, e);
  const s = l2 > 0 ? Math.min(1, Math.max(0, dot(sub(p, a), e) / l2)) : 0;
  return Math.hypot(...sub(p, [a[0] + s * e[0], a[1] + s * e[1], a[2] + s * e[2]]));
}

/**
 * Brute force, by another construction than the one under test: the projection onto the triangle's plane when
 * it falls inside (same-side tests on the three edges), else the nearest of the three edges.
 */
function bruteDistance(pos: Float32Array, idx: Uint32Array, p: V3): number {
  let best = Infinity;
  for (let t = 0; t < idx.length; t += 3) {
    const [a, b, c] = [0, 1, 2].map((k) => [0, 1, 2].map((j) => pos[idx[t + k] * 3 + j]) as V3);
    let d = Math.min(segmentDistance(p, a, b), segmentDistance(p, b, c), segmentDistance(p, c, a));
    const n = cross(sub(b, a), sub(c, a)), n2 = dot(n, n);
    if (n2 > 1e-20) {
      const h = dot(sub(p, a), n) / n2;
      const q: V3 = [p[0] - h * n[0], p[1] - h * n[1], p[2] - h * n[2]];
      const inside = [[a, b], [b, c], [c, a]].every(([u, v]) => dot(cross(sub(v, u), sub(q, u)), n) >= 0);
      if (inside) d = Math.min(d, Math.abs(h) * Math.sqrt(n2));
    }
    best = Math.min(best, d);
  }
  return best;
}

Deno.test("surface distance: grid search equals brute force on a seeded random mesh, inside and outside", () => {
  const rng = new Rng(13);
  const V = 40, F = 60;
  const pos = rng.floats(V * 3, -0.1, 0.1);
  const idx = Uint32Array.from({ length: F * 3 }, () => rng.int(V));
  // Degenerate triangles too: a repeated vertex and three collinear points.
  idx.set([3, 3, 7, 0, 1, 2], 0);
  for (let j = 0; j < 3; j++) pos[2 * 3 + j] = 0.5 * (pos[0 * 3 + j] + pos[1 * 3 + j]);
  const points: V3[] = [];
  for (let i = 0; i < 300; i++) {
    const r = i < 200 ? 0.12 : 0.6; // near the mesh, and far outside its grid
    points.push([rng.uniform(-r, r), rng.uniform(-r, r), rng.uniform(-r, r)]);
  }
  // Mesh vertices and edge midpoints lie on the surface.
  for (let v = 0; v < 5; v++) points.push([pos[v * 3], pos[v * 3 + 1], pos[v * 3 + 2]]);
  const [a, b] = [idx[9], idx[10]];
  points.push([0, 1, 2].map((j) => 0.5 * (pos[a * 3 + j] + pos[b * 3 + j])) as V3);
  // Default cell, a fine grid (many rings searched) and one cell holding everything.
  for (const cell of [undefined, 0.01, 1]) {
    const sd = new SurfaceDistance(pos, idx, cell);
    let worst = 0;
    for (const p of points) {
      const got = sd.distance(...p), want = bruteDistance(pos, idx, p);
      assert.ok(Number.isFinite(got), `finite distance at ${p}`);
      worst = Math.max(worst, Math.abs(got - want));
    }
    assert.ok(worst < 1e-9, `cell ${cell}: worst difference from brute force ${worst}`);
  }
  assert.ok(new SurfaceDistance(pos, idx).distance(pos[0], pos[1], pos[2]) < 1e-9);
});

/** A flat 10 x 10 cm grid in z = 0 with one blendshape that lifts it 4 mm. */
function liftRig(): Rig {
  const n = 11, positions = new Float32Array(n * n * 3), tris: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) positions.set([i * 0.01, j * 0.01, 0], (i * n + j) * 3);
  }
  for (let i = 0; i + 1 < n; i++) {
    for (let j = 0; j + 1 < n; j++) {
      const v = i * n + j;
      tris.push(v, v + n, v + 1, v + 1, v + n, v + n + 1);
    }
  }
  const lift = new Float32Array(n * n * 3);
  for (let v = 0; v < n * n; v++) lift[v * 3 + 2] = 0.004;
  return {
    positions,
    indices: Uint32Array.from(tris),
    colors: new Float32Array(n * n * 3),
    blendshapeNames: ["lift"],
    deltas: [lift],
    mouthVertices: Uint32Array.from([0, 1, 2]),
  };
}

Deno.test("rig error: surface distance of the rendered vertices to the rig's posed and neutral surfaces", () => {
  const rig = liftRig(), V = rig.positions.length / 3;
  const trueCodes = Float32Array.from([0, 0.5, 1]);
  const inputs = {
    truthNeutral: rig.positions,
    truthAt: (t: number) => posedPositions(rig, trueCodes.subarray(t, t + 1)),
    rig,
    vertexMap: Uint32Array.from({ length: V }, (_, i) => i),
    timesteps: [0, 3] as [number, number],
    surfacePoints: Uint32Array.from({ length: V }, (_, i) => i),
    surfaceMouth: Uint32Array.from([5, 6]),
  };
  // Without surface points there is no surface part.
  assert.equal(rigError({ ...inputs, codes: trueCodes, surfacePoints: undefined }).surface, undefined);
  // True codes: on the posed surface; the zero field is the lift itself (0, 2 and 4 mm).
  const exact = rigError({ ...inputs, codes: trueCodes }).surface!;
  assert.equal(exact.all.samples, 3 * V);
  assert.equal(exact.mouth.samples, 3 * 2);
  assert.equal(exact.moving.samples, 2 * V);
  assert.ok(exact.all.rig.mean_mm < 1e-6 && exact.all.rig.p95_mm < 1e-6);
  assert.ok(Math.abs(exact.all.zero_field.mean_mm - 2) < 1e-3, `${exact.all.zero_field.mean_mm}`);
  assert.ok(Math.abs(exact.moving.zero_field.mean_mm - 3) < 1e-3);
  // Codes off by 0.25 everywhere: 1 mm from the posed surface.
  const off = rigError({ ...inputs, codes: trueCodes.map((c) => c - 0.25) }).surface!;
  assert.ok(Math.abs(off.all.rig.mean_mm - 1) < 1e-3, `${off.all.rig.mean_mm}`);
  assert.ok(Math.abs(off.mouth.rig.p95_mm - 1) < 1e-3);
  // A surface distance never exceeds the vertex distance to the same (corresponding) vertex.
  const report = rigError({ ...inputs, codes: trueCodes.map((c) => c - 0.25) });
  assert.ok(report.surface!.all.rig.mean_mm <= report.all.rig.mean_mm + 1e-9);
});
