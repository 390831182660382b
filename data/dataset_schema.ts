/**
 * Parsing and validation of `transforms_{train,val,test}.json` (GaussianAvatars / nerfstudio convention) into
 * plain frame records; no file access. See data/dataset.ts for the folder layout and the loaded types.
 */
import { parseRigid } from "./camera.ts";
import { DataError } from "./errors.ts";

export type SplitName = "train" | "val" | "test";

/** One frame entry of a transforms file, validated, before its image is read. */
export interface FrameRecord {
  split: SplitName;
  /** Position in the file's `frames` array. */
  index: number;
  /** Image path relative to the dataset root. */
  filePath: string;
  /** Foreground mask path relative to the dataset root, if given. */
  maskPath?: string;
  /** OpenGL camera-to-world, row-major 4x4, checked finite and rigid. */
  camToWorldGL: Float64Array;
  timestep: number;
  camera: number;
  /** Focal lengths; principal point and size when the file gives them (else taken from the image). */
  fx: number;
  fy: number;
  cx?: number;
  cy?: number;
  w?: number;
  h?: number;
}

function num(v: unknown, file: string, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new DataError(file, `${what} must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function index(v: unknown, file: string, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new DataError(file, `${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Parses the text of one transforms file. Shared intrinsics at the top level (`fl_x fl_y cx cy w h`) are
 * overridden by per-frame ones. Throws `DataError(file, ...)` naming the frame for malformed JSON, a missing
 * `frames` array, missing or invalid `file_path` / `transform_matrix` / `timestep_index` / `camera_index`, a
 * non-finite or non-rigid transform, missing or non-positive focal length, or non-positive sizes.
 */
export function parseTransforms(text: string, file: string, split: SplitName): FrameRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    if (/\b(NaN|-?Infinity)\b/.test(text)) {
      throw new DataError(file, "contains NaN or Infinity (non-finite values are not allowed in transforms)");
    }
    throw new DataError(file, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || !Array.isArray((json as { frames?: unknown }).frames)) {
    throw new DataError(file, "no 'frames' array at the top level");
  }
  const top = json as Record<string, unknown> & { frames: unknown[] };
  return top.frames.map((f, i) => {
    const where = `frames[${i}]`;
    if (typeof f !== "object" || f === null) throw new DataError(file, `${where} is not an object`);
    const fr = f as Record<string, unknown>;
    const pick = (key: string) => num(fr[key] ?? top[key], file, `${where}.${key}`);
    if (typeof fr.file_path !== "string" || fr.file_path.length === 0) {
      throw new DataError(file, `${where} has no 'file_path'`);
    }
    if (fr.fg_mask_path !== undefined && typeof fr.fg_mask_path !== "string") {
      throw new DataError(file, `${where}.fg_mask_path must be a string`);
    }
    if (fr.transform_matrix === undefined) throw new DataError(file, `${where} has no 'transform_matrix'`);
    const camToWorldGL = parseRigid(fr.transform_matrix, file, `${where}.transform_matrix`);
    const timestep = index(fr.timestep_index, file, `${where}.timestep_index`);
    const camera = index(fr.camera_index, file, `${where}.camera_index`);
    const fx = pick("fl_x");
    const fy = pick("fl_y") ?? fx;
    if (fx === undefined || fy === undefined) {
      throw new DataError(
        file,
        `${where} has no focal length: give 'fl_x' (and 'fl_y') per frame or at the top`,
      );
    }
    if (fx <= 0 || fy <= 0) throw new DataError(file, `${where} has a non-positive focal length`);
    const w = pick("w"), h = pick("h");
    for (const [k, v] of [["w", w], ["h", h]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v <= 0)) {
        throw new DataError(file, `${where}.${k} must be a positive integer, got ${v}`);
      }
    }
    return {
      split,
      index: i,
      filePath: fr.file_path,
      maskPath: fr.fg_mask_path as string | undefined,
      camToWorldGL,
      timestep,
      camera,
      fx,
      fy,
      cx: pick("cx"),
      cy: pick("cy"),
      w,
      h,
    };
  });
}
