/**
 * Expression codes of a dataset: `expressions.npy` (float [T, D]) or, failing that, one
 * `flame_param/{t:05d}.npz` per referenced timestep with key `expr` (float [D] or [1, D]).
 */
import { DataError } from "./errors.ts";
import { type FileSource, joinPath } from "./file_source.ts";
import { type NpyArray, npyToFloat32, readNpy } from "./npy.ts";
import { readNpzKey } from "./npz.ts";

/** Expression codes, row t = code of timestep t. */
export interface ExpressionTable {
  /** Row-major [timesteps, dim] float32. */
  codes: Float32Array;
  dim: number;
  timesteps: number;
  /** The file(s) they came from, for messages ("expressions.npy" or "flame_param/*.npz"). */
  source: string;
}

/** A timestep a frame uses, and which transforms file / frame uses it (for error messages). */
export interface TimestepUse {
  timestep: number;
  file: string;
  where: string;
}

function checkFloat(a: NpyArray, file: string, what: string): Float32Array {
  if (!/^[<>=|]?f[248]$/.test(a.dtype)) {
    throw new DataError(
      file,
      `${what} has dtype '${a.dtype}', expected float32 (float16/float64 also accepted)`,
    );
  }
  const f = npyToFloat32(a);
  const bad = f.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new DataError(file, `${what} has a non-finite value at flat index ${bad}`);
  return f;
}

/**
 * Loads the expression codes under `root` for the timesteps `uses` references. Throws `DataError` when neither
 * source exists, when `expressions.npy` is not a 2-D float array or is missing referenced timesteps, or when a
 * referenced `flame_param/{t:05d}.npz` is missing, lacks `expr`, or its size differs from the others.
 */
export async function loadExpressions(
  files: FileSource,
  root: string,
  uses: TimestepUse[],
): Promise<ExpressionTable> {
  const npyPath = joinPath(root, "expressions.npy");
  const maxUse = uses.reduce((a, u) => (u.timestep > a.timestep ? u : a), uses[0]);
  if (await files.exists(npyPath)) {
    const a = readNpy(await files.readFile(npyPath), npyPath);
    if (a.shape.length !== 2) {
      throw new DataError(npyPath, `expected shape [T, D] (timesteps x expression dims), got [${a.shape}]`);
    }
    const codes = checkFloat(a, npyPath, "expression array");
    const [T, D] = a.shape;
    if (maxUse && maxUse.timestep >= T) {
      throw new DataError(
        npyPath,
        `has ${T} timesteps but ${maxUse.file} ${maxUse.where} references timestep ${maxUse.timestep} ` +
          `(timesteps referenced but missing)`,
      );
    }
    return { codes, dim: D, timesteps: T, source: npyPath };
  }
  const needed = [...new Map(uses.map((u) => [u.timestep, u])).values()].sort((a, b) =>
    a.timestep - b.timestep
  );
  const first = needed.length
    ? joinPath(root, "flame_param", `${String(needed[0].timestep).padStart(5, "0")}.npz`)
    : "";
  if (!needed.length || !(await files.exists(first))) {
    throw new DataError(
      root,
      "no expression codes found",
      "Provide expressions.npy (float32 [T, D]) or flame_param/{t:05d}.npz with key 'expr' per timestep",
    );
  }
  const T = needed[needed.length - 1].timestep + 1;
  let dim = -1;
  let codes = new Float32Array(0);
  for (const u of needed) {
    const path = joinPath(root, "flame_param", `${String(u.timestep).padStart(5, "0")}.npz`);
    if (!(await files.exists(path))) {
      throw new DataError(path, `is missing, but ${u.file} ${u.where} references timestep ${u.timestep}`);
    }
    const a = readNpzKey(await files.readFile(path), path, "expr");
    if (a.shape.length > 2 || (a.shape.length === 2 && a.shape[0] !== 1) || a.shape.length === 0) {
      throw new DataError(path, `'expr' must have shape [D] or [1, D], got [${a.shape}]`);
    }
    const e = checkFloat(a, path, "'expr'");
    if (dim < 0) {
      dim = e.length;
      codes = new Float32Array(T * dim);
    } else if (e.length !== dim) {
      throw new DataError(path, `'expr' has ${e.length} values but earlier timesteps have ${dim}`);
    }
    codes.set(e, u.timestep * dim);
  }
  return { codes, dim, timesteps: T, source: joinPath(root, "flame_param") };
}
