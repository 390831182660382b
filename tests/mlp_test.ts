import assert from "node:assert/strict";
import type { Activation } from "../gpu/activation.ts";
import { Mlp, type MlpSpec } from "../gpu/mlp.ts";
import { mlpBackwardCpu, mlpForwardCpu, weightedOutputSum } from "../gpu/mlp_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assertClose, testGpu } from "./helpers.ts";

// f32 GPU vs float64 CPU on widths <= 40: errors are ~1e-6; indexing or derivative mistakes are ~1e-2 or more.
const FWD_TOL = { atol: 1e-4, rtol: 1e-4 };
const BWD_TOL = { atol: 2e-4, rtol: 1e-3 };

const COMBOS: [Activation, Activation][] = [
  [{ kind: "relu" }, { kind: "identity" }],
  [{ kind: "softplus", beta: 100 }, { kind: "identity" }],
  [{ kind: "softplus", beta: 1 }, { kind: "softplus", beta: 10 }],
  [{ kind: "tanh" }, { kind: "sigmoid" }],
  [{ kind: "sigmoid" }, { kind: "tanh" }],
  [{ kind: "identity" }, { kind: "relu" }],
];

function spec(
  hiddenActivation: Activation,
  outputActivation: Activation,
  extra: Partial<MlpSpec> = {},
): MlpSpec {
  return { inputs: 3, hidden: [20, 33, 17], outputs: 4, hiddenActivation, outputActivation, ...extra };
}

/** Runs forwardTrain + backward on the GPU and the CPU reference; compares output, dParams and dInput. */
async function checkAgainstCpu(s: MlpSpec, batch: number, seed: number, what: string): Promise<void> {
  const gpu = await testGpu();
  const rng = new Rng(seed);
  const mlp = new Mlp(gpu, s);
  mlp.init(seed);
  const x = rng.floats(batch * s.inputs), g = rng.floats(batch * s.outputs);
  const tx = Tensor.from(gpu, x), ty = Tensor.empty(gpu, [batch * s.outputs]);
  const tyi = Tensor.empty(gpu, [batch * s.outputs]);
  const tg = Tensor.from(gpu, g), tdx = Tensor.empty(gpu, [batch * s.inputs]);
  mlp.forward(tx, tyi);
  const acts = mlp.forwardTrain(tx, ty);
  mlp.backward(acts, tg, tdx);
  const p = await mlp.getParams();
  const fwd = mlpForwardCpu(s, p, x, batch);
  const ref = mlpBackwardCpu(s, p, fwd, g);
  assertClose(await tyi.read(), fwd.post.at(-1)!, { ...FWD_TOL, what: `${what} forward` });
  assertClose(await ty.read(), fwd.post.at(-1)!, { ...FWD_TOL, what: `${what} forwardTrain` });
  assertClose(await mlp.getGrads(), ref.dParams, { ...BWD_TOL, what: `${what} dParams` });
  assertClose(await tdx.read(), ref.dInput, { ...BWD_TOL, what: `${what} dInput` });
  for (const t of [tx, ty, tyi, tg, tdx]) t.destroy();
  mlp.destroy();
}

Deno.test("mlp: forward and backward match the CPU reference for every activation, without skip", async () => {
  for (const [i, [h, o]] of COMBOS.entries()) {
    await checkAgainstCpu(spec(h, o), 130, 100 + i, `${h.kind}/${o.kind}`);
  }
});

Deno.test("mlp: forward and backward match the CPU reference with a skip connection (middle and last hidden layer)", async () => {
  for (const [i, [h, o]] of COMBOS.entries()) {
    await checkAgainstCpu(spec(h, o, { skipAt: 2 }), 97, 200 + i, `skip2 ${h.kind}/${o.kind}`);
  }
  await checkAgainstCpu(spec({ kind: "relu" }, { kind: "identity" }, { skipAt: 3 }), 50, 301, "skip3");
  await checkAgainstCpu(spec({ kind: "tanh" }, { kind: "identity" }, { skipAt: 1 }), 50, 302, "skip1");
});

Deno.test("mlp: batch of 1 and a single hidden layer", async () => {
  await checkAgainstCpu(
    spec({ kind: "softplus", beta: 100 }, { kind: "identity" }, { skipAt: 2 }),
    1,
    400,
    "batch 1",
  );
  await checkAgainstCpu(
    {
      inputs: 1,
      hidden: { width: 7, depth: 1 },
      outputs: 1,
      hiddenActivation: { kind: "relu" },
      outputActivation: { kind: "sigmoid" },
    },
    5,
    401,
    "depth 1",
  );
});

Deno.test("mlp: chunked batches (artificial 64-row chunks) give the same results, accumulate adds", async () => {
  const gpu = await testGpu();
  const s = spec({ kind: "softplus", beta: 100 }, { kind: "identity" }, { skipAt: 2, chunkRows: 64 });
  await checkAgainstCpu(s, 200, 500, "chunked");
  const mlp = new Mlp(gpu, s);
  assert.equal(mlp.chunkRows, 64);
  mlp.init(3);
  const rng = new Rng(501);
  const batch = 150;
  const x = rng.floats(batch * 3), g = rng.floats(batch * 4);
  const tx = Tensor.from(gpu, x), ty = Tensor.empty(gpu, [batch * 4]), tg = Tensor.from(gpu, g);
  const acts = mlp.forwardTrain(tx, ty);
  assert.equal(acts.chunks.length, 3);
  mlp.backward(acts, tg, undefined, { keepActivations: true });
  const once = await mlp.getGrads();
  mlp.backward(acts, tg, undefined, { accumulate: true });
  assertClose(await mlp.getGrads(), once.map((v) => 2 * v), {
    atol: 1e-6,
    rtol: 1e-6,
    what: "accumulated grads",
  });
  const p = await mlp.getParams();
  const ref = mlpBackwardCpu(s, p, mlpForwardCpu(s, p, x, batch), g);
  assertClose(once, ref.dParams, { ...BWD_TOL, what: "chunked dParams" });
  for (const t of [tx, ty, tg]) t.destroy();
  mlp.destroy();
});

Deno.test("mlp: gradients match central finite differences of a float64 forward (params and inputs)", async () => {
  const gpu = await testGpu();
  const nets: MlpSpec[] = [
    {
      inputs: 2,
      hidden: [5, 4],
      outputs: 2,
      hiddenActivation: { kind: "softplus", beta: 5 },
      outputActivation: { kind: "tanh" },
      skipAt: 1,
    },
    {
      inputs: 3,
      hidden: [6],
      outputs: 1,
      hiddenActivation: { kind: "sigmoid" },
      outputActivation: { kind: "identity" },
    },
    {
      inputs: 2,
      hidden: [4, 3],
      outputs: 2,
      hiddenActivation: { kind: "tanh" },
      outputActivation: { kind: "sigmoid" },
      skipAt: 2,
    },
  ];
  for (const [ni, s] of nets.entries()) {
    const batch = 3;
    const rng = new Rng(600 + ni);
    const mlp = new Mlp(gpu, s);
    mlp.init(600 + ni);
    const x = rng.floats(batch * s.inputs), w = rng.floats(batch * s.outputs);
    const tx = Tensor.from(gpu, x), ty = Tensor.empty(gpu, [batch * s.outputs]), tw = Tensor.from(gpu, w);
    const tdx = Tensor.empty(gpu, [batch * s.inputs]);
    mlp.backward(mlp.forwardTrain(tx, ty), tw, tdx);
    const p = Float64Array.from(await mlp.getParams());
    const xs = Float64Array.from(x);
    const h = 1e-5;
    const fd = (arr: Float64Array, i: number) => {
      const keep = arr[i];
      arr[i] = keep + h;
      const up = weightedOutputSum(s, p, xs, batch, w);
      arr[i] = keep - h;
      const down = weightedOutputSum(s, p, xs, batch, w);
      arr[i] = keep;
      return (up - down) / (2 * h);
    };
    const fdParams = p.map((_, i) => fd(p, i));
    const fdInput = xs.map((_, i) => fd(xs, i));
    assertClose(await mlp.getGrads(), fdParams, {
      ...BWD_TOL,
      what: `net ${ni} dParams vs finite differences`,
    });
    assertClose(await tdx.read(), fdInput, { ...BWD_TOL, what: `net ${ni} dInput vs finite differences` });
    const ref = mlpBackwardCpu(s, p, mlpForwardCpu(s, p, xs, batch), w);
    assertClose(ref.dParams, fdParams, {
      atol: 1e-7,
      rtol: 1e-6,
      what: `net ${ni} CPU reference vs finite differences`,
    });
    for (const t of [tx, ty, tw, tdx]) t.destroy();
    mlp.destroy();
  }
});

Deno.test("mlp: layout, deterministic init and parameter upload/download", async () => {
  const gpu = await testGpu();
  const s: MlpSpec = { ...spec({ kind: "relu" }, { kind: "identity" }), skipAt: 2 };
  const a = new Mlp(gpu, s), b = new Mlp(gpu, s);
  const layout = a.layout();
  assert.deepEqual(layout.map((l) => [l.in, l.out]), [[3, 20], [20, 33], [36, 17], [17, 4]]);
  // blocks start at multiples of 4 elements: W0 0..60, b0 60..80, W1 80..740, b1 740..773, W2 776..1388, ...
  assert.deepEqual(layout.map((l) => [l.wOffset, l.bOffset]), [[0, 60], [80, 740], [776, 1388], [
    1408,
    1476,
  ]]);
  assert.equal(a.paramCount, 1480);
  a.init(9);
  b.init(9);
  const pa = await a.getParams();
  assert.deepEqual(pa, await b.getParams());
  assert.ok(pa.every((v, i) => Math.abs(v) <= 1 / Math.sqrt(layout.find((l) => i < l.bOffset + l.out)!.in)));
  for (const gap of [773, 774, 775, 1405, 1406, 1407]) assert.equal(pa[gap], 0, `padding element ${gap}`);
  b.init(10);
  assert.notDeepEqual(pa, await b.getParams());
  b.init(9, { lastLayerScale: 0 });
  const pz = await b.getParams();
  assert.ok(pz.subarray(layout[3].wOffset).every((v) => v === 0));
  const mine = new Rng(1).floats(a.paramCount);
  a.setParams(mine);
  assert.deepEqual(await a.getParams(), mine);
  assert.throws(() => new Mlp(gpu, { ...s, skipAt: 4 }), /skipAt/);
  // setLayer: [in, out] as is, or PyTorch's [out, in] transposed
  const w = new Float32Array(17 * 4).map((_, i) => i), bias = new Float32Array([1, 2, 3, 4]);
  a.setLayer(3, w, bias, true);
  const got = await a.getParams();
  assert.equal(got[layout[3].wOffset + 1 * 4 + 2], w[2 * 17 + 1], "W[in=1, out=2] = torch W[out=2, in=1]");
  assert.deepEqual(got.subarray(layout[3].bOffset, layout[3].bOffset + 4), bias);
  a.setLayer(3, w, bias);
  assert.deepEqual((await a.getParams()).subarray(layout[3].wOffset, layout[3].wOffset + 68), w);
  a.destroy();
  b.destroy();
});
