/**
 * Per-Gaussian statistics of adaptive density control, kept on the GPU and folded in every training step from
 * the rasterizer backward's `densify` output (density_stats.wgsl; layouts in its header). Only density-control
 * steps read them back (density_control.ts), remap them with the Gaussians and upload them again.
 *
 * Columns of `stats` [N, 4]: gradient-norm sum, views in the frustum, views in steps where the Gaussian
 * contributed to the image (non-zero 2D gradient), steps since it last contributed. The "basic" mean gradient
 * divides the sum by column 1 (3DGS); the "dynamic" one by column 2, so a Gaussian that only shows in some
 * expressions (teeth behind closed lips are in the frustum but occluded) is judged by the steps where it shows.
 * With several views per step, column 2 counts all of a step's frustum views once the Gaussian contributed in
 * any of them (the backward sums the views before this fold). Maximum screen radii are not kept.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import src from "./density_stats.wgsl" with { type: "text" };

const WG = 128;
/** Floats per Gaussian in the statistics. */
export const STATS_STRIDE = 4;

/** The running statistics and the per-step buffer the rasterizer backward adds into. */
export class DensityStats {
  readonly gpu: Gpu;
  #stats: Tensor;
  #step: Tensor;
  #open: Tensor | null = null;

  /** Zero statistics for `count` Gaussians, or `initial` ([count, 4], e.g. from a checkpoint). */
  constructor(gpu: Gpu, count: number, initial?: Float32Array) {
    this.gpu = gpu;
    this.#stats = Tensor.empty(gpu, [count, STATS_STRIDE], "f32", "density.stats");
    this.#step = Tensor.empty(gpu, [count, STATS_STRIDE], "f32", "density.step");
    if (initial) this.set(count, initial);
  }

  /** Number of Gaussians the statistics are sized for. */
  get count(): number {
    return this.#stats.shape[0];
  }

  /** The statistics tensor [N, 4] (see the module comment). */
  get stats(): Tensor {
    return this.#stats;
  }

  /** Records a zero fill of the per-step buffer and returns it (pass it as the backward's `densify`). */
  stepBuffer(): Tensor {
    this.#step.zero();
    return this.#step;
  }

  /**
   * Records the fold of the per-step buffer into the statistics (after the rasterizer backward); with `gate`
   * (u32, update_gate.ts) only when gate[0] is not 0 on the GPU.
   */
  accumulate(gate?: Tensor): void {
    const n = this.count;
    this.#open ??= Tensor.from(this.gpu, Uint32Array.from([1]), [1], "density.openGate");
    dispatch(this.gpu, this.gpu.pipeline(src, "main", { WG }, "density.stats"), {
      bindings: [this.#step, this.#stats, uniforms(this.gpu, [n]), gate ?? this.#open],
      workgroups: Math.ceil(n / WG),
    });
  }

  /** Reads the statistics back ([N, 4]). */
  async read(): Promise<Float32Array> {
    return await this.#stats.read() as Float32Array;
  }

  /** Resizes to `count` Gaussians holding `values` ([count, 4]; zero when omitted). */
  set(count: number, values?: Float32Array): void {
    if (values && values.length !== count * STATS_STRIDE) {
      throw new Error(`DensityStats.set: ${values.length} values for ${count} Gaussians (stride 4)`);
    }
    if (count !== this.count) {
      this.#stats.destroy();
      this.#step.destroy();
      this.#stats = Tensor.empty(this.gpu, [count, STATS_STRIDE], "f32", "density.stats");
      this.#step = Tensor.empty(this.gpu, [count, STATS_STRIDE], "f32", "density.step");
    }
    if (values && count > 0) this.#stats.upload(values);
    else this.#stats.zero();
  }

  /** Frees the tensors. */
  destroy(): void {
    this.#open?.destroy();
    this.#stats.destroy();
    this.#step.destroy();
  }
}

/** CPU reference of one fold (density_stats.wgsl): adds `step` ([N, 4] densify output) into `stats` in place. */
export function accumulateStatsCpu(stats: Float32Array, step: Float32Array): void {
  for (let b = 0; b < stats.length; b += STATS_STRIDE) {
    const grad = step[b], views = step[b + 2];
    stats[b] += grad;
    stats[b + 1] += views;
    if (grad > 0) {
      stats[b + 2] += views;
      stats[b + 3] = 0;
    } else stats[b + 3] += 1;
  }
}
