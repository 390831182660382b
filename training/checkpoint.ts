/**
 * Trainer checkpoints as bytes (no file access here; data/run_folder.ts writes them atomically).
 *
 * A checkpoint is a safetensors file. Tensors (all F32):
 *   avatar.means [N,3], avatar.quats [N,4], avatar.logScales [N,3], avatar.opacityLogits [N],
 *   avatar.sh [N,K,3], avatar.features [N,F], detail.params [P_G], field.params [P_F] (when F exists),
 *   prior.params [P_B] (when B is kept for F's fine-tuning),
 *   adam.<group>.m and adam.<group>.v [size of the group],
 *   density.stats [N,4] (density control's running statistics, density_stats.ts; absent when it is off),
 *   cnn.params [P_C] (the refinement CNN, refine_cnn.ts; absent when it is off and in older checkpoints)
 * Metadata key "npga_checkpoint": JSON { version: 1, step, salt, lrFactor, shDegree, featureDim, constants
 * (PoseConstants), adamSteps {group: step}, field (ForwardFieldConfig or null), prior (PriorConfig with the
 * identity code as a number array, or null), cnn (RefineCnnConfig, or null / absent) }.
 */
import type { AdamGroupState } from "../gpu/adam.ts";
import { readSafetensors, type WritableTensors, writeSafetensors } from "../data/safetensors.ts";
import { DataError } from "../data/errors.ts";
import { checkLength, CHECKPOINT_FIX, parseCheckpointMeta } from "./checkpoint_meta.ts";
import type { AvatarSnapshot } from "./avatar.ts";
import type { ForwardFieldConfig } from "./distill.ts";
import type { PriorConfig } from "./prior.ts";
import type { RefineCnnConfig } from "./refine_cnn.ts";

/** Everything needed to continue training exactly where it stopped. */
export interface TrainState {
  /** Steps completed. */
  step: number;
  /** Rollbacks so far (salts the frame draw so a replay does not repeat the diverging batches). */
  salt: number;
  /** Learning-rate factor (halved by each rollback). */
  lrFactor: number;
  avatar: AvatarSnapshot;
  adam: AdamGroupState[];
  /** The forward field F, when the run has one. */
  field: { config: ForwardFieldConfig; params: Float32Array } | null;
  /** The expression prior B, when F is fine-tuned (the cycle loss needs it). */
  prior: { config: PriorConfig; params: Float32Array } | null;
  /** Density control's statistics [N, 4] (density_stats.ts), or null/absent when it is off. */
  density?: Float32Array | null;
  /** The refinement CNN (refine_stage.ts), or null/absent when it is off. */
  cnn?: { config: RefineCnnConfig; params: Float32Array } | null;
}

const KEY = "npga_checkpoint";
const FIELDS = ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const;

/** Serializes a training state to safetensors bytes. */
export function encodeCheckpoint(s: TrainState): Uint8Array {
  const c = s.avatar.cloud, N = c.count, F = s.avatar.constants.featureDim;
  const K = (c.shDegree + 1) ** 2;
  const shapes: Record<typeof FIELDS[number], number[]> = {
    means: [N, 3],
    quats: [N, 4],
    logScales: [N, 3],
    opacityLogits: [N],
    sh: [N, K, 3],
    features: [N, F],
  };
  const t: WritableTensors = {};
  for (const f of FIELDS) {
    const data = f === "features" ? (c.features ?? new Float32Array(N * F)) : c[f];
    t[`avatar.${f}`] = { shape: shapes[f], data };
  }
  t["detail.params"] = { shape: [s.avatar.detailParams.length], data: s.avatar.detailParams };
  if (s.field) t["field.params"] = { shape: [s.field.params.length], data: s.field.params };
  if (s.prior) t["prior.params"] = { shape: [s.prior.params.length], data: s.prior.params };
  if (s.density) t["density.stats"] = { shape: [N, 4], data: s.density };
  if (s.cnn) t["cnn.params"] = { shape: [s.cnn.params.length], data: s.cnn.params };
  const adamSteps: Record<string, number> = {};
  for (const g of s.adam) {
    t[`adam.${g.name}.m`] = { shape: [g.m.length], data: g.m };
    t[`adam.${g.name}.v`] = { shape: [g.v.length], data: g.v };
    adamSteps[g.name] = g.step;
  }
  const meta = {
    version: 1,
    step: s.step,
    salt: s.salt,
    lrFactor: s.lrFactor,
    shDegree: c.shDegree,
    featureDim: F,
    constants: s.avatar.constants,
    adamSteps,
    field: s.field?.config ?? null,
    prior: s.prior ? { ...s.prior.config, identity: Array.from(s.prior.config.identity) } : null,
    cnn: s.cnn?.config ?? null,
  };
  return writeSafetensors(t, { [KEY]: JSON.stringify(meta) });
}

/** Parses checkpoint bytes; `file` names the source in a `DataError` when something is missing. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): TrainState {
  const st = readSafetensors(bytes, file);
  const fix = CHECKPOINT_FIX;
  const raw = st.metadata[KEY];
  if (!raw) throw new DataError(file, `has no '${KEY}' metadata`, fix);
  const meta = parseCheckpointMeta(raw, file);
  const get = (name: string): Float32Array => {
    const x = st.tensors.get(name);
    if (!x || !(x.data instanceof Float32Array)) {
      throw new DataError(file, `lacks the F32 tensor ${name}`, fix);
    }
    return x.data;
  };
  const means = get("avatar.means");
  const N = means.length / 3, K = (meta.shDegree + 1) ** 2, F = meta.featureDim;
  if (!Number.isInteger(N) || N === 0) {
    throw new DataError(
      file,
      `tensor avatar.means has ${means.length} values, not a positive multiple of 3`,
      fix,
    );
  }
  const sized = (name: string, per: number, why: string) => {
    const x = get(name);
    checkLength(file, name, x.length, N * per, `${N} Gaussians x ${why}`);
    return x;
  };
  const cloud = {
    count: N,
    shDegree: meta.shDegree,
    means,
    quats: sized("avatar.quats", 4, `4`),
    logScales: sized("avatar.logScales", 3, `3`),
    opacityLogits: sized("avatar.opacityLogits", 1, `1`),
    sh: sized("avatar.sh", K * 3, `${K} SH coefficients x 3`),
    features: sized("avatar.features", F, `${F} features`),
    featureDim: meta.featureDim,
  };
  const adam: AdamGroupState[] = Object.entries(meta.adamSteps).map(([name, step]) => {
    const m = get(`adam.${name}.m`), v = get(`adam.${name}.v`);
    checkLength(file, `adam.${name}.v`, v.length, m.length, `as many as adam.${name}.m`);
    return { name, step, m, v };
  });
  return {
    step: meta.step,
    salt: meta.salt,
    lrFactor: meta.lrFactor,
    avatar: { cloud, constants: meta.constants, detailParams: get("detail.params") },
    adam,
    field: meta.field ? { config: meta.field, params: get("field.params") } : null,
    prior: meta.prior
      ? {
        config: { ...meta.prior, identity: Float32Array.from(meta.prior.identity) },
        params: get("prior.params"),
      }
      : null,
    density: st.tensors.has("density.stats") ? sized("density.stats", 4, "4 statistics") : null,
    cnn: meta.cnn ? { config: meta.cnn, params: get("cnn.params") } : null,
  };
}
