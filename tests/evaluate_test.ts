/**
 * Evaluation metrics: PSNR and SSIM of `imageScores` (GPU SSIM kernels, CPU PSNR) against a float64 CPU
 * computation on small seeded images, plus the mean-colour baseline and the side-by-side image layout.
 */
import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Frame } from "../data/dataset.ts";
import { imageScores, MAX_PSNR, meanColourPsnr, psnrFromMse, sideBySide } from "../training/evaluate.ts";
import { PhotometricLoss } from "../training/photometric_loss.ts";
import { photometricCpu } from "../training/photometric_loss_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** PSNR of two images in 0..1 computed directly in float64. */
function psnrCpu(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(a.length / se);
}

Deno.test("imageScores: PSNR and SSIM match a CPU computation on seeded images", async () => {
  const gpu = await testGpu();
  const loss = new PhotometricLoss(gpu);
  const rng = new Rng(17);
  for (const [H, W, noise] of [[24, 20, 0.05], [17, 33, 0.2], [32, 32, 0.01]] as const) {
    const shape = { views: 1, height: H, width: W, channels: 3 };
    const target = rng.floats(H * W * 3, 0, 1);
    // A smooth-ish prediction: target plus noise, clamped (like a render close to the ground truth).
    const pred = target.map((v) => Math.min(1, Math.max(0, v + noise * rng.normal())));
    const p = Tensor.from(gpu, pred);
    const s = await imageScores(loss, p, target, shape);
    p.destroy();
    const ref = photometricCpu(pred, target, shape);
    assertClose([s.psnr], [psnrCpu(pred, target)], { atol: 1e-3, what: `PSNR ${H}x${W}` });
    assertClose([s.ssim], [ref.ssim], { atol: 2e-4, what: `SSIM ${H}x${W}` });
    assertClose([s.l1], [ref.l1], { atol: 1e-5, what: `L1 ${H}x${W}` });
    assert.deepEqual(s.pred, pred);
  }
  // Identical images: PSNR is capped, SSIM is 1.
  const img = rng.floats(16 * 16 * 3, 0, 1);
  const t = Tensor.from(gpu, img);
  const same = await imageScores(loss, t, img, { views: 1, height: 16, width: 16, channels: 3 });
  t.destroy();
  assert.equal(same.psnr, MAX_PSNR);
  assertClose([same.ssim], [1], { atol: 1e-5 });
  loss.destroy();
});

Deno.test("psnrFromMse, meanColourPsnr and sideBySide", () => {
  assertClose([psnrFromMse(0.01)], [20], { atol: 1e-12 });
  assertClose([psnrFromMse(1e-4)], [40], { atol: 1e-12 });
  assert.equal(psnrFromMse(0), MAX_PSNR);
  // A two-colour image: half the pixels 0, half 255 in every channel -> mean 0.5, MSE 0.25, PSNR 6.02 dB.
  const W = 4, H = 2;
  const image = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) image.fill(i % 2 ? 255 : 0, 3 * i, 3 * i + 3);
  const frame = { image, width: W, height: H } as Frame;
  assertClose([meanColourPsnr([frame])], [10 * Math.log10(4)], { atol: 1e-9 });
  const rendered = new Float32Array(W * H * 3).fill(0.5);
  const sbs = sideBySide({ frame, rendered });
  assert.equal(sbs.width, 2 * W);
  assert.equal(sbs.height, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      assert.equal(sbs.data[(y * 2 * W + x) * 3], 128, "render on the left");
      assert.equal(sbs.data[(y * 2 * W + W + x) * 3], image[(y * W + x) * 3], "ground truth on the right");
    }
  }
});
