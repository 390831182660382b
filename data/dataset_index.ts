/**
 * A dataset folder's cameras, expression codes and split timesteps without decoding its images (for driving and
 * rendering a trained avatar: `deno task render --data DIR --split test`, `--camera data:ID`). Reads the
 * transforms files and the expression codes like data/dataset.ts; image sizes come from the first image header
 * of a camera when the transforms file does not give `w`/`h`. Blendshape names come from `dataset.json`
 * (`blendshape_names`) when present.
 */
import type { CameraInfo, SplitName } from "./dataset.ts";
import { glCamToWorldToCvWorldToCam } from "./camera.ts";
import { type FrameRecord, parseTransforms } from "./dataset_schema.ts";
import { DataError } from "./errors.ts";
import { loadExpressions } from "./expressions.ts";
import { denoFiles, type FileSource, joinPath } from "./file_source.ts";
import { imageSize } from "./image_io.ts";

/** What `readDatasetIndex` returns. */
export interface DatasetIndex {
  root: string;
  /** D: length of one expression code. */
  expressionDim: number;
  /** Row-major float32 [timesteps, expressionDim]. */
  expressions: Float32Array;
  timesteps: number;
  /** Sorted distinct timesteps of each split (empty when the split has no transforms file). */
  splitTimesteps: Record<SplitName, number[]>;
  /** Cameras sorted by index, at full image resolution. */
  cameras: CameraInfo[];
  /** `blendshape_names` of dataset.json when it has one name per expression dimension, else null. */
  blendshapeNames: string[] | null;
}

const SPLITS: SplitName[] = ["train", "val", "test"];

async function readNames(files: FileSource, root: string, dim: number): Promise<string[] | null> {
  const path = joinPath(root, "dataset.json");
  if (!(await files.exists(path))) return null;
  try {
    const n = JSON.parse(new TextDecoder().decode(await files.readFile(path)))?.blendshape_names;
    return Array.isArray(n) && n.length === dim && n.every((x) => typeof x === "string") ? n : null;
  } catch {
    return null;
  }
}

async function cameraOf(files: FileSource, root: string, rec: FrameRecord): Promise<CameraInfo> {
  let w = rec.w, h = rec.h;
  if (w === undefined || h === undefined) {
    const path = joinPath(root, rec.filePath);
    const size = imageSize(await files.readFile(path), path);
    w ??= size.width;
    h ??= size.height;
  }
  return {
    index: rec.camera,
    width: w,
    height: h,
    intrinsics: { fx: rec.fx, fy: rec.fy, cx: rec.cx ?? w / 2, cy: rec.cy ?? h / 2 },
    camToWorldGL: rec.camToWorldGL,
    worldToCamCV: glCamToWorldToCvWorldToCam(rec.camToWorldGL),
  };
}

/**
 * Reads the index of the dataset folder `root`. Throws `DataError` for a folder without
 * `transforms_train.json`, malformed transforms, or missing/misshapen expression codes (as `loadDataset` does).
 */
export async function readDatasetIndex(root: string, files: FileSource = denoFiles): Promise<DatasetIndex> {
  const records: Record<SplitName, FrameRecord[]> = { train: [], val: [], test: [] };
  const fileOf: Record<SplitName, string> = { train: "", val: "", test: "" };
  for (const split of SPLITS) {
    const path = joinPath(root, `transforms_${split}.json`);
    fileOf[split] = path;
    if (!(await files.exists(path))) {
      if (split === "train") {
        throw new DataError(path, "is missing: not a dataset folder (expected transforms_train.json)");
      }
      continue;
    }
    records[split] = parseTransforms(new TextDecoder().decode(await files.readFile(path)), path, split);
  }
  const uses = SPLITS.flatMap((s) =>
    records[s].map((r) => ({ timestep: r.timestep, file: fileOf[s], where: `frames[${r.index}]` }))
  );
  if (uses.length === 0) throw new DataError(fileOf.train, "has no frames");
  const expr = await loadExpressions(files, root, uses);
  const firstOfCamera = new Map<number, FrameRecord>();
  for (const s of SPLITS) {
    for (const r of records[s]) if (!firstOfCamera.has(r.camera)) firstOfCamera.set(r.camera, r);
  }
  const cameras = await Promise.all([...firstOfCamera.values()].map((r) => cameraOf(files, root, r)));
  const splitTimesteps = {} as Record<SplitName, number[]>;
  for (const s of SPLITS) {
    splitTimesteps[s] = [...new Set(records[s].map((r) => r.timestep))].sort((a, b) => a - b);
  }
  return {
    root,
    expressionDim: expr.dim,
    expressions: expr.codes,
    timesteps: expr.timesteps,
    splitTimesteps,
    cameras: cameras.sort((a, b) => a.index - b.index),
    blendshapeNames: await readNames(files, root, expr.dim),
  };
}
