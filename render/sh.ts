/**
 * Real spherical-harmonics basis up to degree 3 with the 3DGS constants and sign convention (the WGSL copy is
 * in gaussian_common.wgsl). Colour = sum_k basis_k(dir) * sh[k] + 0.5, clamped at 0.
 */

const C0 = 0.28209479177387814;
const C1 = 0.4886025119029199;
const C2 = [
  1.0925484305920792,
  -1.0925484305920792,
  0.31539156525252005,
  -1.0925484305920792,
  0.5462742152960396,
];
const C3 = [
  -0.5900435899266435,
  2.890611442640554,
  -0.4570457994644658,
  0.3731763325901154,
  -0.4570457994644658,
  1.445305721320277,
  -0.5900435899266435,
];

/** Number of SH coefficients per colour channel for a degree (0..3). */
export function shCoeffCount(degree: number): number {
  if (!Number.isInteger(degree) || degree < 0 || degree > 3) {
    throw new Error(`SH degree must be 0, 1, 2 or 3, got ${degree}`);
  }
  return (degree + 1) ** 2;
}

/** Basis function k (0..15) at the unit direction d. */
export function shBasis(k: number, d: readonly number[]): number {
  const [x, y, z] = d;
  const xx = x * x, yy = y * y, zz = z * z;
  switch (k) {
    case 0:
      return C0;
    case 1:
      return -C1 * y;
    case 2:
      return C1 * z;
    case 3:
      return -C1 * x;
    case 4:
      return C2[0] * x * y;
    case 5:
      return C2[1] * y * z;
    case 6:
      return C2[2] * (2 * zz - xx - yy);
    case 7:
      return C2[3] * x * z;
    case 8:
      return C2[4] * (xx - yy);
    case 9:
      return C3[0] * y * (3 * xx - yy);
    case 10:
      return C3[1] * x * y * z;
    case 11:
      return C3[2] * y * (4 * zz - xx - yy);
    case 12:
      return C3[3] * z * (2 * zz - 3 * xx - 3 * yy);
    case 13:
      return C3[4] * x * (4 * zz - xx - yy);
    case 14:
      return C3[5] * z * (xx - yy);
    default:
      return C3[6] * x * (xx - 3 * yy);
  }
}

/**
 * SH coefficients [(deg + 1)^2, 3] whose colour is `rgb` in every direction (only the DC term, with the 0.5
 * offset removed): handy for initialization and tests.
 */
export function shFromRgb(rgb: readonly number[], degree: number): number[] {
  const out = new Array(shCoeffCount(degree) * 3).fill(0);
  for (let c = 0; c < 3; c++) out[c] = (rgb[c] - 0.5) / C0;
  return out;
}
