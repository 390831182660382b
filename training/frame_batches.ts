/**
 * Training batches: a batch is one timestep (one expression code, so one posing of the avatar) seen by one or
 * more cameras. The frame order is a pure function of (seed, step, epoch salt): a resumed run draws exactly the
 * frames an uninterrupted one would, with no generator state to save.
 *
 * Images go to the GPU as [V, H, W, 3] f32 in 0..1 (channel-last, the rasterizer's and the loss's layout).
 */
import { Rng } from "../gpu/rng.ts";
import { type Camera, cameraFromOpenGL } from "../render/camera.ts";
import type { Frame } from "../data/dataset.ts";

/** Frames of one step: same timestep, same image size. */
export interface FrameBatch {
  frames: Frame[];
  timestep: number;
}

/** Draws seeded batches from a split's frames. */
export class FrameSampler {
  readonly frames: readonly Frame[];
  readonly views: number;
  #byTimestep = new Map<number, Frame[]>();

  constructor(frames: readonly Frame[], views: number) {
    if (frames.length === 0) throw new Error("FrameSampler: no training frames");
    const w = frames[0].width, h = frames[0].height;
    for (const f of frames) {
      if (f.width !== w || f.height !== h) {
        throw new Error(`FrameSampler: ${f.file} is ${f.width}x${f.height}, the first frame ${w}x${h}`);
      }
      const list = this.#byTimestep.get(f.timestep) ?? [];
      list.push(f);
      this.#byTimestep.set(f.timestep, list);
    }
    this.frames = frames;
    this.views = views;
  }

  /** Image width and height of every frame. */
  get size(): { width: number; height: number } {
    return { width: this.frames[0].width, height: this.frames[0].height };
  }

  /**
   * The batch of `step`: a uniformly drawn training frame, plus (when `views` > 1) other frames of its timestep
   * drawn without replacement; fewer when the timestep has fewer cameras. `salt` changes the draw (rollbacks).
   */
  batch(seed: number, step: number, salt = 0): FrameBatch {
    const rng = new Rng(mix(seed, step, salt));
    const first = this.frames[rng.int(this.frames.length)];
    const same = (this.#byTimestep.get(first.timestep) ?? []).filter((f) => f !== first);
    const frames = [first];
    while (frames.length < this.views && same.length > 0) {
      frames.push(same.splice(rng.int(same.length), 1)[0]);
    }
    return { frames, timestep: first.timestep };
  }
}

function mix(seed: number, step: number, salt: number): number {
  let h = (seed ^ 0x85ebca6b) >>> 0;
  for (const v of [step, salt]) {
    h = Math.imul(h ^ (v >>> 0), 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
  }
  return h || 1;
}

/** Rasterizer cameras of the frames (OpenGL camera-to-world -> internal OpenCV camera). */
export function frameCameras(frames: readonly Frame[]): Camera[] {
  return frames.map((f) =>
    cameraFromOpenGL(Array.from(f.camToWorldGL), { ...f.intrinsics, width: f.width, height: f.height })
  );
}

/** The frames' u8 RGB images as one [V, H, W, 3] f32 array in 0..1 (written into `out` when given). */
export function frameTargets(frames: readonly Frame[], out?: Float32Array): Float32Array {
  const n = frames.reduce((s, f) => s + f.image.length, 0);
  const dst = out && out.length === n ? out : new Float32Array(n);
  let at = 0;
  for (const f of frames) {
    const img = f.image;
    for (let i = 0; i < img.length; i++) dst[at + i] = img[i] / 255;
    at += img.length;
  }
  return dst;
}

/** Up to `count` frames spread evenly over `frames` (all when count is 0 or at least the length). */
export function spreadFrames<T>(frames: readonly T[], count: number): T[] {
  if (count <= 0 || count >= frames.length) return [...frames];
  return Array.from({ length: count }, (_, i) => frames[Math.floor((i * frames.length) / count)]);
}

/** 3DGS's scene scale: 1.1 times the largest distance of a camera centre from the centres' mean. */
export function cameraExtent(frames: readonly Frame[]): number {
  const centres = frames.map((f) => [3, 7, 11].map((i) => f.camToWorldGL[i]));
  const mean = [0, 1, 2].map((c) => centres.reduce((s, p) => s + p[c], 0) / Math.max(centres.length, 1));
  const r = Math.max(0, ...centres.map((p) => Math.hypot(p[0] - mean[0], p[1] - mean[1], p[2] - mean[2])));
  return 1.1 * (r > 0 ? r : 1);
}
