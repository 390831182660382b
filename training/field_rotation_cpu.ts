/**
 * CPU reference of field_rotation.wgsl: the probe points x + h e_a of each centre, and the rotation part (polar
 * decomposition) of the forward-difference Jacobian of x -> x + dx_F(x) as a unit quaternion (w, x, y, z),
 * w >= 0. See field_rotation.ts.
 */
import { rotationToQuat } from "./avatar_init.ts";

/** Iterations of R <- (R + R^-T) / 2 (the kernel's ITERATIONS). */
export const POLAR_ITERATIONS = 6;

/** Probe points [3N, 3]: row a N + n is means[n] + h e_a. */
export function probePointsCpu(means: Float32Array, h: number): Float32Array {
  const n = means.length / 3, out = new Float32Array(9 * n);
  for (let a = 0; a < 3; a++) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) out[3 * (a * n + i) + c] = means[3 * i + c] + (c === a ? h : 0);
    }
  }
  return out;
}

/** Row-major 3x3 determinant. */
function det3(m: readonly number[]): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
    m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/** Row-major inverse transpose of a 3x3 matrix with determinant `d`. */
function inverseTranspose(m: readonly number[], d: number): number[] {
  const [a, b, c, e, f, g, h, i, j] = m;
  // Cofactor matrix / det = (M^-1)^T.
  return [
    (f * j - g * i) / d,
    -(e * j - g * h) / d,
    (e * i - f * h) / d,
    -(b * j - c * i) / d,
    (a * j - c * h) / d,
    -(a * i - b * h) / d,
    (b * g - c * f) / d,
    -(a * g - c * e) / d,
    (a * f - b * e) / d,
  ];
}

/** Rotation part of a row-major 3x3 matrix `m` as a unit quaternion (identity when det(m) <= 1e-6). */
export function polarRotationQuat(m: readonly number[]): [number, number, number, number] {
  if (det3(m) <= 1e-6) return [1, 0, 0, 0];
  let r = [...m];
  for (let k = 0; k < POLAR_ITERATIONS; k++) {
    const it = inverseTranspose(r, det3(r));
    r = r.map((v, i) => 0.5 * (v + it[i]));
  }
  return rotationToQuat(r);
}

/** Rotations [N, 4] from F at the centres `dx` [N, 3] and at the probes `dxp` [3N, 3] (probe step h). */
export function fieldRotationCpu(dx: Float32Array, dxp: Float32Array, h: number): Float32Array {
  const n = dx.length / 3, out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const m: number[] = [];
    for (let row = 0; row < 3; row++) {
      for (let a = 0; a < 3; a++) {
        m.push((row === a ? 1 : 0) + (dxp[3 * (a * n + i) + row] - dx[3 * i + row]) / h);
      }
    }
    out.set(polarRotationQuat(m), 4 * i);
  }
  return out;
}
