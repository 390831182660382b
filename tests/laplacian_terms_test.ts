import assert from "node:assert/strict";
import type { Gpu } from "../gpu/device.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { type Avatar, avatarFromCloud } from "../training/avatar.ts";
import { LaplacianTerms } from "../training/laplacian_terms.ts";
import type { PosedGradients } from "../training/pose.ts";
import type { StepLosses } from "../training/trainer_events.ts";
import { testGpu } from "./helpers.ts";

const F = 4, D = 3;

function randomCloud(rng: Rng, n: number): GaussianCloud {
  return {
    count: n,
    shDegree: 0,
    means: rng.floats(3 * n, -1, 1),
    quats: rng.normals(4 * n),
    logScales: rng.floats(3 * n, -4, -3),
    opacityLogits: rng.normals(n),
    sh: rng.normals(3 * n, 0.3),
    features: rng.normals(n * F, 0.5),
    featureDim: F,
  };
}

/** An avatar with random features and a random G (non-zero output), offset regularizers off. */
function randomAvatar(gpu: Gpu, n: number, seed: number): Avatar {
  return avatarFromCloud(gpu, randomCloud(new Rng(seed), n), {
    exprDim: D,
    featureDim: F,
    shDegree: 0,
    detailWidth: 16,
    detailDepth: 2,
    seed,
  });
}

function zeroPosedGrads(avatar: Avatar): PosedGradients {
  const n = avatar.count, e = (k: number) => Tensor.empty(avatar.gpu, [n * k], "f32");
  return { means: e(3), quats: e(4), logScales: e(3), opacityLogits: e(1), sh: e(3) };
}

const newLosses = (): StepLosses => ({ total: 0, l1: 0, ssim: 0, reg: 0, cycle: 0 });

Deno.test("laplacian terms: gradients through G and the features match central differences", async () => {
  const gpu = await testGpu();
  const avatar = randomAvatar(gpu, 200, 5);
  avatar.detail.init(7, { lastLayerScale: 1 });
  for (const k of Object.keys(avatar.constants.reg) as (keyof typeof avatar.constants.reg)[]) {
    avatar.constants.reg[k] = 0;
  }
  const terms = new LaplacianTerms(gpu, { k: 6, features: 0.7, dynamics: 1.3 });
  const z = [0.3, -0.5, 0.8];
  const loss = async (): Promise<number> => {
    const posed = avatar.pose(z, undefined, false);
    terms.forward(avatar, posed, 1);
    const l = newLosses();
    assert.ok(await terms.addLosses(l));
    posed.destroy();
    terms.release();
    return l.total;
  };
  const l0 = await loss();
  assert.ok(l0 > 0);
  // Analytic: the pose backward with zero render gradients, the dynamics hook, and the feature term.
  const posed = avatar.pose(z, undefined, true);
  terms.forward(avatar, posed, 1);
  const parts = newLosses();
  await terms.addLosses(parts);
  assert.ok(parts.lapFeatures! > 0 && parts.lapDynamics! > 0, "both terms are positive");
  avatar.zeroGrads();
  const pg = zeroPosedGrads(avatar);
  avatar.backward(posed, pg, false, terms.addDynamicsGrad).destroy();
  terms.addFeatureGrad(avatar);
  const gG = await avatar.detail.grads.read() as Float32Array;
  const gF = await avatar.grads.features.read() as Float32Array;
  const gX = await avatar.grads.means.read() as Float32Array;
  posed.destroy();
  terms.release();
  assert.equal(terms.rebuilds, 1, "the graph is built once for unchanged points");

  const rng = new Rng(9);
  const check = async (what: string, t: Tensor, grad: Float32Array, h: number, picks: number) => {
    const base = await t.read() as Float32Array;
    // Entries with the largest gradients (plus random ones) so the check is meaningful.
    const order = Array.from(grad.keys()).sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a]));
    const idx = [...order.slice(0, picks), ...Array.from({ length: picks }, () => rng.int(grad.length))];
    let scale = 0;
    for (const g of grad) scale = Math.max(scale, Math.abs(g));
    for (const e of idx) {
      const v = base.slice();
      v[e] = base[e] + h;
      t.upload(v);
      const lp = await loss();
      v[e] = base[e] - h;
      t.upload(v);
      const lm = await loss();
      const fd = (lp - lm) / (2 * h);
      assert.ok(
        Math.abs(fd - grad[e]) <= 0.03 * Math.abs(grad[e]) + 0.01 * scale,
        `${what}[${e}]: analytic ${grad[e]}, central difference ${fd}`,
      );
    }
    t.upload(base);
  };
  await check("G params", avatar.detail.params, gG, 1e-2, 6);
  await check("features", avatar.params.features, gF, 1e-2, 6);
  await check("means (through G)", avatar.params.means, gX, 1e-2, 4);
  for (const t of Object.values(pg)) t.destroy();
  terms.destroy();
  avatar.destroy();
});

Deno.test("laplacian terms: graph rebuilt when the points are replaced and at rebuildEvery steps only", async () => {
  const gpu = await testGpu();
  const avatar = randomAvatar(gpu, 300, 11);
  const terms = new LaplacianTerms(gpu, { k: 8, features: 1, dynamics: 0, rebuildEvery: 5 });
  const z = [0, 0, 0];
  const step = async (s: number): Promise<number> => {
    const posed = avatar.pose(z, undefined, false);
    terms.forward(avatar, posed, s);
    const l = newLosses();
    await terms.addLosses(l);
    posed.destroy();
    terms.release();
    assert.equal(l.lapDynamics, 0, "the dynamics term is off");
    return l.lapFeatures!;
  };
  const first = await step(1);
  await step(2);
  assert.equal(terms.rebuilds, 1);
  await step(5);
  assert.equal(terms.rebuilds, 2, "rebuilt at a multiple of rebuildEvery");
  // Densification-like replacement: another count and other points.
  avatar.setGaussians(randomCloud(new Rng(12), 450));
  const after = await step(6);
  assert.equal(terms.rebuilds, 3, "rebuilt after the points were replaced");
  assert.notEqual(after, first);
  terms.invalidate();
  await step(7);
  assert.equal(terms.rebuilds, 4, "rebuilt after invalidate()");
  const off = new LaplacianTerms(gpu, { k: 8, features: 0, dynamics: 0 });
  const posed = avatar.pose(z, undefined, false);
  off.forward(avatar, posed, 0);
  const l = newLosses();
  await off.addLosses(l);
  assert.deepEqual([l.lapFeatures, l.lapDynamics, off.rebuilds], [0, 0, 0], "weights 0: nothing built");
  posed.destroy();
  off.destroy();
  terms.destroy();
  avatar.destroy();
});
