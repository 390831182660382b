import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { basisResidual, basisResidualCpu } from "../training/basis_residual.ts";
import {
  basisShapeWeights,
  basisTargets,
  motionFocusCdf,
  samplePairs,
  shapeBalancedWeights,
  stillNeighbourWeights,
} from "../training/prior_pairs.ts";
import { posedPoints, sampleSurface, triangleAreaCdf } from "../training/rig_sampling.ts";
import { tinyRig } from "./deform_fixture.ts";
import { assertClose, testGpu } from "./helpers.ts";

Deno.test("basis residual: kernel matches the CPU reference and the gradient finite differences", async () => {
  const gpu = await testGpu();
  const rng = new Rng(31);
  const N = 300, D = 5, s = 0.7, gs = 2 * 3 / N;
  const raw = rng.floats(N * 3 * D), target = rng.floats(N * 3 * D), w = rng.floats(D, 0, 2);
  const prior = rng.floats(N * 3 * D);
  const t = {
    raw: Tensor.from(gpu, raw),
    target: Tensor.from(gpu, target),
    w: Tensor.from(gpu, w),
    dRaw: Tensor.from(gpu, prior),
    sq: Tensor.empty(gpu, [N]),
  };
  basisResidual(gpu, { d: D, raw: t.raw, s, target: t.target, weights: t.w, gs, dRaw: t.dRaw, sq: t.sq });
  const cpu = basisResidualCpu(D, raw, s, target, w, gs);
  // dRaw is added to: the prior contents stay.
  assertClose(await t.dRaw.read(), cpu.dRaw.map((v, i) => v + prior[i]), {
    atol: 1e-5,
    rtol: 1e-5,
    what: "dRaw",
  });
  assertClose(await t.sq.read(), cpu.sq, { atol: 1e-5, rtol: 1e-5, what: "sq" });
  // The gradient is d/d(raw) of (gs / 2) * sum_i sq[i]: central differences of the CPU loss.
  const loss = (r: Float32Array) =>
    basisResidualCpu(D, r, s, target, w, gs).sq.reduce((a, v) => a + v, 0) * gs / 2;
  for (const e of [0, 7, 3 * D + 2, N * 3 * D - 1]) {
    const h = 1e-3, p = raw.slice(), m = raw.slice();
    p[e] += h;
    m[e] -= h;
    const fd = (loss(p) - loss(m)) / (2 * h);
    assert.ok(
      Math.abs(fd - cpu.dRaw[e]) < 1e-4 * Math.max(1, Math.abs(fd)),
      `element ${e}: ${fd} vs ${cpu.dRaw[e]}`,
    );
  }
  assert.throws(
    () =>
      basisResidual(gpu, {
        d: D + 1,
        raw: t.raw,
        s,
        target: t.target,
        weights: t.w,
        gs,
        dRaw: t.dRaw,
        sq: t.sq,
      }),
    /must have/,
  );
  for (const v of Object.values(t)) v.destroy();
});

Deno.test("basis targets: combining them with a code gives the rig's displacement", () => {
  const rig = tinyRig();
  const D = rig.deltas.length, rng = new Rng(32);
  const s = sampleSurface(rig, 50, rng, 0.01);
  const basis = basisTargets(rig, s);
  const z = rng.floats(D, 0, 1), z0 = new Float32Array(D);
  z0[0] = 0.5;
  const canonical = posedPoints(rig, s, z0), posed = posedPoints(rig, s, z);
  for (let i = 0; i < s.count; i++) {
    for (let c = 0; c < 3; c++) {
      let off = 0;
      for (let k = 0; k < D; k++) off += basis[i * 3 * D + c * D + k] * (z[k] - z0[k]);
      assert.ok(Math.abs(off - (posed[3 * i + c] - canonical[3 * i + c])) < 1e-5, `point ${i} axis ${c}`);
    }
  }
  // samplePairs returns the same layout for its own points.
  const pairs = samplePairs(rig, 32, new Rng(33), { basis: true, canonicalCode: z0 });
  assert.equal(pairs.basis?.length, 32 * 3 * D);
  assert.equal(samplePairs(rig, 32, new Rng(33)).basis, undefined);
});

Deno.test("basis shape weights: (largest motion / shape's motion)^power, 0 for a shape that moves nothing", () => {
  const rig = tinyRig();
  const w1 = basisShapeWeights(rig, 1), w0 = basisShapeWeights(rig, 0);
  assert.equal(Math.min(...w1.filter((v) => v > 0)), 1);
  assert.ok(w1.every((v) => v >= 0) && w0.every((v) => v === 0 || v === 1));
});

/** Whether a vertex of triangle f moves by more than 1 mm in any of `deltas`. */
function triangleMoves(I: Uint32Array, f: number, deltas: Float32Array[]): boolean {
  return [0, 1, 2].some((j) =>
    deltas.some((d) =>
      Math.hypot(d[3 * I[3 * f + j]], d[3 * I[3 * f + j] + 1], d[3 * I[3 * f + j] + 2]) > 1e-3
    )
  );
}

Deno.test("motion focus: power 0 draws every triangle that moves by more than 1 mm by its area alone", () => {
  const rig = tinyRig();
  const area = triangleAreaCdf(rig), cdf = motionFocusCdf(rig, 1, 0);
  const I = rig.indices, F = area.length;
  let movingArea = 0;
  const moves = (f: number) => triangleMoves(I, f, rig.deltas);
  for (let f = 0; f < F; f++) if (moves(f)) movingArea += area[f] - (f ? area[f - 1] : 0);
  let checked = 0;
  for (let f = 0; f < F; f++) {
    const w = cdf[f] - (f ? cdf[f - 1] : 0), a = area[f] - (f ? area[f - 1] : 0);
    const want = moves(f) ? a / movingArea : 0;
    assert.ok(Math.abs(w - want) < 1e-9, `triangle ${f}: ${w} vs ${want}`);
    if (want === 0) checked++;
  }
  assert.ok(checked > 0 && checked < F, "the fixture has static and moving triangles");
  // power 1 keeps area times motion: a triangle's weight grows with its motion.
  assert.notDeepEqual(motionFocusCdf(rig, 1, 1), cdf);
});

Deno.test("shape-balanced focus: every moving blendshape gets the same share of the samples", () => {
  const rig = tinyRig();
  const w = shapeBalancedWeights(rig), area = triangleAreaCdf(rig), I = rig.indices, F = area.length;
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-9, "weights sum to 1");
  const moving = rig.deltas.filter((d) => d.some((v) => Math.abs(v) > 1e-3));
  for (const d of moving) {
    let share = 0;
    for (let f = 0; f < F; f++) if (triangleMoves(I, f, [d])) share += w[f];
    // At least its own 1/K (more where another shape's region overlaps).
    assert.ok(share >= 1 / moving.length - 1e-9, `share ${share} < 1/${moving.length}`);
  }
  // Mixed into the focus: balance 1 with focus 1 is exactly these weights.
  const cdf = motionFocusCdf(rig, 1, 0, 1);
  for (let f = 0; f < F; f++) assert.ok(Math.abs(cdf[f] - (f ? cdf[f - 1] : 0) - w[f]) < 1e-9);
});

Deno.test("still-surface focus: area over the still triangles within 1 cm of motion, mixed in by its share", () => {
  const rig = tinyRig(30, 60);
  const w = stillNeighbourWeights(rig), area = triangleAreaCdf(rig), I = rig.indices, F = area.length;
  const P = rig.positions, V = P.length / 3;
  const moves = (v: number) =>
    rig.deltas.some((d) => Math.hypot(d[3 * v], d[3 * v + 1], d[3 * v + 2]) > 1e-3);
  const movers = Array.from({ length: V }, (_, v) => v).filter(moves);
  let total = 0, picked = 0;
  const want = new Float64Array(F);
  for (let f = 0; f < F; f++) {
    const vs = [0, 1, 2].map((j) => I[3 * f + j]);
    if (vs.some(moves)) continue;
    const q = [0, 1, 2].map((c) => vs.reduce((s, v) => s + P[3 * v + c], 0) / 3);
    const d = Math.min(
      ...movers.map((m) => Math.hypot(P[3 * m] - q[0], P[3 * m + 1] - q[1], P[3 * m + 2] - q[2])),
    );
    if (d <= 0.01) want[f] = area[f] - (f ? area[f - 1] : 0);
    total += want[f];
  }
  for (let f = 0; f < F; f++) {
    assert.ok(Math.abs(w[f] - want[f] / total) < 1e-9, `triangle ${f}: ${w[f]} vs ${want[f] / total}`);
    if (w[f] > 0) picked++;
  }
  assert.ok(picked > 0 && picked < F / 2, `${picked} of ${F} triangles`);
  // A share of 0.25 of the focus CDF: a quarter of the samples there, the rest as without it.
  const base = motionFocusCdf(rig, 0.8, 0, 0.5), mixed = motionFocusCdf(rig, 0.8, 0, 0.5, 0.25);
  for (let f = 0; f < F; f++) {
    const p = (base[f] - (f ? base[f - 1] : 0)) / base[F - 1];
    assert.ok(Math.abs(mixed[f] - (f ? mixed[f - 1] : 0) - (0.75 * p + 0.25 * w[f])) < 1e-9);
  }
});
