import assert from "node:assert/strict";
import { validateRig } from "../data/rig.ts";
import { buildSyntheticHead, SYNTHETIC_BLENDSHAPES } from "../data/synthetic_head.ts";
import { EYE_X, EYE_Y, MOUTH_Y } from "../data/synthetic_head_skin.ts";

const rig = buildSyntheticHead({ rows: 60, cols: 64 });
const V = rig.positions.length / 3;
const delta = (name: string) => rig.deltas[rig.blendshapeNames.indexOf(name)];
const norm = (d: Float32Array, v: number) => Math.hypot(d[v * 3], d[v * 3 + 1], d[v * 3 + 2]);

Deno.test("synthetic head: valid rig with the ARKit blendshapes, mouth region and a plausible size", () => {
  validateRig(rig, "synthetic head");
  assert.ok(rig.blendshapeNames.length >= 12);
  for (const n of ["jawOpen", "mouthSmile_L", "mouthSmile_R", "mouthFrown_L", "mouthPucker", "browInnerUp"]) {
    assert.ok(rig.blendshapeNames.includes(n), n);
  }
  assert.deepEqual(rig.blendshapeNames, [...SYNTHETIC_BLENDSHAPES]);
  let minY = Infinity, maxY = -Infinity, maxX = 0;
  for (let v = 0; v < V; v++) {
    minY = Math.min(minY, rig.positions[v * 3 + 1]);
    maxY = Math.max(maxY, rig.positions[v * 3 + 1]);
    maxX = Math.max(maxX, Math.abs(rig.positions[v * 3]));
  }
  assert.ok(maxY > 0.12 && maxY < 0.16 && minY < -0.2 && maxX > 0.07 && maxX < 0.11, "head-sized in metres");
  assert.ok(rig.mouthVertices.length > 100);
  for (const m of rig.mouthVertices) {
    const y = rig.positions[m * 3 + 1];
    assert.ok(Math.abs(y - MOUTH_Y) < 0.04, `mouth vertex ${m} at y ${y}`);
  }
});

Deno.test("synthetic head: left/right blendshapes mirror each other and stay on their side", () => {
  const key = (x: number, y: number, z: number) =>
    `${Math.round(x * 1e5)},${Math.round(y * 1e5)},${Math.round(z * 1e5)}`;
  const index = new Map<string, number>();
  const dup = new Set<string>();
  for (let v = 0; v < V; v++) {
    const k = key(rig.positions[v * 3], rig.positions[v * 3 + 1], rig.positions[v * 3 + 2]);
    if (index.has(k)) dup.add(k);
    index.set(k, v);
  }
  for (
    const base of ["mouthSmile", "mouthFrown", "browOuterUp", "browDown", "eyeBlink", "eyeWide", "noseSneer"]
  ) {
    const L = delta(`${base}_L`), R = delta(`${base}_R`);
    let checked = 0, peak = 0, otherSide = 0;
    for (let v = 0; v < V; v++) {
      const p = rig.positions.subarray(v * 3, v * 3 + 3);
      const k = key(p[0], p[1], p[2]), km = key(-p[0], p[1], p[2]);
      peak = Math.max(peak, norm(L, v));
      if (p[0] < -0.01) otherSide = Math.max(otherSide, norm(L, v));
      const m = index.get(km);
      if (m === undefined || dup.has(k) || dup.has(km)) continue;
      checked++;
      assert.ok(Math.abs(L[v * 3] + R[m * 3]) < 1e-5, `${base}: x deltas mirror at vertex ${v}`);
      assert.ok(Math.abs(L[v * 3 + 1] - R[m * 3 + 1]) < 1e-5, `${base}: y deltas mirror at vertex ${v}`);
      assert.ok(Math.abs(L[v * 3 + 2] - R[m * 3 + 2]) < 1e-5, `${base}: z deltas mirror at vertex ${v}`);
    }
    assert.ok(peak > 0.003, `${base}_L moves by ${peak} m`);
    assert.ok(otherSide < 0.05 * peak, `${base}_L moves the right side by ${otherSide} m (peak ${peak})`);
    assert.ok(checked > V / 2, `${base}: only ${checked} mirrored vertex pairs`);
  }
});

Deno.test("synthetic head: jawOpen separates the lips and moves the chin down; blink moves only the lids", () => {
  const jaw = delta("jawOpen");
  let chin = 0, crown = 0;
  for (let v = 0; v < V; v++) {
    const y = rig.positions[v * 3 + 1], z = rig.positions[v * 3 + 2];
    if (y < MOUTH_Y - 0.03 && z > 0.06) chin = Math.min(chin, jaw[v * 3 + 1]);
    if (y > 0.05) crown = Math.max(crown, norm(jaw, v));
  }
  assert.ok(chin < -0.01, `chin moves down by ${-chin} m`);
  assert.equal(crown, 0, "upper head does not move with the jaw");
  // Vertices that coincide in the neutral mesh but separate when the jaw opens: the lip slit.
  const seen = new Map<string, number>();
  let gap = 0;
  for (let v = 0; v < V; v++) {
    const k = Array.from(rig.positions.subarray(v * 3, v * 3 + 3)).join(",");
    const u = seen.get(k);
    if (u !== undefined) gap = Math.max(gap, Math.abs(jaw[v * 3 + 1] - jaw[u * 3 + 1]));
    seen.set(k, v);
  }
  assert.ok(gap > 0.008, `lips part by ${gap} m`);
  const blink = delta("eyeBlink_L");
  for (let v = 0; v < V; v++) {
    if (norm(blink, v) === 0) continue;
    const x = rig.positions[v * 3], y = rig.positions[v * 3 + 1];
    assert.ok(Math.hypot(x - EYE_X, y - EYE_Y) < 0.02, `blink moves vertex ${v} far from the eye`);
  }
});
