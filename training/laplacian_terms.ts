/**
 * The trainer's two Laplacian regularizers (laplacian.ts) on one kNN graph of the canonical positions:
 *
 *   - features: the uniform Laplacian of the per-Gaussian latent features f [N, F] (canonical, so the term does
 *     not depend on the expression), gradient added into the avatar's feature gradients;
 *   - dynamics: the uniform Laplacian of G's output rows [N, 14] (offsets of position, rotation, scale, opacity
 *     and colour at the step's expression code), gradient added to dL/d(G output) before G's backward (the
 *     `addGOutputGrad` hook of the pose backward), so it reaches G's parameters and, through G's input, the
 *     features and positions.
 *
 * The graph is built on the first use and rebuilt whenever the avatar's point set was replaced (a new positions
 * tensor or another count, as after densification, pruning or a restored checkpoint), when `invalidate` is
 * called (the density-change hook), and at every step that is a multiple of `rebuildEvery` (the trainer passes
 * its checkpoint interval: a run resumed from a checkpoint then rebuilds from the same positions at the same step
 * as the uninterrupted run did, so resuming reproduces it). Between rebuilds the graph is kept although positions
 * drift a little: neighbourhoods change slowly. A weight of 0 skips its term (with both 0 nothing is built).
 *
 * Default weights (features 0.01, dynamics 0.1), measured on the default run shortened to 300 steps (10k
 * Gaussians, seed 1, software adapter, 28 Nov 2026; energies = the terms at weight 1 on the final avatar, dynamics
 * averaged over 8 test expressions):
 *
 *     weights (f / dyn)   val PSNR / SSIM     test PSNR / SSIM    feature energy   dynamics energy
 *     0 / 0               30.41 / 0.9613      31.03 / 0.9653      2.5e-2           3.5e-5
 *     0.01 / 0.1          30.40 / 0.9612      31.02 / 0.9652      3.8e-3           4.8e-6
 *     0.1 / 1             30.37 / 0.9610      31.00 / 0.9651      1.1e-3           1.7e-6
 *
 * The defaults make features and dynamics about 7x smoother at no measurable quality cost (0.01 dB); ten times
 * more costs 0.03-0.04 dB. Cost: about 10 ms per step for both terms at 10k Gaussians on lavapipe (bench
 * `laplacian`; a step takes about 1 s there), 0.1 s per graph rebuild.
 */
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Avatar } from "./avatar.ts";
import { LaplacianGraph, LaplacianRegularizer, type LaplacianResidual } from "./laplacian.ts";
import type { PosedGaussians } from "./pose.ts";
import { G_OUTPUTS } from "./pose_cpu.ts";
import type { StepLosses } from "./trainer_events.ts";

/** Settings of the two terms. */
export interface LaplacianTermOptions {
  /** Neighbours per Gaussian (1..16). */
  k: number;
  /** Weight of the feature term (0: off). */
  features: number;
  /** Weight of the dynamics term (0: off). */
  dynamics: number;
  /** Also rebuild at steps that are multiples of this (0: only when the points change). */
  rebuildEvery?: number;
}

/** Graph upkeep plus the feature and dynamics terms of one training step. */
export class LaplacianTerms {
  readonly gpu: Gpu;
  readonly options: LaplacianTermOptions;
  #lap: LaplacianRegularizer;
  #graph: LaplacianGraph | null = null;
  #builtOn: Tensor | null = null;
  #features: LaplacianResidual | null = null;
  #dynamics: LaplacianResidual | null = null;
  /** [2] f32: the step's feature and dynamics losses. */
  #losses: Tensor;
  /** Number of graph builds so far. */
  rebuilds = 0;

  constructor(gpu: Gpu, options: LaplacianTermOptions) {
    this.gpu = gpu;
    this.options = { ...options };
    this.#lap = new LaplacianRegularizer(gpu);
    this.#losses = Tensor.empty(gpu, [2], "f32", "laplacian.losses");
  }

  /** [2] f32: the last `forward`'s feature and dynamics losses (zero for a term that is off). */
  get lossTensor(): Tensor {
    return this.#losses;
  }

  /** Sets `lapFeatures` / `lapDynamics` of `losses` from values read elsewhere and adds them to its total. */
  static addRead(losses: StepLosses, features: number, dynamics: number): void {
    losses.lapFeatures = features;
    losses.lapDynamics = dynamics;
    losses.total += features + dynamics;
  }

  /** Whether any term has a positive weight. */
  get enabled(): boolean {
    return this.options.features > 0 || this.options.dynamics > 0;
  }

  /** Drops the graph so the next step rebuilds it (call after a density change). */
  invalidate(): void {
    this.#graph?.destroy();
    this.#graph = null;
    this.#builtOn = null;
  }

  /** The current graph, rebuilt first when the avatar's points changed or `rebuild` is set. */
  graph(avatar: Avatar, rebuild = false): LaplacianGraph {
    const means = avatar.params.means;
    if (rebuild || !this.#graph || this.#builtOn !== means || this.#graph.n !== avatar.count) {
      this.invalidate();
      this.#graph = LaplacianGraph.build(this.gpu, means, this.options.k);
      this.#builtOn = means;
      this.rebuilds++;
    }
    return this.#graph;
  }

  /**
   * Records both terms' forward passes (losses read by `addLosses`; 0 for a term that is off). `posed` is the
   * pose of training step `step` (its G output is regularized).
   */
  forward(avatar: Avatar, posed: PosedGaussians, step: number): void {
    this.release();
    const { features, dynamics } = this.options;
    const F = avatar.constants.featureDim, out = this.#losses, offset = 0;
    out.zero();
    if (!this.enabled || avatar.count === 0) return;
    const every = this.options.rebuildEvery ?? 0;
    const graph = this.graph(avatar, every > 0 && step % every === 0);
    if (features > 0 && F > 0) {
      this.#features = this.#lap.forward(
        graph,
        { tensor: avatar.params.features, stride: F, columns: F },
        features,
        {
          out,
          offset,
        },
      );
    }
    if (dynamics > 0) {
      this.#dynamics = this.#lap.forward(
        graph,
        { tensor: posed.gOutput, stride: G_OUTPUTS, columns: G_OUTPUTS },
        dynamics,
        { out, offset: offset + 1 },
      );
    }
  }

  /**
   * Reads the losses of the last `forward` (submits pending work), sets `lapFeatures` and `lapDynamics` of
   * `losses` and adds them to its total; returns whether both are finite.
   */
  async addLosses(losses: StepLosses): Promise<boolean> {
    const [f, d] = this.enabled ? await this.#losses.read() : [0, 0];
    losses.lapFeatures = f;
    losses.lapDynamics = d;
    losses.total += f + d;
    return Number.isFinite(f) && Number.isFinite(d);
  }

  /** Records the feature term's gradient into the avatar's feature gradients (after they were zeroed). */
  addFeatureGrad(avatar: Avatar): void {
    if (!this.#features || !this.#graph) return;
    const F = avatar.constants.featureDim;
    this.#lap.backward(this.#graph, this.#features, { tensor: avatar.grads.features, stride: F, columns: F });
  }

  /** The pose backward's hook: adds the dynamics term's gradient to dL/d(G output) [N, 14]. */
  readonly addDynamicsGrad = (dGout: Tensor<"f32">): void => {
    if (!this.#dynamics || !this.#graph) return;
    this.#lap.backward(this.#graph, this.#dynamics, { tensor: dGout, stride: G_OUTPUTS, columns: G_OUTPUTS });
  };

  /** Releases the step's residuals (call when the step's backward was recorded or skipped). */
  release(): void {
    this.#features?.destroy();
    this.#dynamics?.destroy();
    this.#features = this.#dynamics = null;
  }

  /** Frees the graph and pooled buffers. */
  destroy(): void {
    this.release();
    this.invalidate();
    this.#lap.destroy();
    this.#losses.destroy();
  }
}
