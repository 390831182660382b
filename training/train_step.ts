/**
 * The body of one training step (trainer.ts): draw a batch (one timestep, `viewsPerStep` cameras, seeded by
 * (seed, step, salt)), deform (deformation_source.ts) and pose the avatar, render (through the refinement CNN
 * once it is on), L1 + SSIM against the images plus the offset regularizers and Laplacian terms, read the loss
 * back, and, when every value is finite, run the backward (rasterizer or CNN, mesh rotations, pose, F) and one
 * Adam update with the 3DGS schedules scaled by `lrScale` times the rollback factor. Owns the step's reusable
 * parts: the frame sampler, the photometric loss, the Laplacian terms and the read-back / gradient buffers.
 */
import type { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { GaussianRasterizer } from "../render/rasterizer.ts";
import type { Frame } from "../data/dataset.ts";
import type { Avatar } from "./avatar.ts";
import type { DeformationSource } from "./deformation_source.ts";
import type { Densifier } from "./densifier.ts";
import { frameCameras, FrameSampler, frameTargets } from "./frame_batches.ts";
import { LaplacianTerms } from "./laplacian_terms.ts";
import { PhotometricLoss } from "./photometric_loss.ts";
import { PosedGradBuffers } from "./posed_grad_buffers.ts";
import type { RefineStage } from "./refine_stage.ts";
import { StepValues } from "./step_values.ts";
import type { TrainerConfig } from "./trainer_config.ts";
import type { StepLosses } from "./trainer_events.ts";

/** What a step works on (owned by the trainer). */
export interface StepModels {
  avatar: Avatar;
  raster: GaussianRasterizer;
  adam: Adam;
  deformation: DeformationSource;
  densifier: Densifier | null;
  refine: RefineStage | null;
  sceneScale: number;
  /** The timestep's expression code. */
  expression(timestep: number): Float32Array;
}

/** Runs training steps over the train split's frames. */
export class StepRunner {
  readonly gpu: Gpu;
  readonly config: TrainerConfig;
  readonly models: StepModels;
  #sampler: FrameSampler;
  #loss: PhotometricLoss;
  #grads: PosedGradBuffers;
  #values: StepValues;
  #lap: LaplacianTerms;

  constructor(gpu: Gpu, config: TrainerConfig, models: StepModels, train: readonly Frame[]) {
    this.gpu = gpu;
    this.config = config;
    this.models = models;
    this.#sampler = new FrameSampler(train, config.viewsPerStep);
    this.#loss = new PhotometricLoss(gpu, { l1: config.l1Weight, ssim: config.ssimWeight });
    this.#grads = new PosedGradBuffers(gpu);
    this.#values = new StepValues(gpu);
    this.#lap = new LaplacianTerms(gpu, {
      k: config.laplacianK,
      features: config.lapFeatures,
      dynamics: config.lapDynamics,
      rebuildEvery: config.checkpointEvery,
    });
  }

  /**
   * Step `step` (batch salt `salt`, learning rates times `lrFactor`, through the CNN when `refining`); returns
   * the losses and whether the update was applied (false: a value was not finite).
   */
  async run(
    step: number,
    salt: number,
    lrFactor: number,
    refining: boolean,
  ): Promise<{ losses: StepLosses; applied: boolean }> {
    const { avatar, raster, adam, deformation, densifier, refine } = this.models;
    const config = this.config;
    const batch = this.#sampler.batch(config.seed, step, salt);
    const z = this.models.expression(batch.timestep);
    const d = await deformation.deform(avatar.params.means, z, true);
    const posed = avatar.pose(z, d.dx, true);
    d.rotate(posed.quats);
    const cams = frameCameras(batch.frames);
    const refined = refining ? await refine!.render(avatar, posed, cams) : null;
    const out = refined?.out ?? await raster.render(posed, cams);
    const { width, height } = this.#sampler.size;
    const shape = { views: batch.frames.length, height, width, channels: 3 };
    const target = Tensor.from(this.gpu, frameTargets(batch.frames), undefined, "trainer.target");
    const res = this.#loss.evaluate(refined?.rgb ?? out.rgb, target, shape);
    this.#lap.forward(avatar, posed, step);
    const { losses, finite } = await this.#values.read(this.#loss, res.values, posed.regTerms, avatar.params);
    const applied = (await this.#lap.addLosses(losses)) && finite;
    if (applied) {
      avatar.zeroGrads();
      const pg = this.#grads.zeroed(avatar.count, (avatar.constants.shDegree + 1) ** 2);
      const pgd = { ...pg, densify: densifier?.stepBuffer() };
      if (refined) refine!.backward(avatar, posed, refined, res.grad, pgd);
      else raster.backward(posed, out, { rgb: res.grad }, pgd);
      densifier?.accumulate();
      d.rotateBackward(pg.quats);
      const dDx = avatar.backward(posed, pg, false, this.#lap.addDynamicsGrad);
      this.#lap.addFeatureGrad(avatar);
      if (d.tuned) losses.cycle = await d.fieldBackward(dDx, config.cycleWeight, this.#values);
      dDx.destroy();
      avatar.applySchedule(adam, step, config.iters, this.models.sceneScale);
      const f = config.lrScale * lrFactor;
      for (const name of adam.groupNames) adam.setLr(name, adam.group(name).lr * f);
      if (deformation.fineTunes) adam.setLr("field", config.fieldLr * f);
      if (deformation.meshRigged) adam.setLr("detail", 0);
      if (refine) adam.setLr("cnn", refined ? refine.lr * f : 0);
      adam.step();
    }
    d.release();
    this.#lap.release();
    (refined ?? out).destroy();
    posed.destroy();
    target.destroy();
    return { losses, applied };
  }

  /** Frees the step's buffers (not the models). */
  destroy(): void {
    this.#grads.destroy();
    this.#values.destroy();
    this.#lap.destroy();
    this.#loss.destroy();
  }
}
