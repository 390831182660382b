/**
 * Adaptive density control decisions and the rewrite of every per-Gaussian array (CPU side, run only at density
 * steps; densifier.ts reads the GPU state back, calls these and uploads the result).
 *
 * `planDensity` decides per Gaussian from the statistics of density_stats.ts:
 *  - prune: opacity below `minOpacity`, largest scale above `maxWorldSize` x the scene extent, or no
 *    contribution to any rendered pixel for more than `maxInvisibleSteps` steps;
 *  - densify (not pruned, judged on at least `minViews` views, mean NDC gradient norm >= `gradThreshold`):
 *    clone when its largest scale is at most `splitScale` x the scene extent, split otherwise.
 *    The mean gradient divides by the views in the frustum ("basic", as 3DGS) or by the views in steps where
 *    the Gaussian contributed ("dynamic", NPGA: Gaussians seen only in some expressions still densify).
 *  - cap: each clone or split adds one Gaussian; when the candidates exceed `maxGaussians` minus the Gaussians
 *    kept, those with the highest mean gradient win (ties: lower index).
 *
 * `applyDensity` builds the new arrays in the order [kept originals (in order), clones, split children (two per
 * source)]. Clones copy their source; split children are drawn from the source's Gaussian (seeded `Rng`) with
 * scales / 1.6, other attributes copied; split sources are removed. Adam moments of the per-Gaussian groups
 * follow their Gaussians (new ones start at zero; step counts unchanged); other groups pass through. The
 * statistics restart (gradient sums and view counts zero) except each kept Gaussian's steps since it last
 * contributed (new Gaussians: 0).
 */
import type { AdamGroupState } from "../gpu/adam.ts";
import type { Rng } from "../gpu/rng.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { quatToRot } from "../render/rasterize_cpu.ts";
import { CANONICAL_FIELDS } from "./avatar.ts";
import { STATS_STRIDE } from "./density_stats.ts";

/** How the mean gradient is normalized (see the module comment). */
export type DensityMode = "dynamic" | "basic";

/** Thresholds of one density-control step. */
export interface DensitySettings {
  mode: DensityMode;
  /** Mean NDC 2D gradient norm at or above which a Gaussian is densified (3DGS: 2e-4). */
  gradThreshold: number;
  /** Views (the mode's denominator) a Gaussian needs before it is judged for densification. */
  minViews: number;
  /** Largest scale, as a fraction of the scene extent, up to which a Gaussian is cloned (3DGS: 0.01). */
  splitScale: number;
  /** Opacity below which a Gaussian is pruned (3DGS: 0.005). */
  minOpacity: number;
  /** Largest scale, as a fraction of the scene extent, above which a Gaussian is pruned (3DGS: 0.1). */
  maxWorldSize: number;
  /** Steps without contributing to any pixel after which a Gaussian is pruned. */
  maxInvisibleSteps: number;
  /** Cap on the Gaussian count. */
  maxGaussians: number;
}

/** What to do with each Gaussian. */
export interface DensityPlan {
  /** Indices to clone (ascending). */
  clone: number[];
  /** Indices to split (ascending). */
  split: number[];
  /** 1 where the Gaussian is removed for pruning (split sources are removed separately). */
  prune: Uint8Array;
  /** Candidates dropped because the cap bound. */
  capped: number;
}

/** Mean NDC gradient norm per Gaussian under `mode` (0 where the denominator is 0); `stats` is [N, 4]. */
export function meanGradients(stats: Float32Array, mode: DensityMode): Float32Array {
  const n = stats.length / STATS_STRIDE, out = new Float32Array(n);
  const col = mode === "dynamic" ? 2 : 1;
  for (let i = 0; i < n; i++) {
    const d = stats[i * STATS_STRIDE + col];
    out[i] = d > 0 ? stats[i * STATS_STRIDE] / d : 0;
  }
  return out;
}

function maxScale(logScales: Float32Array, i: number): number {
  return Math.exp(Math.max(logScales[3 * i], logScales[3 * i + 1], logScales[3 * i + 2]));
}

/** Decides clone / split / prune for every Gaussian of `cloud` (see the module comment). */
export function planDensity(
  cloud: GaussianCloud,
  stats: Float32Array,
  s: DensitySettings,
  sceneExtent: number,
): DensityPlan {
  const n = cloud.count;
  if (stats.length !== n * STATS_STRIDE) {
    throw new Error(`planDensity: ${stats.length} statistics for ${n} Gaussians (stride ${STATS_STRIDE})`);
  }
  const grad = meanGradients(stats, s.mode), col = s.mode === "dynamic" ? 2 : 1;
  const prune = new Uint8Array(n), candidates: number[] = [];
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const opacity = 1 / (1 + Math.exp(-cloud.opacityLogits[i]));
    const size = maxScale(cloud.logScales, i);
    if (
      opacity < s.minOpacity || size > s.maxWorldSize * sceneExtent ||
      stats[i * STATS_STRIDE + 3] > s.maxInvisibleSteps
    ) {
      prune[i] = 1;
      continue;
    }
    kept++;
    if (stats[i * STATS_STRIDE + col] >= s.minViews && grad[i] >= s.gradThreshold) candidates.push(i);
  }
  const budget = Math.max(0, s.maxGaussians - kept);
  let chosen = candidates;
  if (candidates.length > budget) {
    chosen = [...candidates].sort((a, b) => grad[b] - grad[a] || a - b).slice(0, budget).sort((a, b) =>
      a - b
    );
  }
  const clone: number[] = [], split: number[] = [];
  for (const i of chosen) {
    (maxScale(cloud.logScales, i) <= s.splitScale * sceneExtent ? clone : split).push(i);
  }
  return { clone, split, prune, capped: candidates.length - chosen.length };
}

/** The rewritten arrays of `applyDensity` and what changed. */
export interface DensityResult {
  cloud: GaussianCloud;
  /** Every group of the input, per-Gaussian ones remapped. */
  adam: AdamGroupState[];
  stats: Float32Array;
  cloned: number;
  split: number;
  pruned: number;
}

/** Copies rows `src` (row length `w`) of `a` into a new array, then `extra` zero rows. */
function gather(a: Float32Array, w: number, src: readonly number[], extra = 0): Float32Array {
  const out = new Float32Array((src.length + extra) * w);
  src.forEach((i, r) => out.set(a.subarray(i * w, i * w + w), r * w));
  return out;
}

/** Applies `plan` to `cloud`, the Adam states and the statistics (see the module comment). */
export function applyDensity(
  cloud: GaussianCloud,
  adam: readonly AdamGroupState[],
  stats: Float32Array,
  plan: DensityPlan,
  rng: Rng,
): DensityResult {
  const n = cloud.count, isSplit = new Uint8Array(n);
  for (const i of plan.split) isSplit[i] = 1;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (!plan.prune[i] && !isSplit[i]) keep.push(i);
  const children = plan.split.flatMap((i) => [i, i]);
  // Rows of the new arrays by source Gaussian: kept, clones, split children.
  const rows = [...keep, ...plan.clone, ...children];
  const F = cloud.featureDim ?? 0, K = (cloud.shDegree + 1) ** 2;
  const out: GaussianCloud = {
    count: rows.length,
    shDegree: cloud.shDegree,
    means: gather(cloud.means, 3, rows),
    quats: gather(cloud.quats, 4, rows),
    logScales: gather(cloud.logScales, 3, rows),
    opacityLogits: gather(cloud.opacityLogits, 1, rows),
    sh: gather(cloud.sh, 3 * K, rows),
    features: cloud.features ? gather(cloud.features, F, rows) : undefined,
    featureDim: cloud.featureDim,
  };
  const shrink = Math.log(1.6), first = keep.length + plan.clone.length;
  children.forEach((i, c) => {
    const r = first + c, q = cloud.quats.subarray(4 * i, 4 * i + 4);
    const norm = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
    const R = quatToRot([q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm]);
    const e = [0, 1, 2].map((k) => rng.normal() * Math.exp(cloud.logScales[3 * i + k]));
    for (let a = 0; a < 3; a++) {
      out.means[3 * r + a] = cloud.means[3 * i + a] + R[3 * a] * e[0] + R[3 * a + 1] * e[1] +
        R[3 * a + 2] * e[2];
      out.logScales[3 * r + a] = cloud.logScales[3 * i + a] - shrink;
    }
  });
  const width: Record<string, number> = {
    means: 3,
    quats: 4,
    logScales: 3,
    opacityLogits: 1,
    sh: 3 * K,
    features: F,
  };
  const fresh = plan.clone.length + children.length;
  const groups = adam.map((g): AdamGroupState => {
    if (!(CANONICAL_FIELDS as readonly string[]).includes(g.name)) return g;
    const w = width[g.name];
    if (g.m.length !== n * w) {
      throw new Error(`applyDensity: Adam group ${g.name} has ${g.m.length} moments, expected ${n * w}`);
    }
    return { name: g.name, step: g.step, m: gather(g.m, w, keep, fresh), v: gather(g.v, w, keep, fresh) };
  });
  const newStats = new Float32Array(rows.length * STATS_STRIDE);
  keep.forEach((i, r) => (newStats[r * STATS_STRIDE + 3] = stats[i * STATS_STRIDE + 3]));
  return {
    cloud: out,
    adam: groups,
    stats: newStats,
    cloned: plan.clone.length,
    split: plan.split.length,
    pruned: plan.prune.reduce((a, p) => a + p, 0),
  };
}
