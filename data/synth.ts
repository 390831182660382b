/**
 * Writes the built-in synthetic head as a dataset folder in the project's format (DESIGN.md section 2):
 *
 *   transforms_train.json   all cameras but the validation one, train timesteps 0..T-1
 *   transforms_val.json     the held-out camera (novel view), train timesteps
 *   transforms_test.json    all cameras, the held-out sub-sequence (timesteps T..T+T_test-1, self-reenactment)
 *   images/{cam:02d}/{t:05d}.png     RGBA (straight alpha; alpha = anti-aliased foreground coverage)
 *   fg_masks/{cam:02d}/{t:05d}.png   8-bit greyscale foreground mask (same as the alpha channel)
 *   expressions.npy         float32 [T + T_test, K] blendshape weights per timestep (the expression codes)
 *   expressions_true.npy    the codes the images were rendered with, when expressions.npy has tracking noise
 *   rig.glb                 the rig with K morph targets (names = blendshape names)
 *   dataset.json            description (written last; see `SyntheticDatasetInfo`)
 *
 * Each transforms file has shared intrinsics `fl_x fl_y cx cy w h` at the top level and `frames` with
 * `file_path`, `fg_mask_path`, `transform_matrix` (OpenGL camera-to-world, 4x4), `timestep_index`,
 * `camera_index`. Everything is written into `<out>.partial/` and renamed to `<out>` only when complete, so an
 * interrupted run never leaves a folder that looks finished. Deterministic for a seed (same bytes).
 *
 * What is rendered and what the trainer gets (`rig`: a tracked-style approximation by default, or the exact
 * rig) is set up by `prepareSynthRig` (data/synth_rig.ts); dataset.json records the kind and how far the given
 * rig is from the rendered geometry.
 */
import { encode as encodePngRaw } from "fast-png";
import type { Gpu } from "../gpu/device.ts";
import { DataError } from "./errors.ts";
import { writeRigGlb } from "./gltf_rig.ts";
import { encodePng } from "./image_io.ts";
import { writeNpy } from "./npy.ts";
import { type PinholeCamera, RigRenderer } from "./rig_renderer.ts";
import { prepareSynthRig, type SynthRigInfo, type SynthRigOptions } from "./synth_rig.ts";
import { capCameras, coveringPrimaries, expressionSequence } from "./synthetic_head_capture.ts";

/**
 * Version of the dataset written here (2: tracked-style rig and codes by default; 3: the training sequence
 * features every blendshape, `expressionSequence`).
 */
export const SYNTH_VERSION = 3;

export interface SynthOptions extends SynthRigOptions {
  out: string;
  cameras?: number;
  timesteps?: number;
  testTimesteps?: number;
  size?: number;
  seed?: number;
  /** Replace an existing dataset at `out`. */
  force?: boolean;
  /** Also write a contact sheet (4 cameras x 4 expressions) PNG to this path. */
  contactSheet?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Contents of `dataset.json`. */
export interface SyntheticDatasetInfo extends SynthRigInfo {
  format: "npga-synthetic-head";
  version: typeof SYNTH_VERSION;
  seed: number;
  /** Blendshape names: column k of expressions.npy is the weight of blendshape k (= morph target k of rig.glb). */
  blendshape_names: string[];
  /** Vertex indices of rig.glb's mesh in the mouth region (lips; teeth, tongue, cavity when it has them). */
  mouth_vertex_indices: number[];
  rig: "rig.glb";
  expressions: "expressions.npy";
  num_cameras: number;
  val_camera_indices: number[];
  train_timesteps: [number, number];
  test_timesteps: [number, number];
  width: number;
  height: number;
}

interface Frame {
  file_path: string;
  fg_mask_path: string;
  transform_matrix: number[][];
  timestep_index: number;
  camera_index: number;
}

/** Renders and writes the dataset; returns its description. Throws DataError when `out` exists without force. */
export async function writeSyntheticDataset(gpu: Gpu, opts: SynthOptions): Promise<SyntheticDatasetInfo> {
  const nCam = opts.cameras ?? 16, T = opts.timesteps ?? 60, Tt = opts.testTimesteps ?? 10;
  const size = opts.size ?? 256, seed = opts.seed ?? 1;
  if (nCam < 2) throw new Error("the synthetic dataset needs at least 2 cameras (one is held out)");
  const out = opts.out.replace(/\/+$/, "");
  if (await exists(out)) {
    if (!opts.force) {
      throw new DataError(out, "already exists", "Pass --force to replace it, or choose --out");
    }
  }
  const tmp = `${out}.partial`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });

  const setup = await prepareSynthRig(seed, opts);
  const rig = setup.full;
  const K = rig.blendshapeNames.length;
  const train = expressionSequence(T, rig.blendshapeNames, seed * 7919 + 1);
  // The test sequence: as many primaries per keyframe as the training one (its own would be more, being short).
  const test = expressionSequence(Tt, rig.blendshapeNames, seed * 7919 + 2, 4, coveringPrimaries(T, K));
  const expressions = new Float32Array((T + Tt) * K);
  expressions.set(train);
  expressions.set(test, T * K);
  const given = setup.trackCodes(expressions, [T]);
  const { cameras, valIndex } = capCameras(nCam, size, seed);

  const renderer = new RigRenderer(gpu, rig, { width: size, height: size });
  const frames = { train: [] as Frame[], val: [] as Frame[], test: [] as Frame[] };
  const sheetCams = pickSpread(nCam, 4), sheetSteps = pickExpressive(train, T, rig.blendshapeNames);
  const sheetTiles: Uint8Array[] = [];
  for (let c = 0; c < nCam; c++) await Deno.mkdir(`${tmp}/images/${pad(c, 2)}`, { recursive: true });
  for (let c = 0; c < nCam; c++) await Deno.mkdir(`${tmp}/fg_masks/${pad(c, 2)}`, { recursive: true });
  const total = T + Tt;
  for (let t = 0; t < total; t++) {
    renderer.setPositions(setup.pose(expressions.subarray(t * K, (t + 1) * K)));
    const images = await renderer.renderMany(cameras);
    for (let c = 0; c < nCam; c++) {
      const name = `${pad(c, 2)}/${pad(t, 5)}.png`;
      const img = images[c];
      const mask = new Uint8Array(size * size);
      for (let i = 0; i < mask.length; i++) mask[i] = img[i * 4 + 3];
      await Deno.writeFile(`${tmp}/images/${name}`, encodePng(img, size, size, 4));
      await Deno.writeFile(
        `${tmp}/fg_masks/${name}`,
        encodePngRaw({ width: size, height: size, data: mask, channels: 1, depth: 8 }),
      );
      const frame: Frame = {
        file_path: `images/${name}`,
        fg_mask_path: `fg_masks/${name}`,
        transform_matrix: cameras[c].c2w.map((r) => r.map(round9)),
        timestep_index: t,
        camera_index: c,
      };
      (t >= T ? frames.test : c === valIndex ? frames.val : frames.train).push(frame);
    }
    for (const st of sheetSteps) if (st === t) { for (const c of sheetCams) sheetTiles.push(images[c]); }
    opts.onProgress?.(t + 1, total);
  }
  renderer.destroy();

  const cam0 = cameras[0];
  const header = { fl_x: cam0.fx, fl_y: cam0.fy, cx: cam0.cx, cy: cam0.cy, w: size, h: size };
  for (const split of ["train", "val", "test"] as const) {
    const json = JSON.stringify({ ...header, frames: frames[split] }, null, 1);
    await Deno.writeTextFile(`${tmp}/transforms_${split}.json`, json + "\n");
  }
  await Deno.writeFile(`${tmp}/expressions.npy`, writeNpy(given, [T + Tt, K]));
  if (given !== expressions) {
    await Deno.writeFile(`${tmp}/expressions_true.npy`, writeNpy(expressions, [T + Tt, K]));
  }
  const trainerRig = setup.trainerRig;
  await Deno.writeFile(`${tmp}/rig.glb`, await writeRigGlb(trainerRig, { name: "synthetic_head" }));
  const info: SyntheticDatasetInfo = {
    format: "npga-synthetic-head",
    version: SYNTH_VERSION,
    seed,
    blendshape_names: [...trainerRig.blendshapeNames],
    mouth_vertex_indices: Array.from(trainerRig.mouthVertices),
    rig: "rig.glb",
    expressions: "expressions.npy",
    num_cameras: nCam,
    val_camera_indices: [valIndex],
    train_timesteps: [0, T],
    test_timesteps: [T, T + Tt],
    width: size,
    height: size,
    ...setup.describe(expressions, given, Tt > 0 ? [T, T + Tt] : [0, T]),
  };
  await Deno.writeTextFile(`${tmp}/dataset.json`, JSON.stringify(info, null, 1) + "\n");
  if (await exists(out)) await Deno.remove(out, { recursive: true });
  await Deno.rename(tmp, out);
  if (opts.contactSheet && sheetTiles.length) {
    const sheet = contactSheet(sheetTiles, sheetCams.length, size, size);
    const dir = opts.contactSheet.slice(0, Math.max(opts.contactSheet.lastIndexOf("/"), 0));
    if (dir) await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(opts.contactSheet, encodePng(sheet.rgb, sheet.width, sheet.height, 3));
  }
  return info;
}

/**
 * Tiles RGBA images (straight alpha) row-major into one RGB image over a grey background, `cols` per row.
 */
export function contactSheet(
  tiles: readonly Uint8Array[],
  cols: number,
  w: number,
  h: number,
): { rgb: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(tiles.length / cols), W = cols * w, H = rows * h, BG = 64;
  const rgb = new Uint8Array(W * H * 3).fill(BG);
  tiles.forEach((img, i) => {
    const ox = (i % cols) * w, oy = Math.floor(i / cols) * h;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = (y * w + x) * 4, a = img[s + 3] / 255, d = ((oy + y) * W + ox + x) * 3;
        for (let k = 0; k < 3; k++) rgb[d + k] = Math.round(img[s + k] * a + BG * (1 - a));
      }
    }
  });
  return { rgb, width: W, height: H };
}

/** `k` indices spread over 0..n-1. */
function pickSpread(n: number, k: number): number[] {
  const m = Math.min(n, k);
  return Array.from({ length: m }, (_, i) => Math.round((i * (n - 1)) / Math.max(m - 1, 1)));
}

/**
 * Four telling timesteps for the contact sheet: the start, the widest jaw opening, the strongest smile and the
 * most extreme expression overall (largest total weight), each distinct.
 */
function pickExpressive(w: Float32Array, T: number, names: readonly string[]): number[] {
  const K = names.length;
  const score = (f: (t: number) => number) => {
    let best = -1, bestT = 0;
    for (let t = 0; t < T; t++) if (!out.includes(t) && f(t) > best) [best, bestT] = [f(t), t];
    return bestT;
  };
  const weight = (t: number, name: string) => (names.includes(name) ? w[t * K + names.indexOf(name)] : 0);
  const out: number[] = [0];
  out.push(score((t) => weight(t, "jawOpen")));
  out.push(score((t) => weight(t, "mouthSmile_L") + weight(t, "mouthSmile_R")));
  out.push(score((t) => w.subarray(t * K, (t + 1) * K).reduce((a, b) => a + b, 0)));
  return out.slice(0, Math.min(4, T)).sort((a, b) => a - b);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function round9(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Camera list of a dataset written by `writeSyntheticDataset` (for tests and tools). */
export function synthCameras(nCam: number, size: number, seed: number): PinholeCamera[] {
  return capCameras(nCam, size, seed).cameras;
}
