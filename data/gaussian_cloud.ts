/**
 * The CPU-side Gaussian cloud: the per-Gaussian layout the rasterizer in render/ uses on the GPU (flat
 * Float32Arrays, row-major), exchanged with the PLY and SPZ readers and writers. Pure JavaScript.
 */
import { DataError } from "./errors.ts";

/** Zeroth-order SH basis constant: colour = 0.5 + SH_C0 * dc (3DGS convention). */
export const SH_C0 = 0.28209479177387814;

/** A set of 3D Gaussians in the trainer's world frame (x right, y up, z toward the viewer: RUB). */
export interface GaussianCloud {
  count: number;
  /** 0..3; K = (shDegree + 1)^2 coefficients per colour channel. */
  shDegree: number;
  /** [N,3] world positions. */
  means: Float32Array;
  /** [N,4] rotation quaternions (w, x, y, z), not necessarily normalized. */
  quats: Float32Array;
  /** [N,3] natural-log scales. */
  logScales: Float32Array;
  /** [N] opacity = sigmoid(logit). */
  opacityLogits: Float32Array;
  /** [N,K,3] coefficient-major: index (n*K + k)*3 + c; k = 0 is DC (colour = 0.5 + SH_C0 * dc). */
  sh: Float32Array;
  /** [N,F] optional per-Gaussian latent features (not stored in PLY/SPZ). */
  features?: Float32Array;
  featureDim?: number;
}

/** Coefficients per colour channel, K = (degree + 1)^2, for degree 0..3. */
export function shCoefficients(degree: number): number {
  return (degree + 1) ** 2;
}

/**
 * Checks that `c` is consistent: integer count >= 0, shDegree in 0..3, every array of the documented length,
 * every value finite (quaternions also non-zero). Throws a `DataError` naming `what` (a file name or
 * description) and the first offending array and element.
 */
export function validateCloud(c: GaussianCloud, what: string): void {
  if (!Number.isInteger(c.count) || c.count < 0) {
    throw new DataError(what, `Gaussian count must be a non-negative integer, got ${c.count}`);
  }
  if (!Number.isInteger(c.shDegree) || c.shDegree < 0 || c.shDegree > 3) {
    throw new DataError(what, `SH degree must be 0, 1, 2 or 3, got ${c.shDegree}`);
  }
  const n = c.count;
  const k = shCoefficients(c.shDegree);
  const arrays: [string, Float32Array | undefined, number][] = [
    ["means", c.means, n * 3],
    ["quats", c.quats, n * 4],
    ["logScales", c.logScales, n * 3],
    ["opacityLogits", c.opacityLogits, n],
    ["sh", c.sh, n * k * 3],
  ];
  if (c.features !== undefined || c.featureDim !== undefined) {
    const f = c.featureDim ?? -1;
    if (!Number.isInteger(f) || f < 0) {
      throw new DataError(
        what,
        `featureDim must be a non-negative integer when features are given, got ${f}`,
      );
    }
    arrays.push(["features", c.features, n * f]);
  }
  for (const [name, arr, len] of arrays) {
    if (!(arr instanceof Float32Array)) throw new DataError(what, `${name} is missing or not a Float32Array`);
    if (arr.length !== len) {
      throw new DataError(what, `${name} has ${arr.length} values, expected ${len} for ${n} Gaussians`);
    }
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i])) {
        throw new DataError(
          what,
          `${name}[${i}] is not finite (${arr[i]}), Gaussian ${Math.floor(i * n / len)}`,
        );
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const q = c.quats;
    if (q[4 * i] === 0 && q[4 * i + 1] === 0 && q[4 * i + 2] === 0 && q[4 * i + 3] === 0) {
      throw new DataError(what, `quaternion of Gaussian ${i} is zero`);
    }
  }
}

/**
 * Sign of each real SH basis function k = 0..15 (3DGS order) under (x, y, z) -> (x, -y, -z): the basis is a
 * polynomial in the direction, so it either keeps or flips its sign.
 */
const SH_SIGN_ROT_X180 = [1, -1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1];

/**
 * Returns a copy of `c` rotated 180 degrees about the x axis: positions (x, -y, -z), quaternions (w, x, -y, -z),
 * SH coefficients with the signs of the y/z-odd basis functions flipped; scales, opacities and features are
 * unchanged. It converts between RUB (our world frame, SPZ) and RDF (x right, y down, z forward: the COLMAP
 * frame that Niantic's spz tools and @playcanvas/splat-transform assume for 3DGS PLY files); it is its own
 * inverse.
 */
export function rotateX180(c: GaussianCloud): GaussianCloud {
  const k = shCoefficients(c.shDegree);
  const means = c.means.slice();
  const quats = c.quats.slice();
  const sh = c.sh.slice();
  for (let n = 0; n < c.count; n++) {
    means[3 * n + 1] = -means[3 * n + 1];
    means[3 * n + 2] = -means[3 * n + 2];
    quats[4 * n + 2] = -quats[4 * n + 2];
    quats[4 * n + 3] = -quats[4 * n + 3];
    for (let i = 0; i < k; i++) {
      for (let ch = 0; ch < 3; ch++) sh[(n * k + i) * 3 + ch] *= SH_SIGN_ROT_X180[i];
    }
  }
  return { ...c, means, quats, logScales: c.logScales.slice(), opacityLogits: c.opacityLogits.slice(), sh };
}
