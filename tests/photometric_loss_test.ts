import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { PhotometricLoss } from "../training/photometric_loss.ts";
import { photometricCpu, photometricLossCpu } from "../training/photometric_loss_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

function images(rng: Rng, n: number): { pred: Float32Array; target: Float32Array } {
  const target = rng.floats(n, 0, 1);
  const pred = new Float32Array(n);
  // Prediction near the target, never exactly equal (|x - y| is not differentiable at 0).
  for (let i = 0; i < n; i++) pred[i] = target[i] + (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.02, 0.2);
  return { pred, target };
}

Deno.test("photometric loss: L1 and SSIM values match the float64 CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11);
  const loss = new PhotometricLoss(gpu);
  for (
    const s of [{ views: 1, height: 17, width: 23, channels: 3 }, {
      views: 2,
      height: 32,
      width: 9,
      channels: 4,
    }]
  ) {
    const n = s.views * s.height * s.width * s.channels;
    const { pred, target } = images(rng, n);
    const r = loss.evaluate(Tensor.from(gpu, pred), Tensor.from(gpu, target), s);
    const got = await r.values.read();
    const want = photometricCpu(pred, target, s);
    assertClose(got, [want.l1, want.ssim], { atol: 2e-6, rtol: 1e-4, what: `values ${JSON.stringify(s)}` });
  }
  // Identical images: SSIM is exactly 1 up to rounding, L1 is 0.
  const s = { views: 1, height: 16, width: 16, channels: 3 };
  const img = rng.floats(16 * 16 * 3, 0, 1);
  const t = Tensor.from(gpu, img);
  const same = await loss.evaluate(t, t, s).values.read();
  assertClose(same, [0, 1], { atol: 1e-5, what: "identical images" });
  loss.destroy();
});

Deno.test("photometric loss: gradient matches central finite differences of the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(12);
  const s = { views: 2, height: 13, width: 15, channels: 3 };
  const n = s.views * s.height * s.width * s.channels;
  const { pred, target } = images(rng, n);
  const w = { l1: 1, ssim: 0.2 };
  const loss = new PhotometricLoss(gpu, w);
  const grad = await loss.evaluate(Tensor.from(gpu, pred), Tensor.from(gpu, target), s).grad.read();
  const p64 = Float64Array.from(pred);
  const h = 1e-4;
  let checked = 0;
  for (let trial = 0; trial < 40; trial++) {
    const i = rng.int(n);
    const x0 = p64[i];
    p64[i] = x0 + h;
    const lp = photometricLossCpu(p64, target, s, w);
    p64[i] = x0 - h;
    const lm = photometricLossCpu(p64, target, s, w);
    p64[i] = x0;
    const fd = (lp - lm) / (2 * h);
    const err = Math.abs(grad[i] - fd) / Math.max(Math.abs(fd), 1e-7);
    assert.ok(
      err < 1e-2,
      `element ${i}: gpu ${grad[i]} vs finite difference ${fd} (rel. error ${err.toFixed(4)})`,
    );
    checked++;
  }
  assert.equal(checked, 40);
  // The SSIM part alone, so its gradient is checked without the dominant L1 term.
  const ws = { l1: 0, ssim: 1 };
  loss.weights = ws;
  const gs = await loss.evaluate(Tensor.from(gpu, pred), Tensor.from(gpu, target), s).grad.read();
  for (let trial = 0; trial < 20; trial++) {
    const i = rng.int(n);
    const x0 = p64[i];
    p64[i] = x0 + h;
    const lp = photometricLossCpu(p64, target, s, ws);
    p64[i] = x0 - h;
    const lm = photometricLossCpu(p64, target, s, ws);
    p64[i] = x0;
    const fd = (lp - lm) / (2 * h);
    assert.ok(Math.abs(gs[i] - fd) <= 1e-2 * Math.abs(fd) + 1e-7, `ssim grad ${i}: ${gs[i]} vs ${fd}`);
  }
  loss.destroy();
});
