/**
 * The trainer's public types: inputs, events (what a dashboard or the CLI subscribes to), step losses and the
 * run summary. The control interface (pause, resume, stop) is on `Trainer` itself.
 */
import type { ShapeFit } from "./shape_fit.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import type { Dataset } from "../data/dataset.ts";
import type { TrainState } from "./checkpoint.ts";
import type { DistillResidual, ForwardFieldConfig } from "./distill.ts";
import type { EvalImage, SplitMetrics } from "./evaluate.ts";
import type { PriorFit } from "./prior.ts";
import type { FieldFit, FitRig } from "./field_fit.ts";
import type { TrainerConfig } from "./trainer_config.ts";

export type TrainerPhase = "prior" | "distill" | "init" | "train" | "eval" | "done" | "stopped";

/** One step's losses (photometric parts and the offset regularizer). */
export interface StepLosses {
  total: number;
  l1: number;
  ssim: number;
  reg: number;
  /** Mean cycle residual (normalized units squared) when F is fine-tuned, else 0. */
  cycle: number;
  /** Laplacian regularizer losses on the features and on G's dynamics (laplacian_terms.ts; set by the trainer). */
  lapFeatures?: number;
  lapDynamics?: number;
}

/** Everything the trainer reports. */
export type TrainerEvent =
  | { kind: "phase"; phase: TrainerPhase; message: string }
  | {
    kind: "progress";
    step: number;
    iters: number;
    losses: StepLosses;
    gaussians: number;
    stepsPerSecond: number;
    elapsedSeconds: number;
    phase: TrainerPhase;
  }
  | { kind: "skipped"; step: number; losses: StepLosses }
  | { kind: "rollback"; step: number; toStep: number; message: string }
  | { kind: "eval"; step: number; metrics: SplitMetrics[]; images: EvalImage[] }
  | { kind: "checkpoint"; step: number; state: TrainState; final: boolean }
  | {
    /** Density control ran after `step` steps (densifier.ts); `count` Gaussians now. */
    kind: "density";
    step: number;
    cloned: number;
    split: number;
    pruned: number;
    /** Candidates left out because `maxGaussians` bound. */
    capped: number;
    opacityReset: boolean;
    count: number;
  };

export type TrainerListener = (e: TrainerEvent) => void | Promise<void>;

/** What the deformation set-up reported. */
export interface FieldReport {
  priorFit: PriorFit;
  distill: DistillResidual;
  /** B and F at the rig's moving vertices on held-out codes, per region (field_fit.ts). */
  priorVertices?: FieldFit;
  fieldVertices?: FieldFit;
  /** B and F per blendshape, each toggled alone from the canonical expression (shape_fit.ts). */
  priorShapes?: ShapeFit[];
  fieldShapes?: ShapeFit[];
}

/** Result of `run()`. */
export interface TrainSummary {
  step: number;
  stopped: boolean;
  skipped: number;
  rollbacks: number;
  /** Final evaluation (empty when stopped early). */
  metrics: SplitMetrics[];
  seconds: number;
}

/** Inputs of `Trainer.create`. */
export interface TrainerInputs {
  dataset: Dataset;
  /** The expression rig (neutral mesh + blendshapes) the avatar and B are initialized from. */
  rig: FitRig;
  config?: Partial<TrainerConfig>;
  /** Continue from this state (a decoded checkpoint) instead of initializing. */
  resume?: TrainState;
  /** Initial canonical Gaussians (e.g. a static 3DGS PLY, data/init_cloud.ts) instead of rig samples. */
  initCloud?: GaussianCloud;
  /**
   * A forward field F distilled beforehand with the same settings (e.g. shared by the variants of an ablation
   * study), used instead of fitting B and distilling F when `priorSteps` > 0 and `fieldLr` is 0 (F stays frozen).
   */
  pretrainedField?: { config: ForwardFieldConfig; params: Float32Array; report: FieldReport | null };
  listeners?: TrainerListener[];
}
