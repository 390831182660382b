/**
 * Generates a small dataset folder in memory (path -> bytes) for the loader and importer tests: 3 cameras on a
 * circle looking at the origin, 4 timesteps, 16x12 RGBA PNG images with transparent and half-transparent
 * pixels, one fg mask, one JPEG frame, shared intrinsics in train, per-frame intrinsics in val.
 */
import { encodeJpeg, encodePng } from "../data/image_io.ts";
import { writeNpy } from "../data/npy.ts";
import { Rng } from "../gpu/rng.ts";

export const W = 16, H = 12, FX = 20, FY = 22, CX = 8.5, CY = 6;
export const T = 4, D = 5, NCAM = 3;

/** OpenGL camera-to-world (row-major 4x4) at `eye` looking at `target` with world +y up. */
export function lookAtGL(eye: number[], target: number[]): number[][] {
  const f = target.map((t, i) => t - eye[i]);
  const norm = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const cross = (a: number[], b: number[]) => [
    a[1] * b[2] - a[2] * b[1],
    a[2] * b[0] - a[0] * b[2],
    a[0] * b[1] - a[1] * b[0],
  ];
  const z = norm(f.map((x) => -x));
  const x = norm(cross([0, 1, 0], z));
  const y = cross(z, x);
  return [[x[0], y[0], z[0], eye[0]], [x[1], y[1], z[1], eye[1]], [x[2], y[2], z[2], eye[2]], [0, 0, 0, 1]];
}

/** Camera c's eye position. */
export function eyeOf(c: number): number[] {
  const a = -0.5 + 0.5 * c;
  return [2 * Math.sin(a), 0.3 * c, 2 * Math.cos(a)];
}

/** RGBA source pixels of (camera, timestep): a gradient; x < 2 transparent, x == 2 alpha 128. */
export function sourcePixels(c: number, t: number): Uint8Array {
  const px = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      px[i] = (x * 13 + c * 40) & 255;
      px[i + 1] = (y * 17 + t * 30) & 255;
      px[i + 2] = (x * y * 3 + 7) & 255;
      px[i + 3] = x < 2 ? 0 : x === 2 ? 128 : 255;
    }
  }
  return px;
}

export interface Fixture {
  files: Map<string, Uint8Array>;
  expressions: Float32Array;
  /** Path (relative) of the JPEG frame and of the masked frame. */
  jpegFrame: string;
  maskedFrame: string;
}

/** Builds the fixture files, keys relative to the dataset root. */
export function makeFixture(seed = 1): Fixture {
  const rng = new Rng(seed);
  const files = new Map<string, Uint8Array>();
  const enc = (s: string) => new TextEncoder().encode(s);
  const expressions = rng.floats(T * D);
  files.set("expressions.npy", writeNpy(expressions, [T, D]));
  const frames: Record<string, Record<string, unknown>[]> = { train: [], val: [], test: [] };
  const jpegFrame = "images/00003_02.jpg", maskedFrame = "images/00000_01.png";
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < NCAM; c++) {
      const split = t === 3 ? "test" : c === 2 ? "val" : "train";
      const isJpeg = t === 3 && c === 2;
      const file = `images/${String(t).padStart(5, "0")}_${String(c).padStart(2, "0")}.${
        isJpeg ? "jpg" : "png"
      }`;
      const px = sourcePixels(c, t);
      files.set(file, isJpeg ? encodeJpeg(px, W, H, 4, 95) : encodePng(px, W, H, 4));
      const frame: Record<string, unknown> = {
        file_path: file,
        transform_matrix: lookAtGL(eyeOf(c), [0, 0, 0]),
        timestep_index: t,
        camera_index: c,
      };
      if (file === maskedFrame) {
        const mask = new Uint8Array(W * H * 3);
        for (let i = 0; i < W * H; i++) mask.fill(Math.floor(i / W) < 6 ? 255 : 0, i * 3, i * 3 + 3);
        files.set("fg_masks/00000_01.png", encodePng(mask, W, H, 3));
        frame.fg_mask_path = "fg_masks/00000_01.png";
      }
      if (split === "val") Object.assign(frame, { fl_x: FX, fl_y: FY, cx: CX, cy: CY, w: W, h: H });
      frames[split].push(frame);
    }
  }
  for (const split of ["train", "val", "test"]) {
    const top = split === "val"
      ? { frames: frames[split] }
      : { fl_x: FX, fl_y: FY, cx: CX, cy: CY, w: W, h: H, frames: frames[split] };
    files.set(`transforms_${split}.json`, enc(JSON.stringify(top, null, 1)));
  }
  return { files, expressions, jpegFrame, maskedFrame };
}

/** Writes fixture files under `dir`. */
export async function writeFixture(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  for (const [rel, bytes] of files) {
    const path = `${dir}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, bytes);
  }
}
