/**
 * Dataset loader for the GaussianAvatars / nerfstudio folder convention (DESIGN.md section 2):
 *
 * ```
 * ROOT/transforms_train.json   required
 * ROOT/transforms_val.json     optional (held-out cameras: novel view)
 * ROOT/transforms_test.json    optional (held-out timesteps: self-reenactment)
 * ROOT/expressions.npy         float32 [T, D], or else
 * ROOT/flame_param/{t:05d}.npz key 'expr', float [D] or [1, D], one per referenced timestep
 * ROOT/<file_path>             PNG (8/16-bit gray/RGB/RGBA/palette) or JPEG images
 * ROOT/<fg_mask_path>          optional foreground masks (gray, or alpha of an RGBA PNG)
 * ```
 *
 * Each transforms file has `frames` and optionally shared intrinsics `fl_x fl_y cx cy w h` (per-frame values
 * override them); each frame has `file_path`, `transform_matrix` (OpenGL camera-to-world), `timestep_index`,
 * `camera_index`, optional `fg_mask_path`. Images are decoded once, composited onto the background colour
 * (by alpha and/or mask), box-downscaled, and kept as RGB u8. Every bad input raises one `DataError` naming the
 * file and the problem. File access goes through a `FileSource`, so the loader also runs in a browser.
 */
import { glCamToWorldToCvWorldToCam, type Intrinsics } from "./camera.ts";
import { type FrameRecord, parseTransforms, type SplitName } from "./dataset_schema.ts";
import { DataError } from "./errors.ts";
import { loadExpressions } from "./expressions.ts";
import { denoFiles, type FileSource, joinPath } from "./file_source.ts";
import { decodeImage } from "./image_io.ts";
import { compositeOnBackground, downscaleBox, maskFromImage } from "./image_ops.ts";

export type { SplitName } from "./dataset_schema.ts";
export type { Intrinsics } from "./camera.ts";

/** One training/evaluation image with its camera and timestep, after compositing and downscaling. */
export interface Frame {
  /** RGB u8, row-major, top row first, length width*height*3, composited onto `Dataset.background`. */
  image: Uint8Array;
  /** Foreground coverage u8 [width*height] (fg mask times alpha) when the frame had a mask or alpha. */
  mask?: Uint8Array;
  width: number;
  height: number;
  /** Pinhole intrinsics in pixels of this (downscaled) image; pixel centres at +0.5. */
  intrinsics: Intrinsics;
  /** OpenGL camera-to-world (x right, y up, looks down -z), row-major 4x4, as in the transforms file. */
  camToWorldGL: Float64Array;
  /** OpenCV world-to-camera (x right, y down, looks down +z), row-major 4x4: the rasterizer's convention. */
  worldToCamCV: Float64Array;
  /** Row of `Dataset.expressions` holding this frame's expression code. */
  timestep: number;
  /** `camera_index` of the frame (index into `Dataset.cameras` by `.index`). */
  camera: number;
  split: SplitName;
  /** Image path relative to the dataset root (for messages and dashboards). */
  file: string;
}

/** A capture camera as first seen in the transforms files (sizes/intrinsics after downscaling). */
export interface CameraInfo {
  index: number;
  width: number;
  height: number;
  intrinsics: Intrinsics;
  camToWorldGL: Float64Array;
  worldToCamCV: Float64Array;
}

/** A loaded dataset. */
export interface Dataset {
  root: string;
  /** D: length of one expression code. */
  expressionDim: number;
  /** Row-major float32 [timesteps, expressionDim]. */
  expressions: Float32Array;
  timesteps: number;
  /** Cameras sorted by `index` (only indices that occur in some frame). */
  cameras: CameraInfo[];
  /** Frames per split in file order; splits not requested or without a transforms file are empty. */
  splits: Record<SplitName, Frame[]>;
  /** Background colour the images were composited onto, RGB in 0..1. */
  background: [number, number, number];
}

/** Options of `loadDataset`. */
export interface LoadDatasetOptions {
  /** Where files come from (default: local disk via Deno). */
  files?: FileSource;
  /** Integer downscale factor (box filter); 1 keeps full resolution. Default 1. */
  downscale?: number;
  /** Background colour (RGB 0..1) for RGBA / masked images. Default white [1, 1, 1]. */
  background?: [number, number, number];
  /** Composite RGBA images onto the background by their alpha (else alpha is ignored). Default true. */
  useAlpha?: boolean;
  /** Read `fg_mask_path` masks and composite by them. Default true. */
  useMasks?: boolean;
  /** Splits whose images to decode (all transforms files present are still validated). Default all three. */
  splits?: SplitName[];
  /** Called after each image is decoded. */
  onProgress?: (done: number, total: number, file: string) => void;
  /** Images read/decoded concurrently. Default 4. */
  concurrency?: number;
}

const SPLITS: SplitName[] = ["train", "val", "test"];

async function loadFrame(
  files: FileSource,
  root: string,
  rec: FrameRecord,
  transformsFile: string,
  opts: Required<Pick<LoadDatasetOptions, "downscale" | "background" | "useAlpha" | "useMasks">>,
): Promise<Frame> {
  const path = joinPath(root, rec.filePath);
  const img = decodeImage(await files.readFile(path), path);
  if ((rec.w !== undefined && rec.w !== img.width) || (rec.h !== undefined && rec.h !== img.height)) {
    throw new DataError(
      path,
      `image is ${img.width}x${img.height} but ${transformsFile} frames[${rec.index}] intrinsics say ` +
        `w=${rec.w ?? "?"} h=${rec.h ?? "?"} (image size does not match the intrinsics)`,
    );
  }
  let mask: Uint8Array | undefined;
  if (opts.useMasks && rec.maskPath !== undefined) {
    const mpath = joinPath(root, rec.maskPath);
    const m = decodeImage(await files.readFile(mpath), mpath);
    if (m.width !== img.width || m.height !== img.height) {
      throw new DataError(
        mpath,
        `mask is ${m.width}x${m.height} but its image ${path} is ${img.width}x${img.height}`,
      );
    }
    mask = maskFromImage(m);
  }
  const { rgb, coverage } = compositeOnBackground(img, mask, opts.background, opts.useAlpha);
  const k = opts.downscale;
  const small = downscaleBox(rgb, img.width, img.height, 3, k);
  const smallMask = coverage ? downscaleBox(coverage, img.width, img.height, 1, k).data : undefined;
  const intrinsics = {
    fx: rec.fx / k,
    fy: rec.fy / k,
    cx: (rec.cx ?? img.width / 2) / k,
    cy: (rec.cy ?? img.height / 2) / k,
  };
  return {
    image: small.data,
    mask: smallMask,
    width: small.width,
    height: small.height,
    intrinsics,
    camToWorldGL: rec.camToWorldGL,
    worldToCamCV: glCamToWorldToCvWorldToCam(rec.camToWorldGL),
    timestep: rec.timestep,
    camera: rec.camera,
    split: rec.split,
    file: rec.filePath,
  };
}

/**
 * Loads the dataset folder `root` (see the module comment for the layout). Throws `DataError` naming the file
 * and the problem for: a missing `transforms_train.json`; malformed transforms; non-finite or non-rigid
 * transforms; missing, unreadable or corrupt images and masks; image size not matching the intrinsics; a mask
 * size not matching its image; expression files of the wrong shape or dtype; timesteps referenced but missing.
 */
export async function loadDataset(root: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const files = options.files ?? denoFiles;
  const downscale = options.downscale ?? 1;
  if (!Number.isInteger(downscale) || downscale < 1) {
    throw new RangeError(`downscale must be a positive integer, got ${downscale}`);
  }
  const background = options.background ?? [1, 1, 1];
  const opts = {
    downscale,
    background,
    useAlpha: options.useAlpha ?? true,
    useMasks: options.useMasks ?? true,
  };
  const wanted = new Set(options.splits ?? SPLITS);

  const records: Record<SplitName, FrameRecord[]> = { train: [], val: [], test: [] };
  const fileOf: Record<SplitName, string> = { train: "", val: "", test: "" };
  for (const split of SPLITS) {
    const path = joinPath(root, `transforms_${split}.json`);
    fileOf[split] = path;
    if (split !== "train" && !(await files.exists(path))) continue;
    const bytes = await files.readFile(path).catch((e) => {
      if (split === "train" && e instanceof DataError && /missing/.test(e.message)) {
        throw new DataError(path, "is missing: not a dataset folder (expected transforms_train.json)");
      }
      throw e;
    });
    records[split] = parseTransforms(new TextDecoder().decode(bytes), path, split);
  }
  if (records.train.length === 0) throw new DataError(fileOf.train, "has no frames");

  const uses = SPLITS.flatMap((s) =>
    records[s].map((r) => ({ timestep: r.timestep, file: fileOf[s], where: `frames[${r.index}]` }))
  );
  const expr = await loadExpressions(files, root, uses);

  const jobs = SPLITS.filter((s) => wanted.has(s)).flatMap((s) => records[s]);
  const out: Frame[] = new Array(jobs.length);
  let next = 0, done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      const rec = jobs[i];
      out[i] = await loadFrame(files, root, rec, fileOf[rec.split], opts);
      done++;
      options.onProgress?.(done, jobs.length, rec.filePath);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  const splits: Record<SplitName, Frame[]> = { train: [], val: [], test: [] };
  const cameras = new Map<number, CameraInfo>();
  for (const f of out) {
    splits[f.split].push(f);
    if (!cameras.has(f.camera)) {
      cameras.set(f.camera, {
        index: f.camera,
        width: f.width,
        height: f.height,
        intrinsics: f.intrinsics,
        camToWorldGL: f.camToWorldGL,
        worldToCamCV: f.worldToCamCV,
      });
    }
  }
  return {
    root,
    expressionDim: expr.dim,
    expressions: expr.codes,
    timesteps: expr.timesteps,
    cameras: [...cameras.values()].sort((a, b) => a.index - b.index),
    splits,
    background: [background[0], background[1], background[2]],
  };
}
