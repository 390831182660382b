/**
 * Renders the current avatar for the dashboard: any expression code, from a dataset camera or a free orbit
 * around the avatar's centre. The caller runs `render` through a `StepGate` so it never interleaves with a
 * training step. Works for a live trainer (its avatar, forward field and rasterizer) and for a loaded avatar.
 */
import { type Camera, cameraFromOpenGL, lookAt } from "../render/camera.ts";
import type { GaussianRasterizer } from "../render/rasterizer.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Avatar } from "../training/avatar.ts";
import type { ForwardField } from "../training/distill.ts";
import { recordFieldOffsets } from "../training/field_rotation.ts";
import type { PosedGaussians } from "../training/pose.ts";
import type { CameraInfo } from "../data/dataset.ts";

/** What a render needs (a trainer's fields, or a loaded avatar's). */
export interface ViewModel {
  avatar: Avatar;
  field: ForwardField | null;
  raster: GaussianRasterizer;
  /** Renders instead of `raster` when set (a live trainer: through its refinement CNN once that is on). */
  renderPosed?: (
    posed: PosedGaussians,
    cameras: readonly Camera[],
  ) => Promise<{ rgb: Tensor; destroy(): void }>;
}

/** A viewpoint: a dataset camera index, optionally orbited (degrees) and zoomed around the avatar's centre. */
export interface ViewSpec {
  camera: number;
  /** Rotation about the camera's up axis through the avatar's centre, degrees. */
  yaw?: number;
  /** Rotation about the camera's right axis, degrees (clamped to +-85). */
  pitch?: number;
  /** Distance factor (0.25..4; < 1 moves closer). */
  zoom?: number;
}

/** An RGB render, f32 [H, W, 3] in 0..1. */
export interface ViewRender {
  rgb: Float32Array;
  width: number;
  height: number;
}

/** A default camera when no dataset is loaded: 256x256, looking down -z (OpenGL) at the avatar's centre. */
export function defaultCameraInfo(center: readonly number[], extent: number): CameraInfo {
  const size = 256, f = 1.5 * size, d = 4 * extent;
  const c2w = new Float64Array([1, 0, 0, center[0], 0, 1, 0, center[1], 0, 0, 1, center[2] + d, 0, 0, 0, 1]);
  const intr = { fx: f, fy: f, cx: size / 2, cy: size / 2, width: size, height: size };
  const cv = cameraFromOpenGL(Array.from(c2w), intr);
  const w2c = new Float64Array(16);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) w2c[4 * r + c] = cv.rotation[3 * r + c];
    w2c[4 * r + 3] = cv.translation[r];
  }
  w2c[15] = 1;
  return { index: 0, width: size, height: size, intrinsics: intr, camToWorldGL: c2w, worldToCamCV: w2c };
}

function rotate(v: number[], axis: number[], deg: number): number[] {
  const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a);
  const l = Math.hypot(axis[0], axis[1], axis[2]), k = axis.map((x) => x / l);
  const dot = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
  const cr = [k[1] * v[2] - k[2] * v[1], k[2] * v[0] - k[0] * v[2], k[0] * v[1] - k[1] * v[0]];
  return [0, 1, 2].map((i) => v[i] * c + cr[i] * s + k[i] * dot * (1 - c));
}

/**
 * The rasterizer camera of `spec` given the dataset camera `info` and the orbit centre. Without orbit or zoom
 * it is exactly the dataset camera.
 */
export function viewCamera(info: CameraInfo, spec: ViewSpec, center: readonly number[]): Camera {
  const intr = { ...info.intrinsics, width: info.width, height: info.height };
  const yaw = spec.yaw ?? 0, pitch = Math.min(Math.max(spec.pitch ?? 0, -85), 85);
  const zoom = Math.min(Math.max(spec.zoom ?? 1, 0.25), 4);
  const m = info.camToWorldGL;
  if (yaw === 0 && pitch === 0 && zoom === 1) return cameraFromOpenGL(Array.from(m), intr);
  const right = [m[0], m[4], m[8]], up = [m[1], m[5], m[9]];
  let off = [m[3] - center[0], m[7] - center[1], m[11] - center[2]];
  off = rotate(off, up, yaw);
  const r2 = rotate(right, up, yaw);
  off = rotate(off, r2, -pitch);
  const upNew = rotate(up, r2, -pitch);
  const eye = [0, 1, 2].map((i) => center[i] + zoom * off[i]);
  return lookAt(eye, center, upNew, intr);
}

/** Renders the avatar of a `ViewModel` (call inside `StepGate.run`). */
export async function renderView(
  m: ViewModel,
  camera: Camera,
  expression: Float32Array,
): Promise<ViewRender> {
  const { avatar, field, raster } = m;
  const f = field ? recordFieldOffsets(field, avatar.params.means, expression) : null;
  const posed = avatar.pose(expression, f?.dx, false);
  f?.rotate(posed.quats);
  try {
    const out = await (m.renderPosed ? m.renderPosed(posed, [camera]) : raster.render(posed, [camera]));
    try {
      const rgb = await out.rgb.read() as Float32Array;
      return {
        rgb: rgb.slice(0, camera.width * camera.height * 3),
        width: camera.width,
        height: camera.height,
      };
    } finally {
      out.destroy();
    }
  } finally {
    posed.destroy();
    f?.destroy();
  }
}
