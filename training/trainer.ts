/**
 * The NPGA training loop. `Trainer.create` fits the expression prior B on the rig and distils the forward field
 * F from it (unless the config turns them off, or a resumed state brings F), initializes the avatar from the
 * rig's neutral surface, and sets up the rasterizer, the photometric loss and Adam. `run()` then repeats:
 *
 *   1. draw a batch (one timestep, `viewsPerStep` cameras) from the train split (seeded by (seed, step)),
 *   2. dx_F = F(x_c, 0, z) (x_c is a stop-gradient input of F; F is fine-tuned at `fieldLr`, 0 freezes it),
 *   3. pose (canonical + dx_F + G), rasterize, L1 + 0.2 (1 - SSIM) against the images, + offset regularizers
 *      + Laplacian terms on the features and on G's offsets over a kNN graph (laplacian_terms.ts),
 *   4. check the loss (and sums of the canonical parameters): if any is not finite, skip the update (the step
 *      still counts; on the GPU when streamed, update_gate.ts); after `maxBadSteps` consecutive skipped steps
 *      roll back to the last in-memory checkpoint with halved learning rates,
 *   5. rasterizer backward, pose backward (canonical parameters, features, G), Adam with the 3DGS schedules;
 *      with `fieldLr` > 0 also F's backward from dL/d(dx_F), plus (when `cycleWeight` > 0) that weight times the
 *      cycle loss |F + B(x_c + F, z)|^2 over the Gaussians' centres (B frozen), which keeps F consistent with B.
 *
 * Without F (priorSteps = distillSteps = 0) dx_F is zero and the detail network G does all the deformation; with
 * `fieldFromZero` but no B, F starts at zero and is learned only photometrically (the "no distillation" ablation).
 * With `deformation: "mesh"` (the mesh-rigged baseline, mesh_rigged.ts) the rig's displacement at each Gaussian's
 * triangle replaces dx_F, the triangle's rotation turns the posed quaternions, and G is frozen at zero output.
 * Events (phases, progress, skipped steps, rollbacks, evaluations, checkpoints) go to listeners registered with
 * `on`; `pause`, `resume` and `stop` control a running loop. No file access here: run_folder.ts writes files.
 * Helpers: train_step.ts (steps 1-5 of one step; skips and rollbacks are counted here), deformation_source.ts
 * (dx_F via field_step.ts, or the mesh rig's offsets and rotations), step_values.ts (the scalars read back),
 * loop_control.ts (pause / stop), trainer_state.ts (state capture, restore, rollback messages). Density control
 * (densifier.ts) folds the backward's statistics in every step and clones / splits / prunes at scheduled steps.
 * By default steps are streamed (`syncEvery`): recorded with no GPU wait, read back a few steps late
 * (train_loop.ts handles the outcomes, update_gate.ts the GPU-side skip, pair-capacity redos).
 */
import { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import type { Camera } from "../render/camera.ts";
import type { PosedGaussians } from "./pose.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import type { Avatar } from "./avatar.ts";
import type { TrainState } from "./checkpoint.ts";
import type { ForwardField } from "./distill.ts";
import { DeformationSource } from "./deformation_source.ts";
import { Densifier } from "./densifier.ts";
import { type EvalImage, evaluateSplits, type SplitMetrics } from "./evaluate.ts";
import { cameraExtent, frameCameras } from "./frame_batches.ts";
import { LoopControl } from "./loop_control.ts";
import { RefineStage } from "./refine_stage.ts";
import { type StepOutcome, StepRunner } from "./train_step.ts";
import { type LoopTally, trainLoop } from "./train_loop.ts";
import type { ExpressionPrior } from "./prior.ts";
import type {
  FieldReport,
  TrainerEvent,
  TrainerInputs,
  TrainerListener,
  TrainSummary,
} from "./trainer_events.ts";
import { buildModels, buildTrainingParts, keepsPrior } from "./trainer_setup.ts";
import {
  captureTrainState,
  divergenceError,
  restoreTrainState,
  rollbackMessage,
  type TrainerParts,
} from "./trainer_state.ts";
import { addMouthCavity } from "../data/mouth_cavity.ts";
import { resolveTrainerConfig, type TrainerConfig } from "./trainer_config.ts";

export type * from "./trainer_events.ts";

/** The training loop (see the module comment). */
export class Trainer {
  readonly gpu: Gpu;
  readonly config: TrainerConfig;
  readonly dataset: Dataset;
  readonly avatar: Avatar;
  readonly field: ForwardField | null;
  /** B, kept only while F is fine-tuned. */
  readonly prior: ExpressionPrior | null;
  readonly fieldReport: FieldReport | null;
  readonly raster: GaussianRasterizer;
  readonly sceneScale: number;
  step = 0;
  #adam: Adam;
  #listeners: TrainerListener[];
  #salt = 0;
  #lrFactor = 1;
  #tally: LoopTally = { skipped: 0, bad: 0 };
  #rollbacks = 0;
  /** Steps redone after a pair-capacity overflow (streamed steps). */
  redos = 0;
  /** Where the current loop ends (streamed steps drain there). */
  #end = 0;
  /** When the last checkpoint of the running loop was taken (performance.now(), for `checkpointMinutes`). */
  #lastCheckpoint = 0;
  /** Outcomes read by `state()` between steps, handed to the loop with the next step's. */
  #early: StepOutcome[] = [];
  #control = new LoopControl();
  #fieldParams: Float32Array | null = null;
  #lastGood: TrainState | null = null;
  /** F, or the mesh-rigged baseline's rig (config `deformation: "mesh"`). */
  #deform: DeformationSource;
  #steps: StepRunner;
  /** Adaptive density control (null with `densify` off). */
  readonly densifier: Densifier | null;
  /** The screen-space refinement CNN and its feature rasterizer (null with `cnn` off). */
  readonly refine: RefineStage | null;

  private constructor(
    gpu: Gpu,
    inputs: TrainerInputs,
    config: TrainerConfig,
    avatar: Avatar,
    field: ForwardField | null,
    prior: ExpressionPrior | null,
    fieldReport: FieldReport | null,
  ) {
    this.gpu = gpu;
    this.config = config;
    this.dataset = inputs.dataset;
    this.avatar = avatar;
    this.field = field;
    this.prior = prior;
    this.fieldReport = fieldReport;
    this.#listeners = [...(inputs.listeners ?? [])];
    this.sceneScale = cameraExtent(inputs.dataset.splits.train);
    this.raster = new GaussianRasterizer(gpu, {
      shDegree: avatar.constants.shDegree,
      extraChannels: 0,
      background: inputs.dataset.background,
    });
    const parts = buildTrainingParts(
      gpu,
      inputs,
      config,
      { avatar, field, prior },
      this.#fineTunes,
      this.sceneScale,
    );
    ({ adam: this.#adam, deform: this.#deform, densifier: this.densifier, refine: this.refine } = parts);
    const { raster, densifier, refine, sceneScale } = this, adam = this.#adam, deformation = this.#deform;
    const expression = (timestep: number) => this.expression(timestep);
    const models = { avatar, raster, adam, deformation, densifier, refine, sceneScale, expression };
    this.#steps = new StepRunner(gpu, config, models, inputs.dataset.splits.train);
  }

  /** Builds a trainer: B and F (or F from `resume`), the avatar, optimizer and renderer. */
  static async create(gpu: Gpu, inputs: TrainerInputs): Promise<Trainer> {
    const config = resolveTrainerConfig(inputs.config);
    const ds = inputs.dataset, rig = inputs.rig;
    if (ds.splits.train.length === 0) throw new Error("Trainer: the dataset has no training frames");
    if (rig.deltas.length !== ds.expressionDim) {
      throw new Error(
        `Trainer: the rig has ${rig.deltas.length} blendshapes but the expression codes have ${ds.expressionDim} values`,
      );
    }
    const emit = async (e: TrainerEvent) => {
      for (const l of inputs.listeners ?? []) await l(e);
    };
    if (config.mouthCavity) {
      const cavity = addMouthCavity(rig);
      if (cavity.added > 0) {
        inputs = { ...inputs, rig: cavity.rig };
        await emit({
          kind: "phase",
          phase: "init",
          message:
            `mouth cavity: the rig's open lip slit (${cavity.loopVertices} vertices) closed with ${cavity.added} cavity vertices`,
        });
      }
    }
    const { avatar, field, prior, report } = await buildModels(gpu, inputs, config, emit);
    if (keepsPrior(config) && field && !prior && config.priorSteps > 0) {
      throw new Error(
        "Trainer: fine-tuning F (fieldLr > 0) with the cycle loss (cycleWeight > 0) needs B, which the resumed " +
          "state does not hold",
      );
    }
    const t = new Trainer(gpu, inputs, config, avatar, field, prior, report);
    if (field) t.#fieldParams = await field.mlp.getParams();
    if (inputs.resume) await t.restore(inputs.resume);
    return t;
  }

  /** Whether F is fine-tuned jointly (it has a learning rate and B is kept, or no cycle loss needs B). */
  get #fineTunes(): boolean {
    const c = this.config;
    return c.fieldLr > 0 && !!this.field && (!!this.prior || c.priorSteps === 0 || c.cycleWeight === 0);
  }

  /** Adds an event listener (awaited in order for every event). */
  on(listener: TrainerListener): void {
    this.#listeners.push(listener);
  }

  async #emit(e: TrainerEvent): Promise<void> {
    for (const l of this.#listeners) await l(e);
  }

  /** Pauses the loop before its next step. */
  pause(): void {
    this.#control.pause();
  }

  /** Resumes a paused loop. */
  resume(): void {
    this.#control.resume();
  }

  /** Ends the loop after the current step (no final evaluation). */
  stop(): void {
    this.#control.stop();
  }

  get paused(): boolean {
    return this.#control.paused;
  }

  /** The expression code of a timestep. */
  expression(timestep: number): Float32Array {
    const D = this.dataset.expressionDim;
    return this.dataset.expressions.slice(timestep * D, timestep * D + D);
  }

  /** The avatar's Gaussians posed for a timestep's expression, no training state kept; `release` frees them. */
  async poseAt(timestep: number): Promise<{ posed: PosedGaussians; release(): void }> {
    const z = this.expression(timestep);
    const d = await this.#deform.deform(this.avatar.params.means, z, false);
    const posed = this.avatar.pose(z, d.dx, false);
    d.rotate(posed.quats);
    return { posed, release: () => (posed.destroy(), d.release()) };
  }

  /** Renders `frames` (one timestep) with the current avatar, no training state kept. */
  async render(frames: Frame[]): Promise<{ rgb: Tensor; release(): void }> {
    const { posed, release: unpose } = await this.poseAt(frames[0].timestep);
    const out = await this.renderPosed(posed, frameCameras(frames));
    const release = () => (out.destroy(), unpose());
    return { rgb: out.rgb, release };
  }

  /** Renders posed Gaussians as training does now (through the refinement CNN once it is on); destroy it. */
  async renderPosed(
    posed: PosedGaussians,
    cams: readonly Camera[],
  ): Promise<{ rgb: Tensor; destroy(): void }> {
    return this.#refining
      ? await this.refine!.render(this.avatar, posed, cams)
      : await this.raster.render(posed, cams);
  }

  /**
   * One training step (see the module comment, train_step.ts): the outcomes the loop handles in order. With
   * waits, that step's; streamed, none, or when a wait is due those of every step since the last one.
   */
  async trainStep(): Promise<StepOutcome[]> {
    const c = this.config, refining = this.#refining, at = ++this.step;
    const due = this.#early.length > 0 || at >= this.#end || !!this.densifier?.due(at) ||
      (c.evalEvery > 0 && at % c.evalEvery === 0) ||
      (c.checkpointEvery > 0 && at % c.checkpointEvery === 0) || this.#clockCheckpointDue() ||
      this.#control.paused || this.#control.stopRequested;
    const out = await this.#steps.next(at - 1, this.#salt, this.#lrFactor, refining, due);
    return [...this.#early.splice(0), ...out];
  }

  /** Streamed steps recorded but not yet read back: their GPU work may still be queued (step_gate.ts). */
  get unsyncedSteps(): number {
    return this.#steps.gate?.pending ?? 0;
  }

  /** Whether `checkpointMinutes` of wall-clock time have passed since the loop's last checkpoint. */
  #clockCheckpointDue(): boolean {
    const m = this.config.checkpointMinutes;
    return m > 0 && performance.now() - this.#lastCheckpoint >= 60_000 * m;
  }

  /** Sets the streamed steps' pair capacity (tests: forces an overflow and its redo). */
  shrinkPairCapacityForTest(pairs: number): void {
    this.#steps.capacity.reset(pairs);
  }

  /** Evaluates the val and test splits (`evalFrames` frames each), keeping `keepImages` test renders. */
  async evaluate(keepImages = 0): Promise<{ metrics: SplitMetrics[]; images: EvalImage[] }> {
    const r = await evaluateSplits(this.gpu, this, this.dataset, this.config.evalFrames, keepImages);
    await this.#emit({ kind: "eval", step: this.step, ...r });
    return r;
  }

  /** The models and optimizer as the state functions (trainer_state.ts) see them. */
  get #parts(): TrainerParts {
    return {
      config: this.config,
      sceneScale: this.sceneScale,
      avatar: this.avatar,
      adam: this.#adam,
      field: this.field,
      prior: this.prior,
      fieldParams: this.#fieldParams,
      fineTunes: this.#fineTunes,
      densifier: this.densifier,
    };
  }

  /** Whether the step about to run (and renders now) go through the refinement CNN. */
  get #refining(): boolean {
    return !!this.refine?.active(this.step);
  }

  /** The full training state (reads every tensor back; streamed steps not yet read are read first). */
  async state(): Promise<TrainState> {
    if (this.#steps.gate?.pending) this.#early.push(...await this.#steps.drain());
    const s = await captureTrainState(this.#parts, {
      step: this.step,
      salt: this.#salt,
      lrFactor: this.#lrFactor,
    });
    if (this.refine) s.cnn = await this.refine.capture();
    return s;
  }

  /** Restores a state taken by `state()` (the same run's settings). */
  restore(s: TrainState): Promise<void> {
    ({ step: this.step, salt: this.#salt, lrFactor: this.#lrFactor } = restoreTrainState(this.#parts, s));
    this.refine?.restore(this.#adam, s.cnn, s.adam);
    this.#lastGood = s;
    return Promise.resolve();
  }

  async #rollback(bad: number): Promise<void> {
    const to = this.#lastGood;
    if (!to || this.#rollbacks >= this.config.maxRollbacks) {
      throw divergenceError(bad, this.step, this.#rollbacks, !!to);
    }
    const from = this.step;
    await this.restore(to);
    this.#rollbacks++;
    this.#salt = this.#rollbacks;
    this.#lrFactor = to.lrFactor * 0.5;
    await this.#emit({
      kind: "rollback",
      step: from,
      toStep: to.step,
      message: rollbackMessage(bad, from, to.step, this.#lrFactor * this.config.lrScale),
    });
  }

  /**
   * Trains `steps` more steps (fewer at `config.iters`) with the loop's full handling (density control,
   * progress, checkpoints) but no final evaluation or checkpoint: benchmarks time segments of a run with it.
   */
  async advance(steps: number): Promise<void> {
    if (!this.#lastGood) this.#lastGood = await this.state();
    await this.#loop(Math.min(this.config.iters, this.step + steps), performance.now());
  }

  /** The loop of `run` up to step `end` (train_loop.ts). */
  #loop(end: number, t0: number): Promise<void> {
    this.#end = end;
    this.#lastCheckpoint = performance.now();
    const steps = this.#steps, parts = () => this.#parts;
    return trainLoop(
      {
        config: this.config,
        control: this.#control,
        densifier: this.densifier,
        gaussians: () => this.avatar.count,
        trainStep: () => this.trainStep(),
        emit: (e) => this.#emit(e),
        redo: (step) => (this.redos++, this.step = step, steps.gate!.clearHalt()),
        rollback: async (bad, at) => {
          this.step = at;
          await this.#rollback(bad);
          steps.gate?.clearHalt();
        },
        densify: async (at) => {
          const before = this.avatar.count;
          await this.#emit(await this.densifier!.apply(parts(), at));
          steps.densityChanged(before, this.avatar.count);
        },
        evaluate: () => this.evaluate(),
        checkpoint: async (at) => {
          this.#lastGood = await this.state();
          await this.#emit({ kind: "checkpoint", step: at, state: this.#lastGood, final: false });
          this.#lastCheckpoint = performance.now();
        },
        clockCheckpointDue: () => this.#clockCheckpointDue(),
        step: () => this.step,
      },
      this.#tally,
      end,
      t0,
    );
  }

  /**
   * Runs the loop to `config.iters` (or until `stop()`), evaluating and checkpointing as configured: every
   * `checkpointEvery` steps and every `checkpointMinutes` of wall-clock time.
   */
  async run(): Promise<TrainSummary> {
    const c = this.config, t0 = performance.now();
    if (!this.#lastGood) this.#lastGood = await this.state();
    await this.#emit({
      kind: "phase",
      phase: "train",
      message: `training ${c.iters} steps from step ${this.step}`,
    });
    await this.#loop(c.iters, t0);
    const stopped = this.step < c.iters;
    let metrics: SplitMetrics[] = [];
    if (!stopped) {
      await this.#emit({
        kind: "phase",
        phase: "eval",
        message: "final evaluation on the val and test splits",
      });
      metrics = (await this.evaluate(4)).metrics;
    }
    this.#lastGood = await this.state();
    await this.#emit({ kind: "checkpoint", step: this.step, state: this.#lastGood, final: true });
    await this.#emit({
      kind: "phase",
      phase: stopped ? "stopped" : "done",
      message: stopped ? `stopped at step ${this.step}` : `finished ${c.iters} steps`,
    });
    return {
      step: this.step,
      stopped,
      skipped: this.#tally.skipped,
      rollbacks: this.#rollbacks,
      metrics,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Frees every GPU resource of the trainer. */
  destroy(): void {
    this.#steps.destroy();
    this.#deform.destroy();
    this.densifier?.destroy();
    this.#adam.destroy();
    this.raster.destroy();
    this.refine?.destroy();
    this.field?.destroy();
    this.prior?.destroy();
    this.avatar.destroy();
  }
}
