/**
 * Adaptive / dynamic density control in the training loop: the schedule, the GPU statistics (density_stats.ts)
 * and, at density steps, the read-back, decision and rewrite (density_control.ts) of the avatar's Gaussians and
 * the Adam moments of its per-Gaussian groups.
 *
 * Schedule (3DGS's, scaled to the run): every `densifyEvery` steps (0 = iters / 14, clamped to 10..100: 50 for
 * the default 700-step run) from `densifyFrom` to `densifyUntil` (fractions of `iters`: 0.15 and 0.8 by
 * default). Optionally at the density steps that are multiples of `opacityResetEvery` the opacities are clamped to
 * at most 0.01 (their Adam moments zeroed), as 3DGS does to shed floaters; off by default (a 700-step run has too few
 * steps left to recover). Each density change bumps `generation`, so modules that cache per-Gaussian structure
 * (the Laplacian kNN graph) can rebuild; the trainer also emits a "density" event.
 */
import type { AdamGroupState } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { Rng } from "../gpu/rng.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { applyDensity, type DensitySettings, planDensity } from "./density_control.ts";
import { DensityStats } from "./density_stats.ts";
import type { TrainerConfig } from "./trainer_config.ts";
import type { TrainerEvent } from "./trainer_events.ts";
import { bindAvatarGroups, type TrainerParts } from "./trainer_state.ts";

/** Opacity the optional reset clamps to (3DGS). */
export const OPACITY_RESET = 0.01;

/** The steps of a run's density control. */
export interface DensitySchedule {
  every: number;
  from: number;
  until: number;
  /** Opacity reset interval in steps (0 = never). */
  opacityResetEvery: number;
}

/** The schedule of `c` (see the module comment). */
export function densitySchedule(c: TrainerConfig): DensitySchedule {
  const every = c.densifyEvery > 0 ? c.densifyEvery : Math.min(100, Math.max(10, Math.round(c.iters / 14)));
  return {
    every,
    from: Math.round(c.densifyFrom * c.iters),
    until: Math.round(c.densifyUntil * c.iters),
    opacityResetEvery: c.opacityResetEvery,
  };
}

/** The thresholds of `c`, resolving the automatic ones (0 = auto). */
export function densitySettings(c: TrainerConfig): DensitySettings {
  return {
    mode: c.densityMode,
    gradThreshold: c.densifyGrad,
    minViews: 1,
    splitScale: c.densifySplitScale,
    minOpacity: c.pruneOpacity,
    maxWorldSize: c.pruneWorldSize,
    maxInvisibleSteps: c.pruneInvisibleSteps > 0
      ? c.pruneInvisibleSteps
      : Math.max(100, Math.round(c.iters / 4)),
    maxGaussians: c.maxGaussians > 0 ? c.maxGaussians : 2 * c.gaussians,
  };
}

/**
 * Clamps every opacity to at most `OPACITY_RESET` in `cloud` (in place) and zeroes the moments of the
 * "opacityLogits" Adam group (returned groups; others unchanged).
 */
export function resetOpacity(cloud: GaussianCloud, adam: readonly AdamGroupState[]): AdamGroupState[] {
  const cap = Math.log(OPACITY_RESET / (1 - OPACITY_RESET));
  for (let i = 0; i < cloud.count; i++) cloud.opacityLogits[i] = Math.min(cloud.opacityLogits[i], cap);
  return adam.map((g) =>
    g.name === "opacityLogits"
      ? { name: g.name, step: g.step, m: new Float32Array(g.m.length), v: new Float32Array(g.v.length) }
      : g
  );
}

/** Density control of one training run (see the module comment). */
export class Densifier {
  readonly stats: DensityStats;
  readonly schedule: DensitySchedule;
  readonly settings: DensitySettings;
  /** Incremented on every change of the Gaussian set (density step, opacity reset, restore of a state). */
  generation = 0;
  readonly #seed: number;
  readonly #sceneExtent: number;

  /** For `count` Gaussians, with saved statistics `stats` ([count, 4]) when resuming. */
  constructor(gpu: Gpu, config: TrainerConfig, count: number, sceneExtent: number, stats?: Float32Array) {
    this.stats = new DensityStats(gpu, count, stats);
    this.schedule = densitySchedule(config);
    this.settings = densitySettings(config);
    this.#seed = config.seed;
    this.#sceneExtent = sceneExtent;
  }

  /** Whether density control runs after `step` completed steps. */
  due(step: number): boolean {
    const s = this.schedule;
    return step >= s.from && step <= s.until && step % s.every === 0;
  }

  /** The zeroed per-step statistics buffer for the rasterizer backward's `densify` (records the fill). */
  stepBuffer(): Tensor {
    return this.stats.stepBuffer();
  }

  /** Records the fold of this step's statistics (after the rasterizer backward; gated by `gate` when given). */
  accumulate(gate?: Tensor): void {
    this.stats.accumulate(gate);
  }

  /**
   * Reads the Gaussians, Adam moments and statistics back, clones / splits / prunes (and resets opacities when
   * scheduled), and installs the result in `p.avatar` and `p.adam`; returns the "density" event.
   */
  async apply(p: TrainerParts, step: number): Promise<Extract<TrainerEvent, { kind: "density" }>> {
    const cloud = await p.avatar.toCloud(), stats = await this.stats.read();
    const adam = (await p.adam.state()).filter((g) => g.name !== "field");
    const plan = planDensity(cloud, stats, this.settings, this.#sceneExtent);
    const r = applyDensity(cloud, adam, stats, plan, new Rng((this.#seed * 0x9e3779b1 + step) >>> 0));
    const reset = this.schedule.opacityResetEvery > 0 && step % this.schedule.opacityResetEvery === 0;
    const groups = reset ? resetOpacity(r.cloud, r.adam) : r.adam;
    p.avatar.setGaussians(r.cloud);
    bindAvatarGroups(p, new Map(groups.map((g) => [g.name, g])));
    this.stats.set(r.cloud.count, r.stats);
    this.generation++;
    return {
      kind: "density",
      step,
      cloned: r.cloned,
      split: r.split,
      pruned: r.pruned,
      capped: plan.capped,
      opacityReset: reset,
      count: r.cloud.count,
    };
  }

  /** Frees the GPU statistics. */
  destroy(): void {
    this.stats.destroy();
  }
}
