import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assembleInputs, assembleInputsCpu, type HeadFrame, headFrame } from "../training/deform_inputs.ts";
import { ExpressionPrior, trainPrior } from "../training/prior.ts";
import { residual3, residual3Cpu } from "../training/prior_residual.ts";
import { sampleCodes, samplePairs } from "../training/prior_pairs.ts";
import { mlpForwardCpu } from "../gpu/mlp_reference.ts";
import { posedPoints, sampleSurface } from "../training/rig_sampling.ts";
import { tinyRig } from "./deform_fixture.ts";
import { assertClose, testGpu } from "./helpers.ts";

const FRAME: HeadFrame = { center: [0.1, -0.2, 0.3], scale: 2.5, diagonal: 1 };

Deno.test("deform inputs: assembly matches the CPU reference for broadcast, per-point and indexed codes", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11);
  const N = 301, E = 5, D = 7, X = 2, T = 9;
  const points = rng.floats(3 * N), shift = rng.floats(3 * N), feat = rng.floats(N * E);
  const extra = rng.floats(X), table = rng.floats(T * D), perPoint = rng.floats(N * D);
  const index = rng.uints(N, T);
  const t = (a: Float32Array | Uint32Array) => Tensor.from(gpu, a);
  const cases = [
    { kind: "broadcast" as const, codes: table.subarray(0, D), shift: false, feat: true, extra: true },
    { kind: "perPoint" as const, codes: perPoint, shift: true, feat: false, extra: false },
    { kind: "indexed" as const, codes: table, shift: true, feat: true, extra: true },
  ];
  for (const c of cases) {
    const e = c.feat ? E : 0, x = c.extra ? X : 0;
    const out = Tensor.empty(gpu, [N, 3 + e + D + x]);
    const tensors = {
      points: t(points),
      shift: t(shift),
      feat: t(feat),
      codes: t(c.codes),
      index: t(index),
      extra: t(extra),
    };
    assembleInputs(gpu, {
      frame: FRAME,
      points: tensors.points,
      shift: c.shift ? tensors.shift : undefined,
      features: c.feat ? { tensor: tensors.feat, dim: E } : undefined,
      code: c.kind === "indexed"
        ? { kind: "indexed", codes: tensors.codes, index: tensors.index, dim: D }
        : { kind: c.kind, codes: tensors.codes, dim: D },
      extra: c.extra ? tensors.extra : undefined,
      out,
    });
    const ref = assembleInputsCpu({
      frame: FRAME,
      points,
      shift: c.shift ? shift : undefined,
      features: c.feat ? { data: feat, dim: E } : undefined,
      code: { kind: c.kind, codes: c.codes, dim: D, index },
      extra: c.extra ? extra : undefined,
    });
    assertClose(await out.read(), ref, { atol: 1e-6, rtol: 1e-6, what: `assembly (${c.kind})` });
    for (const v of [out, ...Object.values(tensors)]) v.destroy();
  }
});

Deno.test("prior residual kernel matches the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(12);
  const N = 517;
  const a = rng.floats(3 * N), b = rng.floats(3 * N);
  const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b);
  const res = Tensor.empty(gpu, [N, 3]), sq = Tensor.empty(gpu, [N]);
  residual3(gpu, { a: ta, b: tb, ca: 0.7, cb: -1.3, gs: 2 / N, res, sq });
  const ref = residual3Cpu(a, b, 0.7, -1.3, 2 / N);
  assertClose(await res.read(), ref.res, { atol: 1e-7, rtol: 1e-5, what: "res" });
  assertClose(await sq.read(), ref.sq, { atol: 1e-6, rtol: 1e-5, what: "sq" });
  for (const v of [ta, tb, res, sq]) v.destroy();
});

Deno.test("prior pairs: deterministic, canonical and posed agree with the rig, codes in range", () => {
  const rig = tinyRig();
  const a = samplePairs(rig, 200, new Rng(3), { perCode: 10 });
  const b = samplePairs(rig, 200, new Rng(3), { perCode: 10 });
  assert.deepEqual(a.posed, b.posed);
  assert.deepEqual(a.codes, b.codes);
  // Re-pose the group of point 57 independently through rig_sampling with the same draws.
  const s = sampleSurface(rig, 200, new Rng(3), 0.01 * headFrame(rig).diagonal);
  for (let i = 0; i < 200; i += 2) s.offsets[i] = 0;
  assertClose(a.canonical, posedPoints(rig, s, null), { atol: 1e-7, what: "canonical" });
  const g = a.index[57];
  assert.equal(g, 5);
  const posed = posedPoints(rig, s, a.codes.subarray(3 * g, 3 * g + 3));
  assertClose(a.posed.subarray(3 * 57, 3 * 58), posed.subarray(3 * 57, 3 * 58), {
    atol: 1e-7,
    what: "posed",
  });
  const codes = sampleCodes(new Rng(4), 3, 500, {
    dataset: new Float32Array([0.2, 0.4, 0.6]),
    range: [0, 1],
  });
  assert.ok(codes.every((v) => v >= 0 && v <= 1));
  assert.ok(codes.some((v) => v === 1), "one-hot extremes present");
});

Deno.test("prior: a small fit on a tiny rig reaches 0.4% of the head size on held-out pairs", async () => {
  const gpu = await testGpu();
  const rig = tinyRig();
  const losses: number[] = [];
  const run = () =>
    trainPrior(gpu, rig, {
      steps: 300,
      batch: 512,
      width: 32,
      seed: 5,
      evalPoints: 2048,
      onProgress: (_, l) => losses.push(l),
    });
  const { prior, fit, finalLoss } = await run();
  console.log(
    `prior fit: mean ${(100 * fit.mean).toFixed(3)}%, p95 ${
      (100 * fit.p95).toFixed(3)
    }% of the head diagonal; zero field ${(100 * fit.zeroMean).toFixed(3)}%; loss ${
      finalLoss.toExponential(3)
    }`,
  );
  assert.ok(fit.mean < 0.004, `mean fit error ${fit.mean}`);
  assert.ok(fit.p95 < 0.012, `p95 fit error ${fit.p95}`);
  assert.ok(fit.mean < 0.25 * fit.zeroMean, "much better than the zero field");
  assert.ok(losses[losses.length - 1] < 0.2 * losses[0], "loss decreases");
  prior.destroy();
});

Deno.test("prior: training is deterministic for a seed", async () => {
  const gpu = await testGpu();
  const rig = tinyRig(6, 8);
  const run = async (seed: number) => {
    const { prior, fit } = await trainPrior(gpu, rig, {
      steps: 6,
      batch: 256,
      width: 8,
      seed,
      evalPoints: 64,
    });
    const p = await prior.mlp.getParams();
    prior.destroy();
    return { p, fit };
  };
  const a = await run(9), b = await run(9), c = await run(10);
  assert.deepEqual(a.p, b.p);
  assert.deepEqual(a.fit, b.fit);
  assert.notDeepEqual(a.p, c.p);
});

Deno.test("prior: evaluate gives the network's normalized output in world units, identity code appended", async () => {
  const gpu = await testGpu();
  const N = 90, D = 4;
  const prior = new ExpressionPrior(gpu, {
    frame: FRAME,
    codeDim: D,
    identity: new Float32Array([0.5, -1]),
    width: 7,
    layers: 6,
  });
  prior.mlp.init(13);
  const rng = new Rng(14);
  const x = rng.floats(3 * N), z = rng.floats(D, 0, 1);
  const tx = Tensor.from(gpu, x), out = Tensor.empty(gpu, [N, 3]);
  prior.evaluate(tx, z, out);
  const input: number[] = [];
  for (let i = 0; i < N; i++) {
    input.push(...[0, 1, 2].map((c) => (x[3 * i + c] - FRAME.center[c]) * FRAME.scale), ...z, 0.5, -1);
  }
  const ref = mlpForwardCpu(prior.mlp.spec, await prior.mlp.getParams(), input, N).post.at(-1)!;
  assertClose(await out.read(), ref.map((v) => v / FRAME.scale), {
    atol: 1e-5,
    rtol: 1e-4,
    what: "B (world)",
  });
  assert.throws(() => prior.evaluate(tx, new Float32Array(D + 1), out), /expected 4/);
  tx.destroy();
  out.destroy();
  prior.destroy();
});
