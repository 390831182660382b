/**
 * Held-out evaluation: PSNR and SSIM of renders against the ground-truth images of a split (val = novel
 * camera, test = held-out expressions). Each frame is rendered on its own (one view), scored, and the scores are
 * averaged over frames (the usual per-image mean of PSNR and SSIM).
 *
 *   PSNR = 10 log10(1 / MSE) over all pixels and channels of one image in 0..1 (capped at 100 dB for MSE 0)
 *   SSIM = mean of the 11x11 Gaussian-window SSIM map (sigma 1.5), computed by PhotometricLoss's kernels
 */
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { frameTargets, spreadFrames } from "./frame_batches.ts";
import { type ImageBatchShape, PhotometricLoss } from "./photometric_loss.ts";

/** Largest PSNR reported (identical images). */
export const MAX_PSNR = 100;

/** PSNR in dB of a mean squared error of images in 0..1. */
export function psnrFromMse(mse: number): number {
  return mse > 0 ? Math.min(MAX_PSNR, -10 * Math.log10(mse)) : MAX_PSNR;
}

/** Mean squared difference of two equally long arrays. */
export function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`meanSquaredError: lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return a.length ? s / a.length : 0;
}

/** Scores of one image (or the mean over a split's frames). */
export interface ImageScores {
  psnr: number;
  ssim: number;
  l1: number;
}

/**
 * Scores `pred` (a GPU image batch [V, H, W, C]) against `target` (same layout, CPU): PSNR from the MSE of the
 * whole batch, SSIM and L1 from `loss`'s kernels. Returns the scores and the prediction read back.
 */
export async function imageScores(
  loss: PhotometricLoss,
  pred: Tensor,
  target: Float32Array,
  shape: ImageBatchShape,
): Promise<ImageScores & { pred: Float32Array }> {
  const t = Tensor.from(loss.gpu, target, [target.length], "eval.target");
  const r = loss.evaluate(pred, t, shape);
  const values = await r.values.read();
  const p = await pred.read() as Float32Array;
  t.destroy();
  return { psnr: psnrFromMse(meanSquaredError(p, target)), ssim: values[1], l1: values[0], pred: p };
}

/** Renders frames of one timestep: [V, H, W, 3] f32 RGB, alive until `release()`. */
export interface EvalRenderer {
  render(frames: Frame[]): Promise<{ rgb: Tensor; release(): void }>;
}

/** A split's mean scores. */
export interface SplitMetrics extends ImageScores {
  split: string;
  frames: number;
}

/** A rendered frame kept for a visual check (RGB f32 in 0..1, [H, W, 3]). */
export interface EvalImage {
  frame: Frame;
  rendered: Float32Array;
}

/**
 * Renders and scores every frame of `frames` one by one; keeps the renders of the first `keepImages` frames.
 * Throws on an empty frame list.
 */
export async function evaluateFrames(
  gpu: Gpu,
  renderer: EvalRenderer,
  split: string,
  frames: readonly Frame[],
  opts: { keepImages?: number } = {},
): Promise<{ metrics: SplitMetrics; images: EvalImage[] }> {
  if (frames.length === 0) throw new Error(`evaluateFrames: the ${split} split has no frames`);
  const loss = new PhotometricLoss(gpu);
  const images: EvalImage[] = [];
  let psnr = 0, ssim = 0, l1 = 0;
  try {
    for (const frame of frames) {
      const out = await renderer.render([frame]);
      const shape = { views: 1, height: frame.height, width: frame.width, channels: 3 };
      const s = await imageScores(loss, out.rgb, frameTargets([frame]), shape);
      out.release();
      psnr += s.psnr;
      ssim += s.ssim;
      l1 += s.l1;
      if (images.length < (opts.keepImages ?? 0)) images.push({ frame, rendered: s.pred });
    }
  } finally {
    loss.destroy();
  }
  const n = frames.length;
  return { metrics: { split, frames: n, psnr: psnr / n, ssim: ssim / n, l1: l1 / n }, images };
}

/**
 * Scores of the constant image holding each frame's mean colour (the baseline a trained avatar must beat):
 * mean PSNR over `frames`.
 */
export function meanColourPsnr(frames: readonly Frame[]): number {
  let sum = 0;
  for (const f of frames) {
    const img = f.image, n = img.length / 3, mean = [0, 0, 0];
    for (let i = 0; i < img.length; i++) mean[i % 3] += img[i] / 255 / n;
    let se = 0;
    for (let i = 0; i < img.length; i++) se += (img[i] / 255 - mean[i % 3]) ** 2;
    sum += psnrFromMse(se / img.length);
  }
  return sum / Math.max(frames.length, 1);
}

/** Side-by-side RGB u8 image: the render on the left, the ground truth on the right ([H, 2W, 3]). */
export function sideBySide(img: EvalImage): { data: Uint8Array; width: number; height: number } {
  const { width: W, height: H, image } = img.frame;
  const out = new Uint8Array(H * 2 * W * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        const v = img.rendered[(y * W + x) * 3 + c];
        out[(y * 2 * W + x) * 3 + c] = Math.round(255 * Math.min(Math.max(v, 0), 1));
        out[(y * 2 * W + W + x) * 3 + c] = image[(y * W + x) * 3 + c];
      }
    }
  }
  return { data: out, width: 2 * W, height: H };
}

/** Evaluates the val and test splits (`count` frames of each, spread), keeping `keepImages` test renders. */
export async function evaluateSplits(
  gpu: Gpu,
  renderer: EvalRenderer,
  dataset: Dataset,
  count: number,
  keepImages: number,
): Promise<{ metrics: SplitMetrics[]; images: EvalImage[] }> {
  const metrics: SplitMetrics[] = [];
  let images: EvalImage[] = [];
  for (const split of ["val", "test"] as const) {
    const frames = spreadFrames(dataset.splits[split], count);
    if (frames.length === 0) continue;
    const r = await evaluateFrames(gpu, renderer, split, frames, {
      keepImages: split === "test" ? keepImages : 0,
    });
    metrics.push(r.metrics);
    if (split === "test") images = r.images;
  }
  return { metrics, images };
}
