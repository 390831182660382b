/**
 * CPU reference (float64) of the photometric loss in training/photometric_loss.ts: L1 + w * (1 - SSIM) with an
 * 11x11 Gaussian window, zero padding, computed directly in 2-D (no separability), for tests.
 */
import { SSIM_C1, SSIM_C2, SSIM_RADIUS, SSIM_SIGMA } from "./photometric_loss.ts";
import type { ImageBatchShape, PhotometricWeights } from "./photometric_loss.ts";

/** Mean |x - y| and mean SSIM over all views, pixels and channels. */
export function photometricCpu(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  s: ImageBatchShape,
): { l1: number; ssim: number } {
  const { views, height: H, width: W, channels: C } = s;
  const R = SSIM_RADIUS;
  const g: number[] = [];
  let gs = 0;
  for (let k = -R; k <= R; k++) gs += g[k + R] = Math.exp(-(k * k) / (2 * SSIM_SIGMA * SSIM_SIGMA));
  for (let k = 0; k < g.length; k++) g[k] /= gs;
  let l1 = 0, ssim = 0;
  const at = (a: ArrayLike<number>, v: number, y: number, x: number, c: number) =>
    a[((v * H + y) * W + x) * C + c];
  for (let v = 0; v < views; v++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) {
          l1 += Math.abs(at(pred, v, y, x, c) - at(target, v, y, x, c));
          let mx = 0, my = 0, exx = 0, eyy = 0, exy = 0;
          for (let dy = -R; dy <= R; dy++) {
            const yy = y + dy;
            if (yy < 0 || yy >= H) continue;
            for (let dx = -R; dx <= R; dx++) {
              const xx = x + dx;
              if (xx < 0 || xx >= W) continue;
              const w = g[dy + R] * g[dx + R];
              const a = at(pred, v, yy, xx, c), b = at(target, v, yy, xx, c);
              mx += w * a;
              my += w * b;
              exx += w * a * a;
              eyy += w * b * b;
              exy += w * a * b;
            }
          }
          const num = (2 * mx * my + SSIM_C1) * (2 * (exy - mx * my) + SSIM_C2);
          const den = (mx * mx + my * my + SSIM_C1) * (exx - mx * mx + eyy - my * my + SSIM_C2);
          ssim += num / den;
        }
      }
    }
  }
  const n = views * H * W * C;
  return { l1: l1 / n, ssim: ssim / n };
}

/** The scalar loss of the CPU reference. */
export function photometricLossCpu(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  s: ImageBatchShape,
  w: PhotometricWeights,
): number {
  const r = photometricCpu(pred, target, s);
  return w.l1 * r.l1 + w.ssim * (1 - r.ssim);
}
