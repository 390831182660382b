/**
 * The models a training run starts from (trainer.ts `Trainer.create`): the expression prior B fitted on the rig
 * and the forward field F distilled from it (reported as phase events), and the avatar initialized from the rig's
 * neutral surface; or, when resuming, the same rebuilt from a checkpoint's state. Without B (priorSteps 0) and
 * with `fieldFromZero`, F starts as the zero field and is learned only photometrically at `fieldLr` (the "no
 * distillation" ablation).
 */
import { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { type Avatar, avatarFromCloud, type AvatarOptions } from "./avatar.ts";
import { DeformationSource } from "./deformation_source.ts";
import { Densifier } from "./densifier.ts";
import { RefineStage } from "./refine_stage.ts";
import { initAvatarFromRig } from "./avatar_init.ts";
import { canonicalCode, headFrame } from "./deform_inputs.ts";
import { fieldOffsets, formatFieldFit, measureFieldFit } from "./field_fit.ts";
import { formatShapeFits, measureShapeFits } from "./shape_fit.ts";
import { posedPositions } from "../data/rig.ts";
import { distillForward, FEATURE_DIM, ForwardField } from "./distill.ts";
import { ExpressionPrior, trainPrior } from "./prior.ts";
import { shapeFocusOf } from "./prior_pairs.ts";
import type { FieldReport, TrainerEvent, TrainerInputs } from "./trainer_events.ts";
import type { TrainerConfig } from "./trainer_config.ts";

/** Rows of the dataset's expression codes for `timesteps` (in order), [n, D]. */
export function codesOf(ds: Dataset, timesteps: number[]): Float32Array {
  const D = ds.expressionDim, out = new Float32Array(timesteps.length * D);
  timesteps.forEach((t, i) => out.set(ds.expressions.subarray(t * D, t * D + D), i * D));
  return out;
}

/** Sorted distinct timesteps of `frames`. */
export function uniqueTimesteps(frames: readonly Frame[]): number[] {
  return [...new Set(frames.map((f) => f.timestep))].sort((a, b) => a - b);
}

/** Whether the trainer keeps B: F is fine-tuned with the cycle loss through it. */
export function keepsPrior(config: Pick<TrainerConfig, "fieldLr" | "cycleWeight">): boolean {
  return config.fieldLr > 0 && config.cycleWeight > 0;
}

/**
 * Whether a distilled F can be handed in (`TrainerInputs.pretrainedField`) instead of fitted: when no B is
 * kept (F stays frozen, or is fine-tuned without the cycle loss), since B is not handed in.
 */
export function reusesField(config: Pick<TrainerConfig, "fieldLr" | "cycleWeight">): boolean {
  return !keepsPrior(config);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** The trainer's models; `prior` is kept only when `keepsPrior`. */
export interface TrainerModels {
  avatar: Avatar;
  field: ForwardField | null;
  prior: ExpressionPrior | null;
  report: FieldReport | null;
}

/** Builds (or, with `inputs.resume`, rebuilds) B, F and the avatar; phase messages go to `emit`. */
export async function buildModels(
  gpu: Gpu,
  inputs: TrainerInputs,
  config: TrainerConfig,
  emit: (e: TrainerEvent) => Promise<void>,
): Promise<TrainerModels> {
  const ds = inputs.dataset, rig = inputs.rig;
  const opts: AvatarOptions = {
    exprDim: ds.expressionDim,
    featureDim: config.featureDim,
    shDegree: config.shDegree,
    detailWidth: config.detailWidth,
    detailDepth: config.detailDepth,
    seed: config.seed,
  };
  let field: ForwardField | null = null, prior: ExpressionPrior | null = null, avatar: Avatar;
  let report: FieldReport | null = null;
  const r = inputs.resume;
  if (r) {
    if (r.field) {
      field = new ForwardField(gpu, r.field.config);
      field.mlp.setParams(r.field.params);
    }
    if (r.prior && keepsPrior(config)) {
      prior = ExpressionPrior.fromParams(gpu, r.prior.config, r.prior.params);
    }
    avatar = avatarFromCloud(gpu, r.avatar.cloud, opts, r.avatar);
  } else {
    const pre = inputs.pretrainedField;
    if (config.priorSteps > 0 && pre && reusesField(config)) {
      field = new ForwardField(gpu, pre.config);
      field.mlp.setParams(pre.params);
      report = pre.report;
      await emit({ kind: "phase", phase: "init", message: "forward field F: distilled beforehand (shared)" });
    } else if (config.priorSteps > 0) {
      const trainCodes = codesOf(ds, uniqueTimesteps(ds.splits.train));
      const testTs = uniqueTimesteps(ds.splits.test);
      const heldOut = testTs.length ? codesOf(ds, testTs) : undefined;
      const z0 = canonicalCode(rig.blendshapeNames, ds.expressionDim, config.canonicalJaw);
      await emit({
        kind: "phase",
        phase: "prior",
        message: `fitting the expression prior B on the rig${
          z0 ? ` (canonical expression: jawOpen ${config.canonicalJaw})` : ""
        }`,
      });
      const p = await trainPrior(gpu, rig, {
        steps: config.priorSteps,
        width: config.fieldWidth,
        bands: config.fieldBands,
        seed: config.seed,
        expressions: trainCodes,
        output: config.fieldOutput,
        canonicalCode: z0 ?? undefined,
      });
      const vertexCodes = heldOut ?? trainCodes;
      const priorVertices = await measureFieldFit(
        rig,
        trainCodes,
        vertexCodes,
        z0,
        "backward",
        (x, z) => fieldOffsets(gpu, x, (t, out) => p.prior.evaluate(t, z, out)),
      );
      const priorShapes = await measureShapeFits(
        rig,
        z0,
        "backward",
        (x, z) => fieldOffsets(gpu, x, (t, out) => p.prior.evaluate(t, z, out)),
      );
      await emit({
        kind: "phase",
        phase: "distill",
        message: `prior B fit: mean error ${pct(p.fit.mean)} of the head diagonal (zero field ${
          pct(p.fit.zeroMean)
        }); at the ${formatFieldFit(priorVertices)}; ${
          formatShapeFits(priorShapes)
        }; distilling the forward field F`,
      });
      const d = await distillForward(gpu, p.prior, rig, {
        steps: config.distillSteps,
        seed: config.seed,
        expressions: trainCodes,
        heldOut,
        output: config.fieldOutput,
        rigWeight: config.fieldRigWeight,
        shapeFocus: config.fieldShapeFocus > 0 ? shapeFocusOf(rig, config.fieldShapeFocus) : undefined,
        focus: config.fieldFocus,
        focusPower: config.fieldFocusPower,
        basisWeight: config.fieldBasisWeight,
        shell: config.fieldShell * headFrame(rig).diagonal,
        focusBalance: config.fieldFocusBalance,
        stillShare: config.fieldStillShare,
        codeInput: config.fieldCodeInput,
      });
      if (keepsPrior(config)) prior = p.prior;
      else p.prior.destroy();
      field = d.field;
      const fieldVertices = await measureFieldFit(
        rig,
        trainCodes,
        vertexCodes,
        z0,
        "forward",
        (x, z) => fieldOffsets(gpu, x, (t, out) => d.field.evaluate(t, null, z, out)),
      );
      const fieldShapes = await measureShapeFits(
        rig,
        z0,
        "forward",
        (x, z) => fieldOffsets(gpu, x, (t, out) => d.field.evaluate(t, null, z, out)),
      );
      report = {
        priorFit: p.fit,
        distill: d.residual,
        priorVertices,
        fieldVertices,
        priorShapes,
        fieldShapes,
      };
      await emit({
        kind: "phase",
        phase: "init",
        message: `forward field F: cycle residual ${pct(d.residual.cycleMean)} of the head diagonal on ${
          testTs.length ? "held-out test" : "fresh"
        } codes (p95 ${pct(d.residual.cycleP95)}), error vs. the rig ${pct(d.residual.rigMean)} (zero field ${
          pct(d.residual.zeroMean)
        }); at the ${formatFieldFit(fieldVertices)}; ${formatShapeFits(fieldShapes)}`,
      });
    } else if (config.fieldFromZero) {
      // No distillation: F starts as the zero field (zero last layer) and is learned only photometrically.
      field = new ForwardField(gpu, {
        frame: headFrame(rig),
        codeDim: ds.expressionDim,
        featureDim: FEATURE_DIM,
        width: config.fieldWidth,
        layers: 6,
        bands: config.fieldBands,
      });
      field.mlp.init(config.seed, { lastLayerScale: 0 });
      await emit({
        kind: "phase",
        phase: "init",
        message:
          `no distillation: F starts at zero and is learned only photometrically (fieldLr ${config.fieldLr})`,
      });
    }
    field?.setRotation(config.fieldRotation);
    // The Gaussians start on the rig's surface at F's canonical expression.
    const z0 = field?.config.canonicalCode;
    const canonicalRig = z0 ? { ...rig, positions: posedPositions(rig, z0) } : rig;
    avatar = inputs.initCloud
      ? avatarFromCloud(gpu, inputs.initCloud, opts)
      : (await initAvatarFromRig(gpu, canonicalRig, {
        ...opts,
        count: config.gaussians,
        sampleSeed: config.seed,
        initialOpacity: config.initialOpacity,
        triangleShare: config.initTriangleShare,
      })).avatar;
  }
  return { avatar, field, prior, report };
}

/** What the trainer optimizes with beside the models: Adam (groups bound), the deformation, density, CNN. */
export interface TrainingParts {
  adam: Adam;
  deform: DeformationSource;
  densifier: Densifier | null;
  refine: RefineStage | null;
}

/** Builds the trainer's `TrainingParts` (F's Adam group only when `fineTunes`). */
export function buildTrainingParts(
  gpu: Gpu,
  inputs: TrainerInputs,
  config: TrainerConfig,
  models: { avatar: Avatar; field: ForwardField | null; prior: ExpressionPrior | null },
  fineTunes: boolean,
  sceneScale: number,
): TrainingParts {
  const { avatar, field, prior } = models;
  const adam = new Adam(gpu, avatar.adamGroups(config.iters, sceneScale));
  if (fineTunes) {
    adam.setGroup({ name: "field", params: field!.mlp.params, grads: field!.mlp.grads, lr: config.fieldLr });
  }
  const mesh = config.deformation === "mesh" ? inputs.rig : null;
  const deform = new DeformationSource(gpu, field, prior, fineTunes, mesh);
  const densifier = config.densify ? new Densifier(gpu, config, avatar.count, sceneScale) : null;
  const { shDegree, featureDim } = avatar.constants;
  const refine = config.cnn
    ? new RefineStage(gpu, { ...config, shDegree, featureDim }, inputs.dataset.background)
    : null;
  refine?.bind(adam);
  return { adam, deform, densifier, refine };
}
