/**
 * The trainer's screen-space refinement stage (refine_cnn.ts): from step `cnnAfter * iters` on, the Gaussians are
 * rendered by a second rasterizer that also splats the avatar's canonical features as extra channels (posing
 * leaves them unchanged), the CNN turns RGB + features into the final RGB, and the backward routes the CNN's
 * gradients to the rasterizer, whose extra-channel gradient lands in the avatar's feature gradient. Before that
 * step the plain rasterizer renders and the CNN is not run (no cost). The trainer's own rasterizer stays
 * feature-free, so other render paths that use it keep working.
 */
import type { Adam, AdamGroupState } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Camera } from "../render/camera.ts";
import { GaussianRasterizer, type RenderOutput } from "../render/rasterizer.ts";
import type { GaussianGradients } from "../render/rasterize_backward.ts";
import type { Avatar } from "./avatar.ts";
import type { PosedGaussians } from "./pose.ts";
import { RefineCnn, type RefineCnnConfig, type RefineForward } from "./refine_cnn.ts";

/** The settings the stage reads (a subset of TrainerConfig). */
export interface RefineSettings {
  iters: number;
  seed: number;
  featureDim: number;
  shDegree: number;
  cnnAfter: number;
  cnnWidth: number;
  cnnLayers: number;
  cnnLr: number;
}

/** A refined render: the rasterizer's output, the CNN's activations and the final RGB [V, H, W, 3]. */
export interface RefinedRender {
  out: RenderOutput;
  fw: RefineForward;
  rgb: Tensor;
  /** Releases the CNN's activations and the render output. */
  destroy(): void;
}

/** The CNN of a checkpoint. */
export interface RefineState {
  config: RefineCnnConfig;
  params: Float32Array;
}

/** The refinement stage (see the module comment). */
export class RefineStage {
  readonly cnn: RefineCnn;
  /** Renders RGB plus the features as extra channels. */
  readonly raster: GaussianRasterizer;
  /** First step (0-based) whose loss is computed on the CNN's output. */
  readonly startStep: number;
  readonly lr: number;

  constructor(gpu: Gpu, s: RefineSettings, background: readonly number[]) {
    if (s.featureDim < 1) {
      throw new Error(
        "config: the refinement CNN needs per-Gaussian features (featureDim > 0); or turn it off",
      );
    }
    this.cnn = new RefineCnn(gpu, {
      featureDim: s.featureDim,
      width: s.cnnWidth,
      hidden: s.cnnLayers,
      seed: s.seed + 7,
    });
    this.raster = new GaussianRasterizer(gpu, {
      shDegree: s.shDegree,
      extraChannels: s.featureDim,
      background,
    });
    this.startStep = Math.round(s.cnnAfter * s.iters);
    this.lr = s.cnnLr;
  }

  /** Whether step `step` (0-based, about to run) uses the CNN. */
  active(step: number): boolean {
    return step >= this.startStep;
  }

  /** Renders the posed Gaussians with the avatar's features and records the CNN's forward. */
  async render(avatar: Avatar, posed: PosedGaussians, cameras: readonly Camera[]): Promise<RefinedRender> {
    posed.extras = avatar.params.features;
    const out = await this.raster.render(posed, cameras);
    const fw = this.cnn.forward(out.rgb, out.extras, {
      views: out.frame.views,
      height: out.frame.height,
      width: out.frame.width,
    });
    return {
      out,
      fw,
      rgb: fw.rgb,
      destroy: () => {
        fw.release();
        out.destroy();
      },
    };
  }

  /**
   * Records the backward from dL/d(final RGB): the CNN's parameter gradient, then the rasterizer's backward into
   * `grads` (plus the avatar's feature gradient, added to `avatar.grads.features`).
   */
  backward(
    avatar: Avatar,
    posed: PosedGaussians,
    r: RefinedRender,
    dRgb: Tensor,
    grads: GaussianGradients,
  ): void {
    const g = this.cnn.backward(r.fw, dRgb);
    this.raster.backward(posed, r.out, { rgb: g.rgb, extras: g.extras }, {
      ...grads,
      extras: avatar.grads.features,
    });
    g.rgb.destroy();
    g.extras.destroy();
  }

  /** Adds the CNN's Adam group (moments from `saved` when given). */
  bind(adam: Adam, saved?: AdamGroupState): void {
    adam.setGroup(this.cnn.adamGroup(this.lr), saved);
  }

  /** The CNN's configuration and parameters for a checkpoint. */
  async capture(): Promise<RefineState> {
    return { config: structuredClone(this.cnn.config), params: await this.cnn.getParams() };
  }

  /**
   * Restores the CNN from a state (a state without one, e.g. an older checkpoint, keeps the fresh network) and
   * rebinds its Adam group with the saved moments.
   */
  restore(adam: Adam, s: RefineState | null | undefined, saved: readonly AdamGroupState[]): void {
    if (s) {
      const c = this.cnn.config;
      if (
        s.config.featureDim !== c.featureDim || s.config.width !== c.width || s.config.hidden !== c.hidden
      ) {
        throw new Error(
          `restore: the checkpoint's refinement CNN (width ${s.config.width}, ${s.config.hidden} hidden layers) ` +
            `differs from this run's (width ${c.width}, ${c.hidden}); resume with the same --cnn-width`,
        );
      }
      this.cnn.setParams(s.params);
    }
    this.bind(adam, s ? saved.find((g) => g.name === "cnn") : undefined);
  }

  destroy(): void {
    this.cnn.destroy();
    this.raster.destroy();
  }
}
