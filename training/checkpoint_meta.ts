/**
 * Validation of a checkpoint's metadata and tensor sizes (checkpoint.ts), so that a damaged or foreign file
 * fails with one `DataError` naming the file and the first thing wrong, never with a raw stack or a GPU error
 * later on.
 */
import { DataError } from "../data/errors.ts";
import type { ForwardFieldConfig } from "./distill.ts";
import type { PoseConstants } from "./pose.ts";
import type { PriorConfig } from "./prior.ts";
import type { RefineCnnConfig } from "./refine_cnn.ts";

/** The "npga_checkpoint" metadata, as stored. */
export interface CheckpointMeta {
  version: number;
  step: number;
  salt: number;
  lrFactor: number;
  shDegree: number;
  featureDim: number;
  constants: PoseConstants;
  adamSteps: Record<string, number>;
  field: ForwardFieldConfig | null;
  prior: (Omit<PriorConfig, "identity"> & { identity: number[] }) | null;
  cnn?: RefineCnnConfig | null;
}

export const CHECKPOINT_FIX =
  "The checkpoint may come from another version or be damaged; resume from another checkpoint or start a new run";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and checks the metadata JSON; `file` names the checkpoint in the error. */
export function parseCheckpointMeta(raw: string, file: string): CheckpointMeta {
  const fail = (problem: string): never => {
    throw new DataError(file, problem, CHECKPOINT_FIX);
  };
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch (e) {
    return fail(`has unreadable checkpoint metadata (${(e as Error).message})`);
  }
  if (!isObj(m)) return fail("has checkpoint metadata that is not a JSON object");
  if (m.version !== 1) return fail(`checkpoint version ${JSON.stringify(m.version)} is not supported`);
  const int = (o: Obj, k: string, what: string, lo = 0, hi = Number.MAX_SAFE_INTEGER) => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      fail(`metadata ${what} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    }
  };
  const finite = (o: Obj, k: string, what: string) => {
    if (typeof o[k] !== "number" || !Number.isFinite(o[k])) {
      fail(`metadata ${what} must be a finite number, got ${JSON.stringify(o[k])}`);
    }
  };
  int(m, "step", "step");
  int(m, "salt", "salt");
  finite(m, "lrFactor", "lrFactor");
  int(m, "shDegree", "shDegree", 0, 3);
  int(m, "featureDim", "featureDim", 0, 32);
  const c = m.constants;
  if (!isObj(c)) return fail("metadata lacks the posing constants");
  for (const k of ["featureDim", "exprDim", "shDegree"]) int(c, k, `constants.${k}`, 0, 4096);
  finite(c, "extent", "constants.extent");
  finite(c, "positionScale", "constants.positionScale");
  if (!Array.isArray(c.center) || c.center.length !== 3 || !c.center.every(Number.isFinite)) {
    fail("metadata constants.center must be 3 numbers");
  }
  if (c.featureDim !== m.featureDim || c.shDegree !== m.shDegree) {
    fail("metadata constants disagree with featureDim / shDegree");
  }
  const a = m.adamSteps;
  if (!isObj(a)) return fail("metadata lacks the optimizer steps (adamSteps)");
  for (const k of Object.keys(a)) int(a, k, `adamSteps.${k}`);
  for (const k of ["field", "prior", "cnn"]) {
    if (m[k] !== undefined && m[k] !== null && !isObj(m[k])) fail(`metadata ${k} must be an object or null`);
  }
  if (isObj(m.prior) && !(Array.isArray(m.prior.identity) && m.prior.identity.every(Number.isFinite))) {
    fail("metadata prior.identity must be an array of numbers");
  }
  return m as unknown as CheckpointMeta;
}

/** Checks that a tensor has `want` floats; `what` names it. */
export function checkLength(file: string, name: string, got: number, want: number, why: string): void {
  if (got !== want) {
    throw new DataError(file, `tensor ${name} has ${got} values, expected ${want} (${why})`, CHECKPOINT_FIX);
  }
}
