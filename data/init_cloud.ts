/**
 * A static 3DGS scene (e.g. read by data/ply.ts) as the trainer's initial canonical Gaussians: SH truncated or
 * zero-padded to the trainer's degree, latent features zero, quaternions normalized. Pure JavaScript.
 */
import { DataError } from "./errors.ts";
import { type GaussianCloud, shCoefficients } from "./gaussian_cloud.ts";

/**
 * `cloud` with SH degree `shDegree` (higher bands dropped, missing ones zero) and `featureDim` zero features.
 * Throws a `DataError` naming `file` for an empty cloud.
 */
export function initialCloud(
  cloud: GaussianCloud,
  shDegree: number,
  featureDim: number,
  file: string,
): GaussianCloud {
  const N = cloud.count;
  if (N === 0) {
    throw new DataError(file, "holds no Gaussians", "Give a PLY with at least one Gaussian for --init-ply");
  }
  const Kin = shCoefficients(cloud.shDegree), K = shCoefficients(shDegree), keep = Math.min(K, Kin);
  const sh = new Float32Array(N * K * 3);
  for (let n = 0; n < N; n++) sh.set(cloud.sh.subarray(n * Kin * 3, (n * Kin + keep) * 3), n * K * 3);
  const quats = cloud.quats.slice();
  for (let n = 0; n < N; n++) {
    const q = quats.subarray(n * 4, n * 4 + 4), len = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
    for (let i = 0; i < 4; i++) q[i] /= len;
  }
  return {
    count: N,
    shDegree,
    means: cloud.means.slice(),
    quats,
    logScales: cloud.logScales.slice(),
    opacityLogits: cloud.opacityLogits.slice(),
    sh,
    features: new Float32Array(N * featureDim),
    featureDim,
  };
}
