/**
 * Density control: the GPU statistics fold against its CPU reference on seeded random inputs, clone / split /
 * prune on hand-built clouds keeping every per-Gaussian array (parameters, Adam moments, statistics) consistent,
 * the Gaussian cap with highest-gradient priority, the dynamic vs basic normalization, the `Densifier` on a live
 * avatar and optimizer, checkpoints carrying the statistics, and the config checks.
 */
import assert from "node:assert/strict";
import { Adam, type AdamGroupState } from "../gpu/adam.ts";
import { Rng } from "../gpu/rng.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { avatarFromCloud } from "../training/avatar.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../training/checkpoint.ts";
import {
  applyDensity,
  type DensitySettings,
  meanGradients,
  planDensity,
} from "../training/density_control.ts";
import { accumulateStatsCpu, DensityStats } from "../training/density_stats.ts";
import { Densifier, densitySchedule, OPACITY_RESET } from "../training/densifier.ts";
import { resolveTrainerConfig } from "../training/trainer_config.ts";
import { bindAvatarGroups, captureTrainState, type TrainerParts } from "../training/trainer_state.ts";
import { assertClose, testGpu } from "./helpers.ts";

const F = 2, K = 1; // feature dim, SH coefficients per channel (degree 0)

/** A cloud of `n` Gaussians with distinct, recognisable values (row i holds i-based numbers). */
function cloudOf(n: number): GaussianCloud {
  const fill = (w: number, f: (i: number, k: number) => number) =>
    Float32Array.from({ length: n * w }, (_, j) => f(Math.floor(j / w), j % w));
  return {
    count: n,
    shDegree: 0,
    means: fill(3, (i, k) => i + 0.1 * k),
    quats: fill(4, (_, k) => (k === 0 ? 1 : 0)),
    logScales: fill(3, () => Math.log(0.001)),
    opacityLogits: fill(1, () => 2),
    sh: fill(3 * K, (i, k) => 0.01 * i + k),
    features: fill(F, (i, k) => 100 * i + k),
    featureDim: F,
  };
}

/** Adam states of the per-Gaussian groups (moments = row index + 1) plus a passthrough "detail" group. */
function adamOf(n: number): AdamGroupState[] {
  const widths: Record<string, number> = {
    means: 3,
    quats: 4,
    logScales: 3,
    opacityLogits: 1,
    sh: 3 * K,
    features: F,
  };
  const groups = Object.entries(widths).map(([name, w]) => ({
    name,
    step: 7,
    m: Float32Array.from({ length: n * w }, (_, j) => Math.floor(j / w) + 1),
    v: Float32Array.from({ length: n * w }, (_, j) => 2 * (Math.floor(j / w) + 1)),
  }));
  return [...groups, { name: "detail", step: 7, m: new Float32Array([5, 6]), v: new Float32Array([7, 8]) }];
}

/** Statistics rows [gradSum, inView, contributed, stepsSinceContributed]. */
function statsOf(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

const SETTINGS: DensitySettings = {
  mode: "dynamic",
  gradThreshold: 2e-4,
  minViews: 1,
  splitScale: 0.01,
  minOpacity: 0.005,
  maxWorldSize: 0.1,
  maxInvisibleSteps: 100,
  maxGaussians: 1000,
};

Deno.test("density stats: the GPU fold matches the CPU reference on random steps", async () => {
  const gpu = await testGpu();
  const n = 3000, rng = new Rng(11);
  const stats = new DensityStats(gpu, n);
  const expected = new Float32Array(n * 4);
  for (let s = 0; s < 5; s++) {
    const step = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const views = rng.int(3); // 0..2 views in the frustum
      const occluded = rng.next() < 0.3;
      step[4 * i] = views > 0 && !occluded ? rng.uniform(0, 1e-3) : 0;
      step[4 * i + 1] = rng.next(); // AbsGS column: not read
      step[4 * i + 2] = views;
      step[4 * i + 3] = rng.next(); // unused column: not read
    }
    stats.stepBuffer().upload(step);
    stats.accumulate();
    accumulateStatsCpu(expected, step);
  }
  const got = await stats.read();
  assertClose(got, expected, { atol: 1e-9, rtol: 1e-6, what: "stats" });
  assert.ok(expected.some((v, j) => j % 4 === 3 && v >= 2), "some Gaussians went unseen for several steps");
  stats.destroy();
});

Deno.test("density control: clone, split and prune keep every array consistent", () => {
  const cloud = cloudOf(6);
  const ls = (i: number, s: number[]) => cloud.logScales.set(s.map(Math.log), 3 * i);
  ls(1, [0.05, 0.001, 0.001]); // large (split): its major axis is x before rotation
  // Gaussian 1 rotated 90 degrees about z: its major axis points along y.
  cloud.quats.set([Math.SQRT1_2, 0, 0, Math.SQRT1_2], 4);
  cloud.opacityLogits[2] = -8; // opacity 3e-4: pruned
  ls(3, [0.2, 0.001, 0.001]); // larger than 0.1 x extent: pruned
  const stats = statsOf([
    [10e-3, 10, 10, 0], // 0: mean 1e-3, small: cloned
    [10e-3, 10, 10, 3], // 1: mean 1e-3, large: split
    [10e-3, 10, 10, 0], // 2: transparent: pruned (even with a high gradient)
    [0, 10, 0, 5], // 3: oversized: pruned
    [0, 300, 0, 150], // 4: no contribution for 150 > 100 steps: pruned
    [1e-3, 10, 10, 42], // 5: mean 1e-4: kept as it is
  ]);
  const plan = planDensity(cloud, stats, SETTINGS, 1);
  assert.deepEqual(plan.clone, [0]);
  assert.deepEqual(plan.split, [1]);
  assert.deepEqual([...plan.prune], [0, 0, 1, 1, 1, 0]);
  const adam = adamOf(6);
  const r = applyDensity(cloud, adam, stats, plan, new Rng(5));
  assert.deepEqual([r.cloned, r.split, r.pruned], [1, 1, 3]);
  // Rows: kept 0, kept 5, clone of 0, two children of 1.
  const src = [0, 5, 0, 1, 1], c = r.cloud;
  assert.equal(c.count, 5);
  for (
    const [name, w] of [["means", 3], ["quats", 4], ["logScales", 3], ["opacityLogits", 1], ["sh", 3], [
      "features",
      F,
    ]] as const
  ) {
    const a = c[name]!;
    assert.equal(a.length, 5 * w, `${name} length`);
    src.forEach((s, row) => {
      const moved = row >= 3 && (name === "means" || name === "logScales");
      if (!moved) {
        assert.deepEqual(
          [...a.subarray(row * w, row * w + w)],
          [...cloud[name]!.subarray(s * w, s * w + w)],
          name,
        );
      }
    });
  }
  for (const row of [3, 4]) {
    assertClose(
      c.logScales.subarray(3 * row, 3 * row + 3),
      cloud.logScales.subarray(3, 6).map((v) => v - Math.log(1.6)),
      { atol: 1e-6, what: "split scales / 1.6" },
    );
    const d = [0, 1, 2].map((k) => c.means[3 * row + k] - cloud.means[3 + k]);
    assert.ok(Math.abs(d[1]) < 0.25 && Math.abs(d[0]) < 0.005 && Math.abs(d[2]) < 0.005, `child offset ${d}`);
  }
  assert.notDeepEqual([...c.means.subarray(9, 12)], [...c.means.subarray(12, 15)], "the two children differ");
  // Adam: kept rows keep their moments, new rows start at zero, the step count and other groups are unchanged.
  for (const g of r.adam) {
    const old = adam.find((a) => a.name === g.name)!;
    assert.equal(g.step, 7);
    if (g.name === "detail") {
      assert.equal(g, old);
      continue;
    }
    const w = old.m.length / 6;
    assert.equal(g.m.length, 5 * w, `${g.name} moments length`);
    const rowM = (row: number) => [...g.m.subarray(row * w, row * w + w)];
    const rowV = (row: number) => [...g.v.subarray(row * w, row * w + w)];
    assert.deepEqual(rowM(0), Array(w).fill(1));
    assert.deepEqual(rowM(1), Array(w).fill(6));
    assert.deepEqual(rowV(1), Array(w).fill(12));
    for (const row of [2, 3, 4]) {
      assert.deepEqual(rowM(row), Array(w).fill(0));
      assert.deepEqual(rowV(row), Array(w).fill(0));
    }
  }
  // Statistics restart, keeping the kept Gaussians' steps since they last contributed.
  assert.deepEqual([...r.stats], [0, 0, 0, 0, 0, 0, 0, 42, ...Array(12).fill(0)]);
});

Deno.test("density control: the cap keeps the highest-gradient candidates", () => {
  const n = 10, cloud = cloudOf(n);
  const grads = [3, 9, 1, 7, 5, 8, 2, 6, 4, 10].map((g) => g * 1e-3);
  const stats = statsOf(grads.map((g) => [g, 1, 1, 0]));
  const plan = planDensity(cloud, stats, { ...SETTINGS, maxGaussians: n + 3 }, 1);
  assert.deepEqual(plan.clone, [1, 5, 9]);
  assert.equal(plan.capped, 7);
  const r = applyDensity(cloud, adamOf(n), stats, plan, new Rng(1));
  assert.equal(r.cloud.count, n + 3);
  // Pruned Gaussians free room for candidates; a cap at the kept count admits none.
  cloud.opacityLogits[0] = -10;
  const p2 = planDensity(cloud, stats, { ...SETTINGS, maxGaussians: n + 3 }, 1);
  assert.deepEqual(p2.clone, [1, 3, 5, 9]);
  assert.equal(planDensity(cloud, stats, { ...SETTINGS, maxGaussians: n - 1 }, 1).clone.length, 0);
});

Deno.test("density control: a rarely contributing Gaussian densifies in dynamic mode only", async () => {
  // Gaussian 0 is in view in all 100 steps but contributes (e.g. teeth behind lips that open) in 5 of them with
  // large gradients; Gaussian 1 contributes in every step with small gradients.
  const gpu = await testGpu();
  const stats = new DensityStats(gpu, 2);
  for (let s = 0; s < 100; s++) {
    const shows = s % 20 === 0;
    stats.stepBuffer().upload(new Float32Array([shows ? 1e-3 : 0, 0, 1, 0, 1e-4, 0, 1, 0]));
    stats.accumulate();
  }
  const st = await stats.read();
  stats.destroy();
  assertClose(st, [5e-3, 100, 5, 19, 1e-2, 100, 100, 0], { atol: 1e-8, rtol: 1e-5 });
  assertClose(meanGradients(st, "dynamic"), [1e-3, 1e-4], { rtol: 1e-5 });
  assertClose(meanGradients(st, "basic"), [5e-5, 1e-4], { rtol: 1e-5 });
  const cloud = cloudOf(2);
  assert.deepEqual(planDensity(cloud, st, { ...SETTINGS, mode: "dynamic" }, 1).clone, [0]);
  assert.deepEqual(planDensity(cloud, st, { ...SETTINGS, mode: "basic" }, 1).clone, []);
});

Deno.test("densifier: rewrites a live avatar, its Adam groups and statistics; checkpoints carry the statistics", async () => {
  const gpu = await testGpu();
  const n = 40, cloud = cloudOf(n);
  for (let i = 0; i < n; i++) cloud.means.set([Math.sin(i), Math.cos(i), 0.1 * i], 3 * i);
  const avatar = avatarFromCloud(gpu, cloud, { exprDim: 3, featureDim: F, detailWidth: 8, detailDepth: 1 });
  const config = resolveTrainerConfig({ iters: 100, gaussians: n, densifyEvery: 10, opacityResetEvery: 20 });
  assert.deepEqual(densitySchedule(config), { every: 10, from: 15, until: 80, opacityResetEvery: 20 });
  const adam = new Adam(gpu);
  const densifier = new Densifier(gpu, config, n, 1);
  const parts: TrainerParts = {
    config,
    sceneScale: 1,
    avatar,
    adam,
    field: null,
    prior: null,
    fieldParams: null,
    fineTunes: false,
    densifier,
  };
  const saved = adamOf(n).filter((g) => g.name !== "detail");
  bindAvatarGroups(parts, new Map(saved.map((g) => [g.name, g])));
  // Gaussians 0..9 get high gradients (cloned), 10 is transparent (pruned).
  const st = new Float32Array(n * 4);
  for (let i = 0; i < 10; i++) st.set([1e-2, 10, 10, 0], 4 * i);
  densifier.stats.set(n, st);
  const tr = await avatar.toCloud();
  tr.opacityLogits[10] = -10;
  avatar.setGaussians(tr);
  bindAvatarGroups(parts, new Map(saved.map((g) => [g.name, g])));
  assert.ok(
    !densifier.due(10) && densifier.due(20) && !densifier.due(25) && densifier.due(80) && !densifier.due(90),
  );
  const e = await densifier.apply(parts, 20);
  assert.deepEqual(e, {
    kind: "density",
    step: 20,
    cloned: 10,
    split: 0,
    pruned: 1,
    capped: 0,
    opacityReset: true,
    count: n + 9,
  });
  assert.equal(densifier.generation, 1);
  assert.equal(avatar.count, n + 9);
  const after = await avatar.toCloud();
  assert.equal(after.features!.length, (n + 9) * F);
  // Row 10 is former Gaussian 11; clones of 0..9 follow the 39 kept ones.
  assert.deepEqual([...after.features!.subarray(10 * F, 11 * F)], [1100, 1101]);
  assert.deepEqual([...after.features!.subarray(39 * F, 40 * F)], [0, 1]);
  const maxLogit = Math.log(OPACITY_RESET / (1 - OPACITY_RESET));
  assert.ok(after.opacityLogits.every((l) => l <= maxLogit + 1e-6), "opacities reset");
  const groups = new Map((await adam.state()).map((g) => [g.name, g]));
  assert.equal(groups.get("means")!.m.length, 3 * (n + 9));
  assert.deepEqual(
    [...groups.get("means")!.m.subarray(30, 33)],
    [12, 12, 12],
    "row 10 keeps Gaussian 11's moments",
  );
  assert.deepEqual([...groups.get("means")!.m.subarray(3 * 39)], Array(30).fill(0), "clones start at zero");
  assert.ok(groups.get("opacityLogits")!.m.every((m) => m === 0), "opacity moments zeroed by the reset");
  assert.equal(groups.get("detail")!.m.length, avatar.detail.params.size);
  assert.equal(densifier.stats.count, n + 9);
  // A checkpoint holds the statistics and restores them.
  const fresh = Float32Array.from({ length: (n + 9) * 4 }, (_, j) => j);
  densifier.stats.set(n + 9, fresh);
  const state = await captureTrainState(parts, { step: 20, salt: 0, lrFactor: 1 });
  const back = decodeCheckpoint(encodeCheckpoint(state), "ckpt");
  assert.deepEqual([...back.density!], [...fresh]);
  assert.equal(back.avatar.cloud.count, n + 9);
  densifier.destroy();
  adam.destroy();
  avatar.destroy();
});

Deno.test("trainer config: density settings are checked by name", () => {
  const c = resolveTrainerConfig({});
  assert.equal(c.densify, true);
  assert.equal(c.densityMode, "dynamic");
  assert.equal(densitySchedule(resolveTrainerConfig({ iters: 700 })).every, 50);
  assert.throws(
    () => resolveTrainerConfig({ densityMode: "fast" as "basic" }),
    /config\.densityMode must be "dynamic" or "basic"/,
  );
  assert.throws(() => resolveTrainerConfig({ maxGaussians: 10, gaussians: 100 }), /config\.maxGaussians/);
  assert.throws(() => resolveTrainerConfig({ densifyFrom: 0.9, densifyUntil: 0.5 }), /densifyFrom/);
  assert.throws(() => resolveTrainerConfig({ densify: 1 as unknown as boolean }), /config\.densify must be/);
});
