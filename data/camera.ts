/**
 * Camera conventions of the dataset format. Matrices are 4x4, row-major, in Float64Array(16).
 *
 * - OpenGL camera-to-world (`transform_matrix` of transforms_*.json): camera x right, y up, looking down -z.
 * - OpenCV world-to-camera (NeRSemble `world_2_cam`, and what rasterizers use): camera x right, y down, looking
 *   down +z; a world point p maps to pixel (fx*x/z + cx, fy*y/z + cy) with (x,y,z) = R p + t.
 *
 * Pixel coordinates are continuous with the top-left image corner at (0,0) and pixel centres at +0.5, the
 * nerfstudio convention, so downscaling by k divides fx, fy, cx, cy by k.
 */
import { DataError } from "./errors.ts";

/** Pinhole intrinsics in pixels. */
export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

/** Row-major 4x4 product a*b. */
export function matMul4(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(16);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r * 4 + k] * b[k * 4 + c];
      out[r * 4 + c] = s;
    }
  }
  return out;
}

/** Inverse of a rigid transform [R t; 0 1]: [R^T, -R^T t; 0 1]. */
export function invertRigid(m: ArrayLike<number>): Float64Array {
  const out = new Float64Array(16);
  for (let r = 0; r < 3; r++) {
    let t = 0;
    for (let c = 0; c < 3; c++) {
      out[r * 4 + c] = m[c * 4 + r];
      t -= m[c * 4 + r] * m[c * 4 + 3];
    }
    out[r * 4 + 3] = t;
  }
  out[15] = 1;
  return out;
}

/** Flips the camera's y and z axes (right-multiplies by diag(1,-1,-1,1)): OpenGL <-> OpenCV camera-to-world. */
function flipYZ(m: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(m);
  for (let r = 0; r < 4; r++) {
    out[r * 4 + 1] = -out[r * 4 + 1];
    out[r * 4 + 2] = -out[r * 4 + 2];
  }
  return out;
}

/** OpenGL camera-to-world -> OpenCV world-to-camera. */
export function glCamToWorldToCvWorldToCam(c2wGL: ArrayLike<number>): Float64Array {
  return invertRigid(flipYZ(c2wGL));
}

/** OpenCV world-to-camera -> OpenGL camera-to-world. */
export function cvWorldToCamToGlCamToWorld(w2cCV: ArrayLike<number>): Float64Array {
  return flipYZ(invertRigid(w2cCV));
}

/**
 * Projects world point `p` with an OpenCV world-to-camera matrix and intrinsics; returns [u, v, depth]
 * (depth = camera-space z, positive in front of the camera).
 */
export function projectCV(
  w2cCV: ArrayLike<number>,
  k: Intrinsics,
  p: ArrayLike<number>,
): [number, number, number] {
  const x = w2cCV[0] * p[0] + w2cCV[1] * p[1] + w2cCV[2] * p[2] + w2cCV[3];
  const y = w2cCV[4] * p[0] + w2cCV[5] * p[1] + w2cCV[6] * p[2] + w2cCV[7];
  const z = w2cCV[8] * p[0] + w2cCV[9] * p[1] + w2cCV[10] * p[2] + w2cCV[11];
  return [k.fx * x / z + k.cx, k.fy * y / z + k.cy, z];
}

/**
 * Projects world point `p` with an OpenGL camera-to-world matrix (computed independently of the OpenCV path:
 * camera-space y is up and the camera looks down -z). Returns [u, v, depth].
 */
export function projectGL(
  c2wGL: ArrayLike<number>,
  k: Intrinsics,
  p: ArrayLike<number>,
): [number, number, number] {
  const d = [p[0] - c2wGL[3], p[1] - c2wGL[7], p[2] - c2wGL[11]];
  const x = c2wGL[0] * d[0] + c2wGL[4] * d[1] + c2wGL[8] * d[2];
  const y = c2wGL[1] * d[0] + c2wGL[5] * d[1] + c2wGL[9] * d[2];
  const z = c2wGL[2] * d[0] + c2wGL[6] * d[1] + c2wGL[10] * d[2];
  return [k.fx * x / -z + k.cx, k.fy * -y / -z + k.cy, -z];
}

/**
 * Parses and validates a 4x4 rigid transform from JSON (array of 4 rows of 4 numbers, or 16 numbers). Throws
 * `DataError(file, ...)` (with `what` naming the entry) when it is not 4x4, has non-finite values, a last row
 * other than [0,0,0,1], or a rotation block that is not orthonormal with determinant +1 (scale, shear, mirror).
 */
export function parseRigid(value: unknown, file: string, what: string, tol = 2e-3): Float64Array {
  const flat =
    Array.isArray(value) && value.length === 4 && value.every((r) => Array.isArray(r) && r.length === 4)
      ? (value as unknown[][]).flat()
      : value;
  if (!Array.isArray(flat) || flat.length !== 16 || !flat.every((v) => typeof v === "number")) {
    throw new DataError(file, `${what} is not a 4x4 matrix of numbers`);
  }
  const m = Float64Array.from(flat as number[]);
  if (!m.every(Number.isFinite)) throw new DataError(file, `${what} has non-finite values (NaN or infinity)`);
  if (Math.abs(m[12]) > tol || Math.abs(m[13]) > tol || Math.abs(m[14]) > tol || Math.abs(m[15] - 1) > tol) {
    throw new DataError(
      file,
      `${what} is not a rigid transform: last row is [${Array.from(m.subarray(12))}]`,
    );
  }
  let err = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let d = 0;
      for (let k = 0; k < 3; k++) d += m[k * 4 + i] * m[k * 4 + j];
      err = Math.max(err, Math.abs(d - (i === j ? 1 : 0)));
    }
  }
  const det = m[0] * (m[5] * m[10] - m[6] * m[9]) - m[1] * (m[4] * m[10] - m[6] * m[8]) +
    m[2] * (m[4] * m[9] - m[5] * m[8]);
  if (err > tol || det < 0) {
    throw new DataError(
      file,
      `${what} is not a rigid transform (rotation part is ${
        det < 0 ? "a reflection" : "not orthonormal"
      }; max |R^T R - I| = ${err.toExponential(2)})`,
      "Camera matrices must be rotation + translation without scale",
    );
  }
  m[12] = m[13] = m[14] = 0;
  m[15] = 1;
  return m;
}
