/**
 * Face-tracker noise on expression codes: the codes a tracker hands over are the true ones plus a small,
 * temporally correlated error. Per coefficient an AR(1) process n_t = rho n_{t-1} + sqrt(1 - rho^2) sigma e_t
 * (e_t standard normal, n_0 ~ N(0, sigma^2), so every n_t has standard deviation sigma), added to the code and
 * clamped to [0, 1] (the blendshape weight range). Seeded, deterministic.
 */
import { Rng } from "../gpu/rng.ts";

export interface TrackingNoiseOptions {
  /** Standard deviation per coefficient (default 0.04). */
  sigma?: number;
  /** Correlation of the error between consecutive timesteps, in [0, 1) (default 0.6). */
  correlation?: number;
  seed: number;
}

export const TRACKING_NOISE_DEFAULT_SIGMA = 0.04;
export const TRACKING_NOISE_DEFAULT_CORRELATION = 0.6;

/**
 * Returns `codes` ([T, K] row-major) with tracking noise added (a new array). Timesteps listed in `breaks` start
 * a new, independent error sequence (e.g. the first timestep of a separately recorded test sequence).
 */
export function addTrackingNoise(
  codes: Float32Array,
  K: number,
  opts: TrackingNoiseOptions,
  breaks: readonly number[] = [],
): Float32Array {
  const sigma = opts.sigma ?? TRACKING_NOISE_DEFAULT_SIGMA;
  const rho = opts.correlation ?? TRACKING_NOISE_DEFAULT_CORRELATION;
  if (!(sigma >= 0)) throw new Error(`tracking noise: sigma ${sigma} must be >= 0`);
  if (!(rho >= 0 && rho < 1)) throw new Error(`tracking noise: correlation ${rho} must be in [0, 1)`);
  const T = codes.length / K, out = new Float32Array(codes.length);
  const rng = new Rng(opts.seed ^ 0x7a3c91e5), n = new Float64Array(K);
  const innovation = Math.sqrt(1 - rho * rho) * sigma;
  for (let t = 0; t < T; t++) {
    const fresh = t === 0 || breaks.includes(t);
    for (let k = 0; k < K; k++) {
      n[k] = fresh ? sigma * rng.normal() : rho * n[k] + innovation * rng.normal();
      out[t * K + k] = Math.min(Math.max(codes[t * K + k] + n[k], 0), 1);
    }
  }
  return out;
}
