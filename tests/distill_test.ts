import assert from "node:assert/strict";
import { mlpBackwardCpu, mlpForwardCpu } from "../gpu/mlp_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type HeadFrame, headFrame } from "../training/deform_inputs.ts";
import { cycleGrad, cycleGradCpu, recordCycleLoss } from "../training/cycle_loss.ts";
import { distillForward, ForwardField } from "../training/distill.ts";
import { ExpressionPrior, trainPrior } from "../training/prior.ts";
import { tinyRig } from "./deform_fixture.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Central differences of `loss` with respect to every entry of `p` (restored afterwards). */
function centralDifferences(loss: (p: Float64Array) => number, p: Float64Array, h: number): Float64Array {
  const fd = new Float64Array(p.length);
  for (let j = 0; j < p.length; j++) {
    const keep = p[j];
    p[j] = keep + h;
    const up = loss(p);
    p[j] = keep - h;
    fd[j] = (up - loss(p)) / (2 * h);
    p[j] = keep;
  }
  return fd;
}

const FRAME: HeadFrame = { center: [0.05, -0.1, 0.02], scale: 4, diagonal: 0.5 };

Deno.test("cycle gradient kernel matches the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(21);
  const N = 345, stride = 9;
  const g = rng.floats(3 * N), dIn = rng.floats(N * stride);
  const tg = Tensor.from(gpu, g), tin = Tensor.from(gpu, dIn), out = Tensor.empty(gpu, [N, 3]);
  cycleGrad(gpu, tg, tin, stride, out);
  assertClose(await out.read(), cycleGradCpu(g, dIn, stride), { atol: 1e-7, rtol: 1e-6 });
  for (const t of [tg, tin, out]) t.destroy();
});

/** Tiny random B and F (non-zero outputs) for gradient checks. */
function tinyNets(gpu: Awaited<ReturnType<typeof testGpu>>, D: number) {
  const prior = new ExpressionPrior(gpu, {
    frame: FRAME,
    codeDim: D,
    identity: new Float32Array([0.3]),
    width: 6,
    layers: 4,
  });
  prior.mlp.init(31);
  const field = new ForwardField(gpu, { frame: FRAME, codeDim: D, featureDim: 2, width: 5, layers: 4 });
  field.mlp.init(32);
  return { prior, field };
}

Deno.test("cycle loss: F's parameter gradient matches central finite differences through the frozen B", async () => {
  const gpu = await testGpu();
  const D = 2, N = 5;
  const { prior, field } = tinyNets(gpu, D);
  const rng = new Rng(33);
  const xc = rng.floats(3 * N, -0.2, 0.2), feat = rng.floats(2 * N), table = rng.floats(3 * D, 0, 1);
  const index = new Uint32Array([0, 2, 1, 2, 0]);
  const t = {
    xc: Tensor.from(gpu, xc),
    feat: Tensor.from(gpu, feat),
    codes: Tensor.from(gpu, table),
    index: Tensor.from(gpu, index),
  };
  const sq = recordCycleLoss(field, prior, {
    points: t.xc,
    features: t.feat,
    code: { kind: "indexed", codes: t.codes, index: t.index },
  }, { weight: 1.5 });
  const gpuLoss = (await sq.read()).reduce((a, b) => a + b, 0) / N;
  const grads = await field.mlp.getGrads();
  const pB = await prior.mlp.getParams(), pF = await field.mlp.getParams();
  // CPU loss: 1.5 * mean_i |F_i + B([x_c,n + F_i, z_i, id])|^2 in float64.
  const loss = (p: Float64Array): number => {
    const inF: number[] = [];
    for (let i = 0; i < N; i++) {
      const z = table.subarray(index[i] * D, index[i] * D + D);
      inF.push(
        ...[0, 1, 2].map((c) => (xc[3 * i + c] - FRAME.center[c]) * FRAME.scale),
        feat[2 * i],
        feat[2 * i + 1],
        ...z,
      );
    }
    const dx = mlpForwardCpu(field.mlp.spec, p, inF, N).post.at(-1)!;
    const inB: number[] = [];
    for (let i = 0; i < N; i++) {
      inB.push(...[0, 1, 2].map((c) => inF[i * 7 + c] + dx[3 * i + c]), inF[i * 7 + 5], inF[i * 7 + 6], 0.3);
    }
    const delta = mlpForwardCpu(prior.mlp.spec, pB, inB, N).post.at(-1)!;
    let s = 0;
    for (let j = 0; j < 3 * N; j++) s += (dx[j] + delta[j]) ** 2;
    return (1.5 * s) / N;
  };
  const p = Float64Array.from(pF);
  assertClose([gpuLoss * 1.5], [loss(p)], { rtol: 1e-4, atol: 1e-7, what: "loss" });
  const fd = centralDifferences(loss, p, 1e-6);
  const scale = Math.max(...fd.map(Math.abs));
  assert.ok(scale > 1e-3, "non-trivial gradient");
  assertClose(grads, fd, { atol: 2e-3 * scale, rtol: 2e-3, what: "dL/dparams(F)" });
  sq.destroy();
  for (const v of Object.values(t)) v.destroy();
  prior.destroy();
  field.destroy();
});

Deno.test("forward field: world-unit forward and backward wrap the MLP with the head frame", async () => {
  const gpu = await testGpu();
  const D = 2, N = 70;
  const { prior, field } = tinyNets(gpu, D);
  const rng = new Rng(34);
  const xc = rng.floats(3 * N, -0.2, 0.2), z = new Float32Array([0.4, 0.9]), dOut = rng.floats(3 * N);
  const txc = Tensor.from(gpu, xc), out = Tensor.empty(gpu, [N, 3]), tdOut = Tensor.from(gpu, dOut);
  const dIn = Tensor.empty(gpu, [N, field.inputDim]);
  const evalOut = Tensor.empty(gpu, [N, 3]);
  field.evaluate(txc, null, z, evalOut);
  const st = field.forwardTrain(txc, null, z, out);
  field.backward(st, tdOut, dIn);
  const input: number[] = [];
  for (let i = 0; i < N; i++) {
    input.push(...[0, 1, 2].map((c) => (xc[3 * i + c] - FRAME.center[c]) * FRAME.scale), 0, 0, ...z);
  }
  const p = await field.mlp.getParams();
  const fwd = mlpForwardCpu(field.mlp.spec, p, input, N);
  const ref = mlpBackwardCpu(field.mlp.spec, p, fwd, Array.from(dOut, (v) => v / FRAME.scale));
  assertClose(await out.read(), fwd.post.at(-1)!.map((v) => v / FRAME.scale), {
    atol: 1e-5,
    rtol: 1e-4,
    what: "dx (world)",
  });
  assertClose(await evalOut.read(), await out.read(), { atol: 0, rtol: 0, what: "evaluate = forwardTrain" });
  evalOut.destroy();
  assertClose(await field.mlp.getGrads(), ref.dParams, { atol: 1e-4, rtol: 1e-3, what: "dParams" });
  assertClose(await dIn.read(), ref.dInput, { atol: 1e-4, rtol: 1e-3, what: "dInput" });
  for (const v of [txc, out, tdOut, dIn]) v.destroy();
  prior.destroy();
  field.destroy();
});

Deno.test("distillation on a tiny-rig prior: held-out cycle residual below 0.25% of the head size", async () => {
  const gpu = await testGpu();
  const rig = tinyRig();
  const { prior, fit } = await trainPrior(gpu, rig, {
    steps: 300,
    batch: 512,
    width: 32,
    seed: 5,
    evalPoints: 1024,
  });
  const heldOut = new Float32Array([0.8, 0.1, 0, 0, 0.9, 0.5, 0.5, 0.5, 0.5, 1, 0, 1]);
  const losses: number[] = [];
  const { field, residual: r } = await distillForward(gpu, prior, rig, {
    steps: 250,
    batch: 512,
    seed: 6,
    heldOut,
    evalPoints: 2048,
    onProgress: (_, l) => losses.push(l),
  });
  const pct = (v: number) => `${(100 * v).toFixed(3)}%`;
  console.log(
    `distill: cycle residual mean ${pct(r.cycleMean)} p95 ${pct(r.cycleP95)}; vs rig mean ${
      pct(r.rigMean)
    } ` +
      `p95 ${pct(r.rigP95)}; zero field ${pct(r.zeroMean)}; prior fit mean ${pct(fit.mean)}`,
  );
  assert.ok(r.cycleMean < 0.0025, `cycle residual ${r.cycleMean}`);
  assert.ok(r.rigMean < 0.3 * r.zeroMean, `error against the rig ${r.rigMean} vs zero field ${r.zeroMean}`);
  assert.ok(losses[losses.length - 1] < 0.2 * losses[0], "cycle loss decreases");
  assert.equal(headFrame(rig).diagonal, prior.config.frame.diagonal);
  prior.destroy();
  field.destroy();
});

Deno.test("distillation is deterministic for a seed", async () => {
  const gpu = await testGpu();
  const rig = tinyRig(6, 8);
  const { prior } = await trainPrior(gpu, rig, { steps: 4, batch: 128, width: 8, seed: 3, evalPoints: 64 });
  const run = async (seed: number) => {
    const { field, residual } = await distillForward(gpu, prior, rig, {
      steps: 5,
      batch: 128,
      seed,
      evalPoints: 64,
    });
    const p = await field.mlp.getParams();
    field.destroy();
    return { p, residual };
  };
  const a = await run(4), b = await run(4), c = await run(5);
  assert.deepEqual(a.p, b.p);
  assert.deepEqual(a.residual, b.residual);
  assert.notDeepEqual(a.p, c.p);
  prior.destroy();
});

Deno.test("cycle loss with basis supervision: the added parameter gradient matches central finite differences", async () => {
  const gpu = await testGpu();
  const D = 2, N = 5;
  const { prior } = tinyNets(gpu, D);
  const field = new ForwardField(gpu, {
    frame: FRAME,
    codeDim: D,
    featureDim: 2,
    width: 5,
    layers: 4,
    output: "codeBasis",
    canonicalCode: [0.5, 0],
  });
  field.mlp.init(34);
  const rng = new Rng(35);
  const xc = rng.floats(3 * N, -0.2, 0.2), feat = rng.floats(2 * N), table = rng.floats(3 * D, 0, 1);
  const index = new Uint32Array([0, 2, 1, 2, 0]);
  const target = rng.floats(N * 3 * D, -0.1, 0.1), w = new Float32Array([1, 2.5]);
  const t = {
    xc: Tensor.from(gpu, xc),
    feat: Tensor.from(gpu, feat),
    codes: Tensor.from(gpu, table),
    index: Tensor.from(gpu, index),
    target: Tensor.from(gpu, target),
    w: Tensor.from(gpu, w),
  };
  const batch = {
    points: t.xc,
    features: t.feat,
    code: { kind: "indexed", codes: t.codes, index: t.index },
  } as const;
  recordCycleLoss(field, prior, batch, { weight: 1.5 }).destroy();
  const without = await field.mlp.getGrads();
  recordCycleLoss(field, prior, { ...batch, basisTarget: t.target, basisWeights: t.w, basisWeight: 0.7 }, {
    weight: 1.5,
  }).destroy();
  const added = (await field.mlp.getGrads()).map((g, j) => g - without[j]);
  // CPU: 1.5 * 0.7 * mean_i sum_{c,k} w_k (raw[i, c D + k] - target)^2, raw = the MLP's output (no bands).
  const inF: number[] = [];
  for (let i = 0; i < N; i++) {
    inF.push(
      ...[0, 1, 2].map((c) => (xc[3 * i + c] - FRAME.center[c]) * FRAME.scale),
      feat[2 * i],
      feat[2 * i + 1],
      ...table.subarray(index[i] * D, index[i] * D + D),
    );
  }
  const loss = (p: Float64Array): number => {
    const raw = mlpForwardCpu(field.mlp.spec, p, inF, N).post.at(-1)!;
    let s = 0;
    for (let e = 0; e < raw.length; e++) s += w[(e % (3 * D)) % D] * (raw[e] - target[e]) ** 2;
    return (1.5 * 0.7 * s) / N;
  };
  const fd = centralDifferences(loss, Float64Array.from(await field.mlp.getParams()), 1e-6);
  const scale = Math.max(...fd.map(Math.abs));
  assert.ok(scale > 1e-3, "non-trivial gradient");
  assertClose(added, fd, { atol: 2e-3 * scale, rtol: 2e-3, what: "d(basis loss)/dparams(F)" });
  for (const v of Object.values(t)) v.destroy();
  prior.destroy();
  field.destroy();
});
