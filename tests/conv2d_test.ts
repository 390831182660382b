import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import {
  biasIndex,
  conv2dBackward,
  conv2dForward,
  type ConvLayer,
  convParamCount,
  type ImageShape,
  paddedChannels,
  weightIndex,
} from "../training/conv2d.ts";
import { conv2dBackwardCpu, conv2dForwardCpu, randomConvParams } from "../training/conv2d_cpu.ts";
import { channelSlice, channelSliceCpu, type SliceSpec } from "../training/channel_slice.ts";
import { assertClose, testGpu } from "./helpers.ts";

interface Case {
  layer: ConvLayer;
  shape: ImageShape;
  offset: number;
}

// Odd sizes (not multiples of the 4-channel groups or the 64-pixel chunks; 286 pixels = 5 chunks).
const CASES: Case[] = [
  { layer: { cin: 5, cout: 6, relu: true }, shape: { views: 2, height: 13, width: 11 }, offset: 16 },
  { layer: { cin: 11, cout: 3, relu: false }, shape: { views: 1, height: 9, width: 7 }, offset: 0 },
  { layer: { cin: 3, cout: 17, relu: true }, shape: { views: 3, height: 5, width: 6 }, offset: 48 },
];

function inputs(c: Case, seed: number) {
  const rng = new Rng(seed);
  const P = c.shape.views * c.shape.height * c.shape.width;
  // Padded channels hold 0, as the layers require.
  const padded = (n: number) => {
    const C = paddedChannels(n), a = new Float32Array(P * C);
    for (let p = 0; p < P; p++) for (let i = 0; i < n; i++) a[p * C + i] = rng.uniform(-1, 1);
    return a;
  };
  const x = padded(c.layer.cin);
  const params = new Float32Array(c.offset + convParamCount(c.layer));
  params.set(rng.floats(c.offset), 0);
  params.set(randomConvParams(c.layer, () => rng.uniform(-0.5, 0.5)), c.offset);
  const dy = padded(c.layer.cout);
  return { P, x, params, dy };
}

Deno.test("conv2d forward and backward match the CPU reference", async () => {
  const gpu = await testGpu();
  const pool = new TensorPool(gpu);
  for (const [k, c] of CASES.entries()) {
    const { P, x, params, dy } = inputs(c, 11 + k);
    const m = convParamCount(c.layer);
    const xT = Tensor.from(gpu, x), pT = Tensor.from(gpu, params), dyT = Tensor.from(gpu, dy);
    const yT = Tensor.empty(gpu, [P * paddedChannels(c.layer.cout)]);
    const dxT = Tensor.empty(gpu, [P * paddedChannels(c.layer.cin)]);
    const gT = Tensor.from(gpu, new Float32Array(c.offset + m).fill(123));
    conv2dForward(gpu, c.layer, c.shape, xT, pT, c.offset, yT);
    conv2dBackward(gpu, c.layer, c.shape, {
      x: xT,
      y: yT,
      dy: dyT,
      params: pT,
      offset: c.offset,
      grads: gT,
      dx: dxT,
      pool,
    });
    const y = await yT.read();
    const yRef = conv2dForwardCpu(c.layer, c.shape, x, params, c.offset);
    assertClose(y, yRef, { atol: 1e-4, rtol: 1e-4, what: `case ${k} forward` });
    if (c.layer.relu) {
      assert.ok(y.some((v) => v === 0) && y.some((v) => v > 0), "ReLU both active and inactive");
    }
    const ref = conv2dBackwardCpu(c.layer, c.shape, x, y, dy, params, c.offset);
    assertClose(await dxT.read(), ref.dx, { atol: 1e-4, rtol: 1e-4, what: `case ${k} dx` });
    const g = await gT.read();
    assertClose(g.subarray(c.offset), ref.dparams, { atol: 1e-3, rtol: 1e-4, what: `case ${k} dparams` });
    for (let i = 0; i < c.offset; i++) assert.equal(g[i], 123, "elements before the offset untouched");
    for (const t of [xT, pT, dyT, yT, dxT, gT]) t.destroy();
  }
  pool.clear();
});

/** L = sum(r * y) in float64 on the CPU forward. */
function loss(c: Case, x: Float64Array, params: Float64Array, r: Float32Array): number {
  const y = conv2dForwardCpu(c.layer, c.shape, x, params, c.offset);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i] * y[i];
  return s;
}

Deno.test("conv2d GPU gradients match central finite differences (input, weights, bias)", async () => {
  const gpu = await testGpu();
  const pool = new TensorPool(gpu);
  const rng = new Rng(99);
  for (const [k, c] of CASES.entries()) {
    const { P, x, params, dy } = inputs(c, 51 + k);
    const m = convParamCount(c.layer);
    const xT = Tensor.from(gpu, x), pT = Tensor.from(gpu, params), dyT = Tensor.from(gpu, dy);
    const yT = Tensor.empty(gpu, [P * paddedChannels(c.layer.cout)]);
    const dxT = Tensor.empty(gpu, [P * paddedChannels(c.layer.cin)]);
    const gT = Tensor.empty(gpu, [c.offset + m]);
    conv2dForward(gpu, c.layer, c.shape, xT, pT, c.offset, yT);
    conv2dBackward(gpu, c.layer, c.shape, {
      x: xT,
      y: yT,
      dy: dyT,
      params: pT,
      offset: c.offset,
      grads: gT,
      dx: dxT,
      pool,
    });
    const dx = await dxT.read(), dp = await gT.read();
    const x64 = Float64Array.from(x), p64 = Float64Array.from(params);
    const eps = 1e-5;
    const fd = (arr: Float64Array, i: number) => {
      const v = arr[i];
      arr[i] = v + eps;
      const a = loss(c, x64, p64, dy);
      arr[i] = v - eps;
      const b = loss(c, x64, p64, dy);
      arr[i] = v;
      return (a - b) / (2 * eps);
    };
    const bias = c.offset + biasIndex(c.layer, 0);
    const picks: [string, Float64Array, number, number][] = [];
    for (let j = 0; j < 12; j++) {
      const i = rng.int(x.length);
      picks.push(["input", x64, i, dx[i]]);
      const w = c.offset + weightIndex(c.layer, rng.int(9), rng.int(c.layer.cin), rng.int(c.layer.cout));
      picks.push(["weight", p64, w, dp[w]]);
    }
    for (let o = 0; o < c.layer.cout; o++) picks.push(["bias", p64, bias + o, dp[bias + o]]);
    for (const [what, arr, i, got] of picks) {
      assertClose([got], [fd(arr, i)], { atol: 2e-3, rtol: 2e-3, what: `case ${k} ${what} ${i}` });
    }
    for (const t of [xT, pT, dyT, yT, dxT, gT]) t.destroy();
  }
  pool.clear();
});

Deno.test("channelSlice concatenates, adds and splits channels like the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(5);
  const pixels = 37;
  const a = rng.floats(pixels * 3), b = rng.floats(pixels * 8), init = rng.floats(pixels * 11);
  const specs: [Float32Array, SliceSpec][] = [
    [a, { pixels, srcChannels: 3, srcOffset: 0, dstChannels: 11, dstOffset: 0, count: 3, add: false }],
    [b, { pixels, srcChannels: 8, srcOffset: 2, dstChannels: 11, dstOffset: 5, count: 6, add: true }],
  ];
  const dstT = Tensor.from(gpu, init);
  const ref = Float32Array.from(init);
  for (const [s, spec] of specs) {
    const sT = Tensor.from(gpu, s);
    channelSlice(gpu, sT, dstT, spec);
    channelSliceCpu(s, ref, spec);
    sT.destroy();
  }
  assertClose(await dstT.read(), ref, { atol: 1e-6, what: "slices" });
  assert.throws(() => channelSliceCpu(a, ref, { ...specs[0][1], count: 4 }), /outside/);
  dstT.destroy();
});
