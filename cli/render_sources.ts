/**
 * Expression sequences that drive `deno task render`: a codes array (.npy, [T, D] or [D]), an ARKit blendshape
 * CSV (Live Link Face layout, matched by name: data/arkit_csv.ts), or the timesteps of a dataset split (another
 * recording's sequence: cross-reenactment). Each becomes a `DriveSequence` of rows of the avatar's expression
 * dimension, with a label per row for frames.json.
 */
import { blendshapeKey, describeArkitMatch, isArkitBlendshape, parseArkitCsv } from "../data/arkit_csv.ts";
import type { SplitName } from "../data/dataset.ts";
import type { DatasetIndex } from "../data/dataset_index.ts";
import { DataError } from "../data/errors.ts";
import { npyToFloat32, readNpy } from "../data/npy.ts";
import { UsageError } from "./command.ts";

/** Expression codes to render, one frame per row. */
export interface DriveSequence {
  /** Row-major float32 [frames, dim]. */
  codes: Float32Array;
  frames: number;
  dim: number;
  /** Frame rate the sequence plays at (frames.json, the ffmpeg hint). */
  fps: number;
  /** Where each row came from ("row 3", "timestep 61", "14:03:52:28.207"). */
  labels: string[];
  /** Lines to print about the source (column matching, missing dimensions). */
  notes: string[];
}

/** The neutral expression (all zeros), one frame. */
export function neutralSequence(dim: number, fps: number): DriveSequence {
  return { codes: new Float32Array(dim), frames: 1, dim, fps, labels: ["neutral"], notes: [] };
}

/** Codes from .npy bytes: float [T, D] or [D]; D must be the avatar's expression dimension. */
export function npySequence(bytes: Uint8Array, file: string, dim: number, fps: number): DriveSequence {
  const a = readNpy(bytes, file);
  if (!/^[<>=|]?f[248]$/.test(a.dtype)) {
    throw new DataError(file, `has dtype '${a.dtype}', expected float32 (float16/float64 also accepted)`);
  }
  const shape = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  if (shape.length !== 2 || shape[1] !== dim) {
    throw new DataError(
      file,
      `has shape [${a.shape}], expected [T, ${dim}] (the avatar has ${dim} expression dimensions)`,
    );
  }
  const codes = npyToFloat32(a);
  const bad = codes.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new DataError(file, `has a non-finite value at row ${Math.floor(bad / dim)}`);
  if (shape[0] === 0) throw new DataError(file, "has no rows");
  const labels = Array.from({ length: shape[0] }, (_, t) => `row ${t}`);
  return { codes, frames: shape[0], dim, fps, labels, notes: [] };
}

/**
 * Codes from an ARKit CSV for an avatar whose expression dimensions are named `names`. With `fps` the take is
 * resampled to that rate (linear interpolation over the rows' timecodes); without, one frame per row at the
 * take's own rate.
 */
export function csvSequence(
  text: string,
  file: string,
  names: readonly string[] | null,
  fps?: number,
): DriveSequence {
  if (!names) {
    throw new UsageError(
      `${file}: CSV driving needs the names of the avatar's expression dimensions, and none are known (no ` +
        "blendshape_names in its dataset's dataset.json, or the dataset was not found): give the avatar's " +
        "dataset with --data DIR, or drive it with --expressions CODES.npy",
    );
  }
  if (!names.some(isArkitBlendshape)) {
    throw new UsageError(
      `${file}: CSV driving needs an avatar whose expression dimensions are ARKit-named blendshapes ` +
        `(e.g. jawOpen, eyeBlink_L); this avatar's are ${names.slice(0, 4).join(", ")}${
          names.length > 4 ? ", ..." : ""
        } (a FLAME/NeRSemble code, say). Drive it with --expressions CODES.npy or --split SPLIT instead`,
    );
  }
  const s = parseArkitCsv(text, names, file);
  const notes = [`${file}: ${describeArkitMatch(s)}`];
  if (s.matched.length === 0) {
    throw new DataError(file, "has no column that matches any of the avatar's expression names", notes[0]);
  }
  if (!fps || s.frames === 1) {
    const labels = s.timecodes.map((tc, t) => tc || `row ${t}`);
    return { codes: s.codes, frames: s.frames, dim: s.dim, fps: fps ?? s.fps, labels, notes };
  }
  const D = s.dim, end = s.seconds[s.frames - 1];
  const T = Math.floor(end * fps + 1e-6) + 1;
  const codes = new Float32Array(T * D), labels: string[] = [];
  let j = 0;
  for (let t = 0; t < T; t++) {
    const time = t / fps;
    while (j + 1 < s.frames - 1 && s.seconds[j + 1] <= time) j++;
    const t0 = s.seconds[j], t1 = s.seconds[Math.min(j + 1, s.frames - 1)];
    const w = t1 > t0 ? Math.min(Math.max((time - t0) / (t1 - t0), 0), 1) : 0;
    const k = Math.min(j + 1, s.frames - 1);
    for (let d = 0; d < D; d++) codes[t * D + d] = (1 - w) * s.codes[j * D + d] + w * s.codes[k * D + d];
    labels.push(`${time.toFixed(3)} s`);
  }
  notes.push(`${file}: resampled ${s.frames} rows at ${s.fps} fps to ${T} frames at ${fps} fps`);
  return { codes, frames: T, dim: D, fps, labels, notes };
}

/**
 * The expression codes of a dataset split's timesteps, in order (cross-reenactment: another recording drives
 * the avatar). When both the avatar and the dataset name their dimensions and the names differ, dimensions are
 * matched by name (missing ones zero); otherwise the dimensions must agree.
 */
export function datasetSequence(
  index: DatasetIndex,
  split: SplitName,
  avatarNames: readonly string[] | null,
  dim: number,
  fps: number,
): DriveSequence {
  const steps = index.splitTimesteps[split];
  if (steps.length === 0) {
    throw new DataError(
      `${index.root}/transforms_${split}.json`,
      `has no frames (the '${split}' split is empty)`,
    );
  }
  const D = index.expressionDim, notes: string[] = [];
  let map: number[]; // avatar dimension -> dataset column (-1: zero)
  const names = index.blendshapeNames;
  if (avatarNames && names && avatarNames.join("\n") !== names.join("\n")) {
    const col = new Map(names.map((n, i) => [blendshapeKey(n), i]));
    map = avatarNames.map((n) => col.get(blendshapeKey(n)) ?? -1);
    const missing = avatarNames.filter((_, d) => map[d] < 0);
    if (missing.length === avatarNames.length) {
      throw new DataError(index.root, "names none of the avatar's expression dimensions in dataset.json");
    }
    notes.push(`${index.root}: expression dimensions matched by name, ${dim - missing.length} of ${dim}`);
    if (missing.length) notes.push(`  missing (held at 0): ${missing.join(", ")}`);
  } else {
    if (D !== dim) {
      throw new DataError(
        index.root,
        `has ${D} expression dimensions, the avatar ${dim}`,
        "Drive the avatar with a recording tracked in the same expression space",
      );
    }
    map = Array.from({ length: dim }, (_, d) => d);
  }
  const codes = new Float32Array(steps.length * dim);
  steps.forEach((t, r) => {
    for (let d = 0; d < dim; d++) if (map[d] >= 0) codes[r * dim + d] = index.expressions[t * D + map[d]];
  });
  notes.push(
    `${index.root}: '${split}' split, timesteps ${steps[0]}..${steps.at(-1)} (${steps.length} frames)`,
  );
  return { codes, frames: steps.length, dim, fps, labels: steps.map((t) => `timestep ${t}`), notes };
}

/** Rows `every`-th apart, or the single row `frame`. */
export function selectFrames(s: DriveSequence, opts: { frame?: number; every?: number }): DriveSequence {
  let rows: number[];
  if (opts.frame !== undefined) {
    if (opts.frame >= s.frames) {
      throw new UsageError(
        `--frame ${opts.frame} is out of range: the sequence has ${s.frames} frames (0..${s.frames - 1})`,
      );
    }
    rows = [opts.frame];
  } else {
    const k = opts.every ?? 1;
    rows = Array.from({ length: Math.ceil(s.frames / k) }, (_, i) => i * k);
  }
  if (rows.length === s.frames) return s;
  const codes = new Float32Array(rows.length * s.dim);
  rows.forEach((r, i) => codes.set(s.codes.subarray(r * s.dim, (r + 1) * s.dim), i * s.dim));
  return {
    ...s,
    codes,
    frames: rows.length,
    fps: opts.frame === undefined ? s.fps / (opts.every ?? 1) : s.fps,
    labels: rows.map((r) => s.labels[r]),
  };
}
