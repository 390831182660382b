/**
 * Pinhole cameras for the rasterizer. Internally one convention: OpenCV axes (x right, y down, z forward) and a
 * world-to-camera transform `x_cam = R x_world + t`. Pixel (px, py) covers [px, px + 1) x [py, py + 1) in image
 * coordinates, so its centre is at (px + 0.5, py + 0.5) (the nerfstudio / dataset convention for cx, cy).
 */

/** Intrinsics in pixels. */
export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  width: number;
  height: number;
}

/** A pinhole camera: intrinsics plus world-to-camera rotation (row-major 3x3) and translation (OpenCV). */
export interface Camera extends Intrinsics {
  /** World-to-camera rotation, row-major [9]. */
  rotation: readonly number[];
  /** World-to-camera translation [3]. */
  translation: readonly number[];
  /** Near plane distance along +z; Gaussians with camera-space z <= near are culled (default 0.01). */
  near?: number;
}

/** The near plane used when a camera does not set one. */
export const DEFAULT_NEAR = 0.01;

/**
 * Converts a dataset camera (4x4 camera-to-world matrix, OpenGL axes: x right, y up, looking down -z; given
 * row-major as 16 numbers or as 4 rows) to the internal OpenCV world-to-camera form.
 */
export function cameraFromOpenGL(
  cameraToWorld: readonly number[] | readonly (readonly number[])[],
  intr: Intrinsics,
  near = DEFAULT_NEAR,
): Camera {
  const m = (cameraToWorld as readonly unknown[]).length === 4
    ? (cameraToWorld as readonly (readonly number[])[]).flat()
    : cameraToWorld as readonly number[];
  if (m.length !== 16 || m.some((x) => !Number.isFinite(x))) {
    throw new Error("cameraFromOpenGL: the camera-to-world matrix must be 16 finite numbers (4x4)");
  }
  // OpenGL -> OpenCV camera axes: flip y and z columns of the camera-to-world rotation.
  const c2w = [
    [m[0], -m[1], -m[2], m[3]],
    [m[4], -m[5], -m[6], m[7]],
    [m[8], -m[9], -m[10], m[11]],
  ];
  // World-to-camera: R = C^T, t = -C^T p.
  const rotation: number[] = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) rotation.push(c2w[c][r]);
  const p = [c2w[0][3], c2w[1][3], c2w[2][3]];
  const translation = [0, 1, 2].map((r) =>
    -(rotation[3 * r] * p[0] + rotation[3 * r + 1] * p[1] + rotation[3 * r + 2] * p[2])
  );
  return { ...intr, rotation, translation, near };
}

/** A camera at `eye` looking at `target`, with `up` pointing up in the image (OpenCV internally). */
export function lookAt(
  eye: readonly number[],
  target: readonly number[],
  up: readonly number[],
  intr: Intrinsics,
  near = DEFAULT_NEAR,
): Camera {
  const z = normalize3([target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]]);
  // Image y points down (y = -up after orthogonalization), so x = y x z = z x up.
  const x = normalize3(cross3(z, up));
  const y = cross3(z, x);
  const rotation = [...x, ...y, ...z];
  const translation = [0, 1, 2].map((r) =>
    -(rotation[3 * r] * eye[0] + rotation[3 * r + 1] * eye[1] + rotation[3 * r + 2] * eye[2])
  );
  return { ...intr, rotation, translation, near };
}

/** Camera centre in world coordinates. */
export function cameraCenter(cam: Camera): [number, number, number] {
  const R = cam.rotation, t = cam.translation;
  return [0, 1, 2].map((c) => -(R[c] * t[0] + R[3 + c] * t[1] + R[6 + c] * t[2])) as [number, number, number];
}

/**
 * Range of x/z and y/z over which the EWA Jacobian is evaluated as is; outside it the ratio is clamped (1.3x the
 * half field of view around the image, as in 3DGS), which keeps the 2D covariance of far off-screen Gaussians
 * bounded. Returns [xLo, xHi, yLo, yHi].
 */
export function jacobianClamp(cam: Camera): [number, number, number, number] {
  const mx = 0.15 * cam.width, my = 0.15 * cam.height;
  return [
    (-mx - cam.cx) / cam.fx,
    (cam.width + mx - cam.cx) / cam.fx,
    (-my - cam.cy) / cam.fy,
    (cam.height + my - cam.cy) / cam.fy,
  ];
}

/** Checks that the camera is usable; throws with the offending field otherwise. */
export function validateCamera(cam: Camera, what = "camera"): void {
  for (const k of ["fx", "fy", "cx", "cy"] as const) {
    if (!Number.isFinite(cam[k])) throw new Error(`${what}: ${k} is not finite`);
  }
  if (!(cam.fx > 0 && cam.fy > 0)) throw new Error(`${what}: focal lengths must be positive`);
  if (!(Number.isInteger(cam.width) && Number.isInteger(cam.height) && cam.width > 0 && cam.height > 0)) {
    throw new Error(`${what}: width and height must be positive integers`);
  }
  if (cam.rotation.length !== 9 || cam.translation.length !== 3) {
    throw new Error(`${what}: rotation must have 9 and translation 3 numbers`);
  }
  if ([...cam.rotation, ...cam.translation].some((x) => !Number.isFinite(x))) {
    throw new Error(`${what}: extrinsics are not finite`);
  }
}

function cross3(a: readonly number[], b: readonly number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function normalize3(a: readonly number[]): number[] {
  const l = Math.hypot(a[0], a[1], a[2]);
  if (!(l > 0)) throw new Error("lookAt: degenerate direction");
  return [a[0] / l, a[1] / l, a[2] / l];
}
