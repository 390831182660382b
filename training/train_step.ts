/**
 * The body of one training step (trainer.ts): draw a batch (one timestep, `viewsPerStep` cameras, seeded by
 * (seed, step, salt)), deform (deformation_source.ts) and pose the avatar, render (through the refinement CNN
 * once it is on), L1 + SSIM against the images plus the offset regularizers and Laplacian terms, read the loss
 * back, and, when every value is finite, run the backward (rasterizer or CNN, mesh rotations, pose, F) and one
 * Adam update with the 3DGS schedules scaled by `lrScale` times the rollback factor (`run`, the path with waits,
 * config `syncEvery` 0). Owns the step's reusable parts: the frame sampler, the photometric loss, the Laplacian
 * terms and the read-back / gradient buffers.
 *
 * `record` is the streamed step (`syncEvery` >= 1): the same work recorded without any GPU wait. The render
 * takes its pair buffers from a capacity (render/pair_capacity.ts), the targets come from the resident images
 * (image_store.ts), and instead of reading the loss the update gate (update_gate.ts) decides on the GPU whether
 * the update applies: the backward always runs, and Adam and the density fold do nothing when the gate is
 * closed, so a skipped step leaves the same state as in `run`. The trainer reads the records later (`drain`).
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
import { CYCLE, StepValues } from "./step_values.ts";
import { PairCapacity } from "../render/pair_capacity.ts";
import { ImageStore } from "./image_store.ts";
import { type StepRecord, UpdateGate } from "./update_gate.ts";
import type { TrainerConfig } from "./trainer_config.ts";
import type { StepLosses } from "./trainer_events.ts";

/** What happened to one step, as the loop learns it. */
export interface StepOutcome {
  step: number;
  losses: StepLosses;
  applied: boolean;
  /** The step's render overflowed its pair capacity: redo it (and the halted steps after it). */
  redo: boolean;
}

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
  /** Streamed steps only: the gate, the render's pair capacity and the resident images. */
  readonly gate: UpdateGate | null;
  readonly capacity: PairCapacity;
  #images: ImageStore | null;
  #lastPairs = 0;

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
    const streamed = config.syncEvery > 0;
    this.gate = streamed ? new UpdateGate(gpu, config.syncEvery) : null;
    models.adam.gate = this.gate;
    const entries = config.viewsPerStep * models.avatar.count;
    this.capacity = new PairCapacity(models.raster.maxPairs, PairCapacity.guess(entries));
    this.#images = streamed ? new ImageStore(gpu, train, config.imageBudgetMiB * 2 ** 20) : null;
  }

  /** Whether the train images are resident on the GPU (streamed steps within the memory budget). */
  get imagesResident(): boolean {
    return !!this.#images?.resident;
  }

  /**
   * Step `step` by the configured path: with waits, its outcome; streamed, the step recorded and, when `drain`
   * or the ring is full, the outcomes of every step since the last read (else none).
   */
  async next(
    step: number,
    salt: number,
    lrFactor: number,
    refining: boolean,
    drain: boolean,
  ): Promise<StepOutcome[]> {
    if (!this.gate) return [{ step, ...await this.run(step, salt, lrFactor, refining), redo: false }];
    await this.record(step, salt, lrFactor, refining);
    return drain || this.gate.pending >= this.gate.rows ? await this.drain() : [];
  }

  /**
   * Records step `step` without waiting for the GPU (see the module comment); its outcome comes back through
   * `gate.drain()`. Only the refinement CNN's render and the mesh-rigged baseline's re-attachment still wait.
   */
  async record(step: number, salt: number, lrFactor: number, refining: boolean): Promise<void> {
    const { avatar, raster, adam, deformation, densifier, refine } = this.models;
    const config = this.config, gate = this.gate!;
    const batch = this.#sampler.batch(config.seed, step, salt);
    const z = this.models.expression(batch.timestep);
    const d = await deformation.deform(avatar.params.means, z, true);
    const posed = avatar.pose(z, d.dx, true);
    d.rotate(posed.quats);
    const cams = frameCameras(batch.frames);
    const refined = refining ? await refine!.render(avatar, posed, cams) : null;
    const out = refined?.out ?? raster.record(posed, cams, this.capacity.value);
    const { width, height } = this.#sampler.size;
    const shape = { views: batch.frames.length, height, width, channels: 3 };
    const target = this.#images!.target(batch.frames);
    const res = this.#loss.evaluate(refined?.rgb ?? out.rgb, target, shape);
    this.#lap.forward(avatar, posed, step);
    this.#values.record(res.values, posed.regTerms, avatar.params);
    gate.record(step, this.#values.tensor, this.#lap.lossTensor, out.pairInfo);
    avatar.zeroGrads();
    const pg = this.#grads.zeroed(avatar.count, (avatar.constants.shDegree + 1) ** 2);
    const pgd = { ...pg, densify: densifier?.stepBuffer() };
    if (refined) refine!.backward(avatar, posed, refined, res.grad, pgd);
    else raster.backward(posed, out, { rgb: res.grad }, pgd);
    densifier?.accumulate(gate.state);
    d.rotateBackward(pg.quats);
    const dDx = avatar.backward(posed, pg, false, this.#lap.addDynamicsGrad);
    this.#lap.addFeatureGrad(avatar);
    if (d.tuned) {
      deformation.recordFieldBackward(d, dDx, config.cycleWeight, this.#values);
      gate.recordCycle(this.#values.tensor, CYCLE);
    }
    dDx.destroy();
    this.#setLearningRates(step, lrFactor, !!refined);
    adam.step();
    d.release();
    this.#lap.release();
    (refined ?? out).destroy();
    posed.destroy();
    target.destroy();
  }

  /** Reads the records of the streamed steps since the last drain (one wait); grows the pair capacity. */
  async drain(): Promise<StepOutcome[]> {
    const records = await this.gate!.drain();
    return records.map((r) => {
      this.capacity.observe(r.pairs, r.capacity);
      this.#lastPairs = r.pairs;
      return { step: r.step, losses: this.lossesOf(r), applied: r.applied, redo: r.overflow };
    });
  }

  /** After density control changed the Gaussian count: raises the pair capacity in proportion. */
  densityChanged(before: number, after: number): void {
    this.capacity.atLeast((1.25 * this.#lastPairs * after) / Math.max(before, 1));
  }

  /** The losses of a drained record (the same numbers `run` reports). */
  lossesOf(r: StepRecord): StepLosses {
    const v = r.values, reg = v[2];
    const losses: StepLosses = {
      total: this.#loss.lossFrom(v) + reg,
      l1: v[0],
      ssim: v[1],
      reg,
      cycle: r.cycle,
    };
    LaplacianTerms.addRead(losses, r.lapFeatures, r.lapDynamics);
    return losses;
  }

  #setLearningRates(step: number, lrFactor: number, refining: boolean): void {
    const { avatar, adam, deformation, refine } = this.models, config = this.config;
    avatar.applySchedule(adam, step, config.iters, this.models.sceneScale);
    const f = config.lrScale * lrFactor;
    for (const name of adam.groupNames) adam.setLr(name, adam.group(name).lr * f);
    if (deformation.fineTunes) adam.setLr("field", config.fieldLr * f);
    if (deformation.meshRigged) adam.setLr("detail", 0);
    else adam.setLr("detail", adam.group("detail").lr * config.detailLr);
    if (refine) adam.setLr("cnn", refining ? refine.lr * f : 0);
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
      this.#setLearningRates(step, lrFactor, !!refined);
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
    this.gate?.destroy();
    this.#images?.destroy();
    this.#grads.destroy();
    this.#values.destroy();
    this.#lap.destroy();
    this.#loss.destroy();
  }
}
