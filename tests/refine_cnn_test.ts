import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { convParamCount, type ImageShape, paddedChannels } from "../training/conv2d.ts";
import { conv2dBackwardCpu, conv2dForwardCpu, randomConvParams } from "../training/conv2d_cpu.ts";
import { RefineCnn, type RefineCnnConfig, refineLayers } from "../training/refine_cnn.ts";
import { assertClose, testGpu } from "./helpers.ts";

const CFG: RefineCnnConfig = { featureDim: 5, width: 6, hidden: 2, seed: 3 };
const SHAPE: ImageShape = { views: 2, height: 7, width: 9 };
const P = SHAPE.views * SHAPE.height * SHAPE.width;

/** CPU composite: concat, layers, residual; returns the refined RGB and the activations. */
function forwardCpu(params: Float64Array, rgb: ArrayLike<number>, ex: ArrayLike<number>) {
  const F = CFG.featureDim, C = paddedChannels(3 + F);
  const x0 = new Float64Array(P * C);
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < 3; c++) x0[p * C + c] = rgb[p * 3 + c];
    for (let c = 0; c < F; c++) x0[p * C + 3 + c] = ex[p * F + c];
  }
  const acts: Float64Array[] = [x0];
  let off = 0;
  for (const l of refineLayers(CFG)) {
    acts.push(conv2dForwardCpu(l, SHAPE, acts.at(-1)!, params, off));
    off += convParamCount(l);
  }
  const out = Float64Array.from(rgb, (v, i) => v + acts.at(-1)![Math.floor(i / 3) * 4 + (i % 3)]);
  return { out, acts };
}

/** Random logical weights and biases of every layer (pad entries 0). */
function randomParams(rng: Rng): Float64Array {
  const parts = refineLayers(CFG).map((l) => randomConvParams(l, () => rng.uniform(-0.4, 0.4)));
  const p = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of parts) {
    p.set(a, off);
    off += a.length;
  }
  return p;
}

Deno.test("refine CNN: zero-initialized output layer leaves the RGB unchanged", async () => {
  const gpu = await testGpu();
  const cnn = new RefineCnn(gpu, CFG);
  const rng = new Rng(1);
  const rgb = Tensor.from(gpu, rng.floats(P * 3, 0, 1)),
    ex = Tensor.from(gpu, rng.floats(P * CFG.featureDim));
  const fw = cnn.forward(rgb, ex, SHAPE);
  assertClose(await fw.rgb.read(), await rgb.read(), { atol: 0, rtol: 0, what: "refined at init" });
  const p = await cnn.getParams();
  assert.ok(p.some((v) => v !== 0), "hidden layers initialized");
  fw.release();
  rgb.destroy();
  ex.destroy();
  cnn.destroy();
});

Deno.test("refine CNN: forward and backward match the CPU composite and central differences", async () => {
  const gpu = await testGpu();
  const cnn = new RefineCnn(gpu, CFG);
  const rng = new Rng(2);
  const params = randomParams(rng);
  assert.equal(params.length, cnn.paramCount);
  cnn.setParams(Float32Array.from(params));
  const rgbA = rng.floats(P * 3, 0, 1), exA = rng.floats(P * CFG.featureDim);
  const dOutA = rng.floats(P * 3);
  const rgb = Tensor.from(gpu, rgbA), ex = Tensor.from(gpu, exA), dOut = Tensor.from(gpu, dOutA);
  const fw = cnn.forward(rgb, ex, SHAPE);
  const g = cnn.backward(fw, dOut);
  const ref = forwardCpu(params, rgbA, exA);
  assertClose(await fw.rgb.read(), ref.out, { atol: 1e-4, rtol: 1e-4, what: "refined rgb" });
  // CPU backward through the layers.
  const layers = refineLayers(CFG);
  const dOut4 = new Float64Array(P * 4);
  for (let i = 0; i < P * 3; i++) dOut4[Math.floor(i / 3) * 4 + (i % 3)] = dOutA[i];
  let dy: ArrayLike<number> = dOut4, off = cnn.offsets.at(-1)!;
  const dp = new Float64Array(cnn.paramCount);
  for (let k = layers.length - 1; k >= 0; k--) {
    off = cnn.offsets[k];
    const r = conv2dBackwardCpu(layers[k], SHAPE, ref.acts[k], ref.acts[k + 1], dy, params, off);
    dp.set(r.dparams, off);
    dy = r.dx;
  }
  const C = paddedChannels(3 + CFG.featureDim);
  const dRgbRef = Float64Array.from(dOutA, (v, i) => v + dy[Math.floor(i / 3) * C + (i % 3)]);
  const dExRef = Float64Array.from(
    exA,
    (_, i) => dy[Math.floor(i / CFG.featureDim) * C + 3 + (i % CFG.featureDim)],
  );
  assertClose(await g.rgb.read(), dRgbRef, { atol: 1e-4, rtol: 1e-4, what: "dRgb" });
  assertClose(await g.extras.read(), dExRef, { atol: 1e-4, rtol: 1e-4, what: "dExtras" });
  assertClose(await cnn.grads.read(), dp, { atol: 1e-3, rtol: 1e-4, what: "dparams" });
  // Central differences of L = sum(dOut * out) on a few entries of each input.
  const loss = (pp: Float64Array, r: ArrayLike<number>, e: ArrayLike<number>) => {
    const o = forwardCpu(pp, r, e).out;
    let s = 0;
    for (let i = 0; i < o.length; i++) s += dOutA[i] * o[i];
    return s;
  };
  const eps = 1e-5;
  const r64 = Float64Array.from(rgbA), e64 = Float64Array.from(exA);
  const gRgb = await g.rgb.read(), gEx = await g.extras.read(), gP = await cnn.grads.read();
  for (
    const [what, arr, got] of [["rgb", r64, gRgb], ["extras", e64, gEx], ["params", params, gP]] as const
  ) {
    for (let j = 0; j < 6; j++) {
      const i = rng.int(arr.length), v = arr[i];
      arr[i] = v + eps;
      const a = loss(params, r64, e64);
      arr[i] = v - eps;
      const b = loss(params, r64, e64);
      arr[i] = v;
      assertClose([got[i]], [(a - b) / (2 * eps)], { atol: 2e-3, rtol: 2e-3, what: `${what} ${i}` });
    }
  }
  g.rgb.destroy();
  g.extras.destroy();
  fw.release();
  for (const t of [rgb, ex, dOut]) t.destroy();
  cnn.destroy();
});
