/**
 * The NPGA training loop. `Trainer.create` fits the expression prior B on the rig and distils the forward field
 * F from it (unless the config turns them off, or a resumed state brings F), initializes the avatar from the
 * rig's neutral surface, and sets up the rasterizer, the photometric loss and Adam. `run()` then repeats:
 *
 *   1. draw a batch (one timestep, `viewsPerStep` cameras) from the train split (seeded by (seed, step)),
 *   2. dx_F = F(x_c, 0, z) (x_c is a stop-gradient input of F; F is frozen unless `fieldLr` > 0, see 5),
 *   3. pose (canonical + dx_F + G), rasterize, L1 + 0.2 (1 - SSIM) against the images, + offset regularizers,
 *   4. read the loss (and sums of the canonical parameters) back; if any is not finite, skip the update (the step still counts); after `maxBadSteps`
 *      consecutive skipped steps roll back to the last in-memory checkpoint with halved learning rates,
 *   5. rasterizer backward, pose backward (canonical parameters, features, G), Adam with the 3DGS schedules;
 *      with `fieldLr` > 0 also F's backward from dL/d(dx_F) plus `cycleWeight` times the cycle loss
 *      |F + B(x_c + F, z)|^2 over the Gaussians' centres (B frozen), so F is fine-tuned while staying consistent.
 *
 * Without F (priorSteps = distillSteps = 0) dx_F is zero and the detail network G does all the deformation.
 * Events (phases, progress, skipped steps, rollbacks, evaluations, checkpoints) go to listeners registered with
 * `on`; `pause`, `resume` and `stop` control a running loop. No file access here: run_folder.ts writes files.
 */
import { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { reduce } from "../gpu/reduce.ts";
import { Tensor } from "../gpu/tensor.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { type Avatar, CANONICAL_FIELDS } from "./avatar.ts";
import type { TrainState } from "./checkpoint.ts";
import { type ForwardField, recordCycleLoss } from "./distill.ts";
import { type EvalImage, evaluateFrames, type SplitMetrics } from "./evaluate.ts";
import { cameraExtent, frameCameras, FrameSampler, frameTargets, spreadFrames } from "./frame_batches.ts";
import { PhotometricLoss } from "./photometric_loss.ts";
import type { PosedGradients } from "./pose.ts";
import type { ExpressionPrior } from "./prior.ts";
import type {
  FieldReport,
  StepLosses,
  TrainerEvent,
  TrainerInputs,
  TrainerListener,
  TrainSummary,
} from "./trainer_events.ts";
import { buildModels } from "./trainer_setup.ts";
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
  #loss: PhotometricLoss;
  #sampler: FrameSampler;
  #listeners: TrainerListener[];
  #salt = 0;
  #lrFactor = 1;
  #skipped = 0;
  #rollbacks = 0;
  #paused = false;
  #wake: (() => void) | null = null;
  #stopRequested = false;
  #fieldParams: Float32Array | null = null;
  #lastGood: TrainState | null = null;
  #grads: PosedGradients | null = null;
  #values: Tensor;

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
    this.#sampler = new FrameSampler(inputs.dataset.splits.train, config.viewsPerStep);
    this.sceneScale = cameraExtent(inputs.dataset.splits.train);
    this.raster = new GaussianRasterizer(gpu, {
      shDegree: avatar.constants.shDegree,
      extraChannels: 0,
      background: inputs.dataset.background,
    });
    this.#loss = new PhotometricLoss(gpu, { l1: config.l1Weight, ssim: config.ssimWeight });
    this.#adam = new Adam(gpu, avatar.adamGroups(config.iters, this.sceneScale));
    if (this.#fineTunes) {
      this.#adam.setGroup({
        name: "field",
        params: field!.mlp.params,
        grads: field!.mlp.grads,
        lr: config.fieldLr,
      });
    }
    this.#values = Tensor.empty(gpu, [4 + CANONICAL_FIELDS.length], "f32", "trainer.losses");
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
    const { avatar, field, prior, report } = await buildModels(gpu, inputs, config, emit);
    if (config.fieldLr > 0 && field && !prior) {
      throw new Error("Trainer: fine-tuning F (fieldLr > 0) needs B, which the resumed state does not hold");
    }
    const t = new Trainer(gpu, inputs, config, avatar, field, prior, report);
    if (field) t.#fieldParams = await field.mlp.getParams();
    if (inputs.resume) await t.restore(inputs.resume);
    return t;
  }

  /** Whether F is fine-tuned jointly (it has a learning rate and B is kept). */
  get #fineTunes(): boolean {
    return this.config.fieldLr > 0 && !!this.field && !!this.prior;
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
    this.#paused = true;
  }

  /** Resumes a paused loop. */
  resume(): void {
    this.#paused = false;
    this.#wake?.();
  }

  /** Ends the loop after the current step (no final evaluation). */
  stop(): void {
    this.#stopRequested = true;
    this.resume();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The expression code of a timestep. */
  expression(timestep: number): Float32Array {
    const D = this.dataset.expressionDim;
    return this.dataset.expressions.slice(timestep * D, timestep * D + D);
  }

  /** dx_F [N, 3] for `z` (null without F); the caller destroys it. */
  #offsets(z: Float32Array): Tensor | undefined {
    if (!this.field) return undefined;
    const dx = Tensor.empty(this.gpu, [this.avatar.count, 3], "f32", "trainer.dxF");
    this.field.evaluate(this.avatar.params.means, null, z, dx);
    return dx;
  }

  /** Renders `frames` (one timestep) with the current avatar, no training state kept. */
  async render(frames: Frame[]): Promise<{ rgb: Tensor; release(): void }> {
    const z = this.expression(frames[0].timestep);
    const dx = this.#offsets(z);
    const posed = this.avatar.pose(z, dx, false);
    const out = await this.raster.render(posed, frameCameras(frames));
    return {
      rgb: out.rgb,
      release: () => {
        out.destroy();
        posed.destroy();
        dx?.destroy();
      },
    };
  }

  #gradients(): PosedGradients {
    const n = this.avatar.count, K = (this.avatar.constants.shDegree + 1) ** 2;
    if (this.#grads && this.#grads.opacityLogits.size === n) {
      for (const t of Object.values(this.#grads)) t.zero();
      return this.#grads;
    }
    if (this.#grads) { for (const t of Object.values(this.#grads)) t.destroy(); }
    const e = (k: number, what: string) => Tensor.empty(this.gpu, [n * k], "f32", `trainer.dPosed.${what}`);
    this.#grads = {
      means: e(3, "means"),
      quats: e(4, "quats"),
      logScales: e(3, "logScales"),
      opacityLogits: e(1, "opacity"),
      sh: e(3 * K, "sh"),
    };
    return this.#grads;
  }

  /** One training step (see the module comment); returns the losses and whether the update was applied. */
  async trainStep(): Promise<{ losses: StepLosses; applied: boolean }> {
    const batch = this.#sampler.batch(this.config.seed, this.step, this.#salt);
    const z = this.expression(batch.timestep);
    const fine = this.#fineTunes;
    let dx: Tensor | undefined, fieldActs: ReturnType<ForwardField["forwardTrain"]> | null = null;
    if (fine) {
      dx = Tensor.empty(this.gpu, [this.avatar.count, 3], "f32", "trainer.dxF");
      fieldActs = this.field!.forwardTrain(this.avatar.params.means, null, z, dx);
    } else dx = this.#offsets(z);
    const posed = this.avatar.pose(z, dx, true);
    const out = await this.raster.render(posed, frameCameras(batch.frames));
    const { width, height } = this.#sampler.size;
    const shape = { views: batch.frames.length, height, width, channels: 3 };
    const target = Tensor.from(this.gpu, frameTargets(batch.frames), undefined, "trainer.target");
    const res = this.#loss.evaluate(out.rgb, target, shape);
    this.gpu.encoder.copyBufferToBuffer(res.values.buffer, 0, this.#values.buffer, 0, 8);
    reduce(this.gpu, posed.regTerms, "sum", this.#values, { outOffset: 2 });
    // Sums of the canonical parameters: a non-finite value anywhere makes its sum non-finite, which catches
    // poisoned Gaussians the rasterizer culls (their loss would look finite).
    CANONICAL_FIELDS.forEach((f, i) =>
      reduce(this.gpu, this.avatar.params[f], "sum", this.#values, { outOffset: 3 + i })
    );
    const v = await this.#values.read();
    const photometric = this.#loss.lossFrom(v);
    const losses = { total: photometric + v[2], l1: v[0], ssim: v[1], reg: v[2], cycle: 0 };
    const applied = v.every(Number.isFinite);
    if (applied) {
      this.avatar.zeroGrads();
      const pg = this.#gradients();
      this.raster.backward(posed, out, { rgb: res.grad }, pg);
      const dDx = this.avatar.backward(posed, pg);
      if (fieldActs) {
        this.field!.backward(fieldActs, dDx);
        fieldActs = null;
        const code = Tensor.from(this.gpu, z, undefined, "trainer.code");
        const sq = recordCycleLoss(this.field!, this.prior!, {
          points: this.avatar.params.means,
          code: { kind: "broadcast", codes: code },
        }, { weight: this.config.cycleWeight, accumulate: true });
        reduce(this.gpu, sq, "mean", this.#values, { outOffset: 3 + CANONICAL_FIELDS.length });
        losses.cycle = (await this.#values.read())[3 + CANONICAL_FIELDS.length];
        sq.destroy();
        code.destroy();
      }
      dDx.destroy();
      this.avatar.applySchedule(this.#adam, this.step, this.config.iters, this.sceneScale);
      const f = this.config.lrScale * this.#lrFactor;
      for (const name of this.#adam.groupNames) this.#adam.setLr(name, this.#adam.group(name).lr * f);
      if (fine) this.#adam.setLr("field", this.config.fieldLr * f);
      this.#adam.step();
    }
    fieldActs?.release();
    out.destroy();
    posed.destroy();
    dx?.destroy();
    target.destroy();
    this.step++;
    return { losses, applied };
  }

  /** Evaluates the val and test splits (`evalFrames` frames each), keeping `keepImages` test renders. */
  async evaluate(keepImages = 0): Promise<{ metrics: SplitMetrics[]; images: EvalImage[] }> {
    const metrics: SplitMetrics[] = [];
    let images: EvalImage[] = [];
    for (const split of ["val", "test"] as const) {
      const frames = spreadFrames(this.dataset.splits[split], this.config.evalFrames);
      if (frames.length === 0) continue;
      const r = await evaluateFrames(this.gpu, this, split, frames, {
        keepImages: split === "test" ? keepImages : 0,
      });
      metrics.push(r.metrics);
      if (split === "test") images = r.images;
    }
    await this.#emit({ kind: "eval", step: this.step, metrics, images });
    return { metrics, images };
  }

  /** The full training state (reads every tensor back). */
  async state(): Promise<TrainState> {
    return {
      step: this.step,
      salt: this.#salt,
      lrFactor: this.#lrFactor,
      avatar: await this.avatar.snapshot(),
      adam: await this.#adam.state(),
      field: this.field && this.#fieldParams
        ? {
          config: structuredClone(this.field.config),
          params: this.#fineTunes ? await this.field.mlp.getParams() : this.#fieldParams.slice(),
        }
        : null,
      prior: this.prior
        ? { config: structuredClone(this.prior.config), params: await this.prior.mlp.getParams() }
        : null,
    };
  }

  /** Restores a state taken by `state()` (the same run's settings). */
  restore(s: TrainState): Promise<void> {
    if (!!s.field !== !!this.field) throw new Error("restore: the state and the trainer differ in having F");
    if (s.field && this.field) this.field.mlp.setParams(s.field.params);
    this.avatar.setGaussians(s.avatar.cloud);
    this.avatar.detail.setParams(s.avatar.detailParams);
    const saved = new Map(s.adam.map((g) => [g.name, g]));
    for (const g of this.avatar.adamGroups(this.config.iters, this.sceneScale)) {
      this.#adam.setGroup(g, saved.get(g.name));
    }
    if (this.#fineTunes) {
      const mlp = this.field!.mlp;
      this.#adam.setGroup(
        { name: "field", params: mlp.params, grads: mlp.grads, lr: this.config.fieldLr },
        saved.get("field"),
      );
    }
    this.step = s.step;
    this.#salt = s.salt;
    this.#lrFactor = s.lrFactor;
    this.#lastGood = s;
    return Promise.resolve();
  }

  async #waitWhilePaused(): Promise<void> {
    while (this.#paused && !this.#stopRequested) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  async #rollback(bad: number): Promise<void> {
    const to = this.#lastGood;
    if (!to || this.#rollbacks >= this.config.maxRollbacks) {
      throw new Error(
        `training diverged: the loss was not finite in ${bad} consecutive steps (up to step ${this.step})` +
          (to ? ` after ${this.#rollbacks} rollbacks` : " and there is no checkpoint to roll back to") +
          `; try a smaller --lr-scale`,
      );
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
      message:
        `non-finite loss in ${bad} consecutive steps (up to step ${from}): rolled back to the checkpoint ` +
        `of step ${to.step}, learning rates halved (x${this.#lrFactor * this.config.lrScale})`,
    });
  }

  /** Runs the loop to `config.iters` (or until `stop()`), evaluating and checkpointing as configured. */
  async run(): Promise<TrainSummary> {
    const c = this.config, t0 = performance.now();
    if (!this.#lastGood) this.#lastGood = await this.state();
    await this.#emit({
      kind: "phase",
      phase: "train",
      message: `training ${c.iters} steps from step ${this.step}`,
    });
    let bad = 0, windowStart = performance.now(), windowSteps = 0;
    while (this.step < c.iters) {
      await this.#waitWhilePaused();
      if (this.#stopRequested) break;
      const { losses, applied } = await this.trainStep();
      windowSteps++;
      if (!applied) {
        this.#skipped++;
        bad++;
        await this.#emit({ kind: "skipped", step: this.step, losses });
        if (bad >= c.maxBadSteps) {
          await this.#rollback(bad);
          bad = 0;
        }
        continue;
      }
      bad = 0;
      if (this.step % c.logEvery === 0 || this.step === c.iters) {
        const now = performance.now();
        await this.#emit({
          kind: "progress",
          step: this.step,
          iters: c.iters,
          losses,
          gaussians: this.avatar.count,
          stepsPerSecond: (1000 * windowSteps) / Math.max(now - windowStart, 1e-3),
          elapsedSeconds: (now - t0) / 1000,
          phase: "train",
        });
        windowStart = now;
        windowSteps = 0;
      }
      if (c.evalEvery > 0 && this.step % c.evalEvery === 0 && this.step < c.iters) await this.evaluate();
      if (c.checkpointEvery > 0 && this.step % c.checkpointEvery === 0 && this.step < c.iters) {
        this.#lastGood = await this.state();
        await this.#emit({ kind: "checkpoint", step: this.step, state: this.#lastGood, final: false });
      }
    }
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
      skipped: this.#skipped,
      rollbacks: this.#rollbacks,
      metrics,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Frees every GPU resource of the trainer. */
  destroy(): void {
    if (this.#grads) { for (const t of Object.values(this.#grads)) t.destroy(); }
    this.#values.destroy();
    this.#adam.destroy();
    this.#loss.destroy();
    this.raster.destroy();
    this.field?.destroy();
    this.prior?.destroy();
    this.avatar.destroy();
  }
}
