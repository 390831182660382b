/**
 * Configuration of the avatar trainer (trainer.ts): every field has a default (`defaultTrainerConfig`) and is
 * checked by `resolveTrainerConfig`, which names the bad field in its error. The resolved config is what a run
 * folder stores as config.json, so a run can be reproduced or resumed from it.
 */

/** Every setting of a training run. */
export interface TrainerConfig {
  /** Optimization steps. */
  iters: number;
  /** Initial number of Gaussians (samples on the rig's neutral surface). */
  gaussians: number;
  /** Seed of everything random (surface samples, networks, frame order). */
  seed: number;
  /** Evaluate on the val and test splits every this many steps (0 = only at the end). */
  evalEvery: number;
  /** Frames per split an evaluation renders (evenly spread over the split; 0 = all). */
  evalFrames: number;
  /** Keep a full-state checkpoint every this many steps (0 = only at the end). */
  checkpointEvery: number;
  /** ... and whenever this many minutes of wall-clock time passed since the last one (0 = off). */
  checkpointMinutes: number;
  /** Training views per step (frames of the same timestep, so they share one posing). */
  viewsPerStep: number;
  /** SH degree 0..3 of the Gaussians' colour. */
  shDegree: number;
  /** Latent feature dimension per Gaussian. */
  featureDim: number;
  /** Hidden width and depth of the detail network G. */
  detailWidth: number;
  detailDepth: number;
  /**
   * Scale of G's learning rate (its schedule, avatar.ts `avatarLearningRates`, times lrScale); 0 freezes G at
   * zero output. G sees the expression code, so with few training expressions it can learn per-frame
   * corrections that do not carry over to new expressions: on the tracked-style default data (ablate defaults)
   * test PSNR was 33.99 dB at 1, 34.64 at 0.1 (the best mouth, 26.86) and 34.72 at 0 (README, "Ablation study").
   */
  detailLr: number;
  /** Steps of fitting the expression prior B on the rig (0 with `distillSteps` 0: no forward field F). */
  priorSteps: number;
  /**
   * Steps of distilling the forward field F from B (0: no F; G does all the deformation). Measured on the
   * built-in tracked-style head: F's error on moving vertices 11.7% (1,000), 10.8% (2,000), 10.0% (3,000) of
   * the zero field before the basis supervision and the moving-area focus (`fieldBasisWeight`, `fieldFocus`),
   * 7.8% at 3,000 with them, 3.7% with `fieldShell` and `fieldFocusBalance` too; about 0.22 s a step on the 2-core software adapter.
   */
  distillSteps: number;
  /** Hidden width of B and F. */
  fieldWidth: number;
  /**
   * Fourier frequency bands of the position input of B and F (training/position_encoding.ts; 0: the raw
   * position, as NPHM). Measured on the built-in tracked-style head with `fieldRigWeight` 10: F's error on
   * moving vertices 21% -> 13% of the zero field (mouth 29% -> 15%); B takes about twice as long.
   */
  fieldBands: number;
  /**
   * Output head of B and F (code_basis.ts): "codeBasis" (one offset per expression coefficient, combined with
   * the code; measured on the built-in head: F's error on moving vertices 31% -> 26% of the zero field) or
   * "offset" (the NPHM layout).
   */
  fieldOutput: "codeBasis" | "offset";
  /**
   * Weight of the blendshape named jawOpen in the canonical expression of B, F and the Gaussians (NPHM's
   * canonical space has an open mouth, so the lips, which touch at the neutral, are apart and a smooth field
   * can move them in opposite directions; measured: F's moving-vertex error 23% -> 15% of the zero field).
   * 0, or a rig without a jawOpen blendshape: the neutral.
   */
  canonicalJaw: number;
  /**
   * Weight of F's direct supervision by the rig's displacement beside the cycle loss through B while F is
   * distilled (0: the cycle alone; measured on the exact rig: 26% -> 23% of the zero field on moving vertices
   * at weight 1; on the tracked-style head with 6 bands, 1,000 steps, F's error is 13.0% at weight 10, 11.7%
   * at 100 and at 1,000, where B's is 24%: the rig is the better teacher where B is ambiguous).
   */
  fieldRigWeight: number;
  /**
   * Fraction of each code's distillation samples that F draws where that code's active blendshapes move
   * (prior_pairs.ts `shapeFocusOf`; 0: all by area and area times motion): the lids, brows and nose move a
   * few millimetres over small areas and otherwise get few samples beside the jaw. Measured on the tracked-style
   * head (1,000 steps): at 0.5 the one-hot fits of eyeBlink go 99% -> 33% and of the brows 95% -> 36% of the
   * zero field, but the held-out mean on moving vertices goes 11.7% -> 16.1% (0.2: 15.5%, 0.02: 12.0%; 0.05 at
   * 2,000 steps: 11.8% against 10.8%), so it is off by default.
   */
  fieldShapeFocus: number;
  /**
   * Fraction of F's distillation samples drawn on moving geometry (the rest by area), and the exponent of the
   * motion in their weights (area * motion^power on the triangles that move by more than 1 mm; 1: area times
   * motion). Area times motion left the brows, lids and nose a handful of samples beside the jaw: 7 of 2,048
   * within 1 cm of the outer brow on the built-in head, where F then learned 95% of nothing. At 0.8 and power
   * 0 (every moving square millimetre alike) with `fieldBasisWeight` 100, 500 distillation steps: held-out
   * moving-vertex error 14.4% -> 11.9% of the zero field, browOuterUp 95% -> 24%, noseSneer 99% -> 35-55%.
   */
  fieldFocus: number;
  fieldFocusPower: number;
  /**
   * Weight of the direct supervision of F's code basis by the rig's blendshape deltas, each shape weighted by
   * (largest motion / its motion) (basis_residual.ts; 0: off). Through the combined offset alone a shape's
   * basis is trained by every shape's residual times its code; 500 distillation steps, on the built-in head:
   * mouthSmile 54% -> 16% of the zero field, held-out moving-vertex mean 14.4% -> 14.7%.
   */
  fieldBasisWeight: number;
  /**
   * Standard deviation of the normal offset of the off-surface half of F's distillation samples, as a fraction
   * of the head diagonal (B keeps 1%, the thin shell NPHM trains on; off-surface points move with their surface
   * point). A shell as thick as the gap between the lips or between a lid and the eyeball gives points at the
   * same place opposite targets. Measured on the built-in tracked-style head (F, 500 distillation steps):
   * 1% (about 5 mm) -> 0.2%: held-out moving-vertex error 11.9% -> 9.7% of the zero field, mouth 11.1% -> 7.1%
   * (B at 0.2% too: 10.8%).
   */
  fieldShell: number;
  /**
   * With `fieldFocus`, a share fieldFocus * fieldFocusBalance of F's distillation samples split equally
   * between the blendshapes (prior_pairs.ts `shapeBalancedWeights`), the rest drawn as without it: the lids
   * move about 1% of the moving area of the built-in head.
   * Measured with `fieldShell` 0.2% (500 steps): held-out moving-vertex error 9.7% -> 8.1%, eyes 93% -> 25%,
   * eyeBlink 95% -> 17% of the zero field.
   */
  fieldFocusBalance: number;
  /**
   * Share of F's distillation samples drawn on the rig's still surface within 1 cm of moving vertices
   * (prior_pairs.ts `stillNeighbourWeights`): the focus on moving geometry leaves it few samples, so a smooth F
   * carries motion into what stays (the built-in head's eyeball fronts moved 1.9 mm on average, up to 4.1 mm,
   * with the lid that moves inside them at eyeBlink 1, where the rig keeps them still). Default 0.1: there
   * 0.31 -> 0.07 mm on average, eyeball fronts 1.9 -> 0.4 mm; test eye PSNR +0.6 to +0.9 dB at the ablate
   * defaults (two seeds), +1.0 dB and whole-image +0.3 dB at 1,600 steps (README, "Ablation study").
   */
  fieldStillShare: number;
  /**
   * Close an open lip slit with a dark mouth cavity before B, F and the Gaussians are built from the rig
   * (data/mouth_cavity.ts): a tracked rig has no mouth interior, so without it no Gaussian starts inside the
   * mouth. Rigs with a mouth interior (no open loop around the mouth) are used as they are.
   */
  mouthCavity: boolean;
  /**
   * Whether F's network sees the expression code (deform_net.ts `codeInput`). With false, F with the
   * "codeBasis" head is a purely spatial field of per-coefficient displacements, linear in the code as the
   * rig's blendshapes are, so what F learns from the images (`fieldLr`) is shared by every expression that uses
   * a coefficient instead of fitted to single training expressions.
   */
  fieldCodeInput: boolean;
  /**
   * Turn each Gaussian by F's local rotation where F moves it (field_rotation.ts), as a mesh rig turns a
   * Gaussian with its triangle; otherwise only G rotates the Gaussians. Off by default: on the tracked-style
   * default data (ablate defaults) it moved test PSNR from 33.99 to 34.03 dB, within noise, for F evaluated
   * at 4x the points.
   */
  fieldRotation: boolean;
  /**
   * Adam learning rate of F's joint fine-tuning with the avatar (0: F stays frozen after distillation). With
   * `cycleWeight` > 0, B is kept and the cycle loss over the Gaussians' centres keeps F consistent with it; with
   * `cycleWeight` 0 (the default), B is not kept and F learns from the images alone. Measured on the built-in
   * head (ablate defaults, F linear in the code, no cycle): test PSNR 36.02 dB frozen, 36.26 at 5e-6 (the
   * default), 36.08 at 2e-5, 34.74 at 1e-4 (README, "Ablation study").
   */
  fieldLr: number;
  /** Weight of the cycle loss |F + B(x_c + F, z)|^2 while F is fine-tuned (0: none, and B is not kept). */
  cycleWeight: number;
  /**
   * With no distillation (priorSteps = distillSteps = 0), start F as the zero field and learn it from the images
   * alone at `fieldLr` (the "no-distill" ablation). Off: no F at all without distillation.
   */
  fieldFromZero: boolean;
  /** Opacity of the initial Gaussians (default 0.5: 3DGS's 0.1 leaves lids translucent at short budgets). */
  initialOpacity: number;
  /**
   * Share of the initial Gaussians spread equally over the rig's triangles, the rest by area (0..1; see
   * avatar_init.ts). The rig's small triangles sit where its shape is detailed: lids, lips, nostrils.
   */
  initTriangleShare: number;
  /** Photometric loss weights (L1 + ssim * (1 - SSIM)). */
  l1Weight: number;
  ssimWeight: number;
  /** Multiplier of every learning rate. */
  lrScale: number;
  /** Consecutive non-finite steps after which the trainer rolls back to the last checkpoint. */
  maxBadSteps: number;
  /** Rollbacks after which training stops with an error. */
  maxRollbacks: number;
  /** Emit a progress event every this many steps. */
  logEvery: number;
  /**
   * Streamed steps (train_step.ts `record`): submitted back to back with no GPU wait inside a step, one wait
   * every this many steps to read their losses and flags (progress, dashboard, skips, rollbacks, pair-capacity
   * redos come this many steps late at most; density control, evaluations and checkpoints wait too). 0: the
   * path with waits, which reads the pair count, the loss and the Laplacian terms back inside every step.
   */
  syncEvery: number;
  /** GPU memory for resident training images in MiB (streamed steps; images that do not fit are uploaded per step). */
  imageBudgetMiB: number;
  /**
   * How the Gaussians follow the expression: "npga" (forward field F + detail network G) or "mesh" (the mesh-rigged
   * baseline, mesh_rigged.ts: attached to the rig's triangles and moved by its blendshapes; no F, G frozen at 0).
   */
  deformation: "npga" | "mesh";
  /** Adaptive density control on/off (densifier.ts, density_control.ts). */
  densify: boolean;
  /** Mean-gradient normalization: by the views where a Gaussian contributed ("dynamic") or was in view ("basic"). */
  densityMode: "dynamic" | "basic";
  /** Density control every this many steps (0 = iters / 14, clamped to 10..100), from/until fractions of iters. */
  densifyEvery: number;
  densifyFrom: number;
  densifyUntil: number;
  /** Mean NDC 2D-gradient norm at or above which a Gaussian is cloned or split. */
  densifyGrad: number;
  /** Largest scale (fraction of the camera extent) up to which a Gaussian is cloned; larger ones are split. */
  densifySplitScale: number;
  /** Prune below this opacity, above this largest scale (fraction of the camera extent), or after this many
   * steps without contributing to a pixel (0 = max(100, iters / 4)). */
  pruneOpacity: number;
  pruneWorldSize: number;
  pruneInvisibleSteps: number;
  /** Cap on the Gaussian count (0 = 2 x `gaussians`). */
  maxGaussians: number;
  /** Clamp opacities to 0.01 at the density steps that are multiples of this (0 = never). */
  opacityResetEvery: number;
  /** Neighbours per Gaussian of the Laplacian regularizers' kNN graph (1..16; rebuilt after density changes). */
  laplacianK: number;
  /** Weight of the Laplacian term on the latent features (laplacian_terms.ts; 0 = off). */
  lapFeatures: number;
  /** Weight of the Laplacian term on G's predicted offsets at the step's expression (0 = off). */
  lapDynamics: number;
  /**
   * Screen-space refinement CNN on RGB + rendered features (refine_stage.ts). Off by default: on the default
   * dataset (256², `--iters 300`, one seed) it moved val / test PSNR from 30.82 / 31.32 to 30.93 / 31.40 dB
   * (SSIM +0.0001), within run-to-run noise, at a forward + backward cost per 256² frame comparable to the
   * rest of a training step on the software adapter (bench/cnn_bench.ts).
   */
  cnn: boolean;
  /** Fraction of `iters` after which the loss is computed on the CNN's output (before it the CNN is not run). */
  cnnAfter: number;
  /** Channels of the CNN's hidden layers (1..32). */
  cnnWidth: number;
  /** Hidden 3x3 convolution layers of the CNN (before the output layer). */
  cnnLayers: number;
  /** Adam learning rate of the CNN's weights (times lrScale). */
  cnnLr: number;
}

/** Default Laplacian weights (see laplacian_terms.ts for the measurement behind them). */
export const LAP_FEATURES_DEFAULT = 0.01;
export const LAP_DYNAMICS_DEFAULT = 0.1;

/** The defaults (sized for a small GPU; the CLI picks its own iteration count for the software adapter). */
export function defaultTrainerConfig(): TrainerConfig {
  return {
    iters: 2000,
    gaussians: 10_000,
    seed: 1,
    evalEvery: 0,
    evalFrames: 16,
    checkpointEvery: 500,
    checkpointMinutes: 5,
    viewsPerStep: 1,
    shDegree: 1,
    featureDim: 8,
    detailWidth: 64,
    detailDepth: 3,
    detailLr: 0.1,
    priorSteps: 1000,
    distillSteps: 3000,
    fieldWidth: 64,
    fieldBands: 6,
    fieldOutput: "codeBasis",
    canonicalJaw: 0.5,
    fieldRigWeight: 100,
    fieldShapeFocus: 0,
    fieldFocus: 0.8,
    fieldFocusPower: 0,
    fieldBasisWeight: 100,
    fieldShell: 0.002,
    fieldFocusBalance: 0.5,
    fieldStillShare: 0.1,
    mouthCavity: true,
    fieldCodeInput: false,
    fieldRotation: false,
    fieldLr: 5e-6,
    cycleWeight: 0,
    fieldFromZero: false,
    initialOpacity: 0.5,
    initTriangleShare: 0.5,
    l1Weight: 1,
    ssimWeight: 0.2,
    lrScale: 1,
    maxBadSteps: 3,
    maxRollbacks: 5,
    logEvery: 10,
    syncEvery: 20,
    imageBudgetMiB: 1024,
    deformation: "npga",
    densify: true,
    densityMode: "dynamic",
    densifyEvery: 0,
    densifyFrom: 0.15,
    densifyUntil: 0.8,
    densifyGrad: 2e-4,
    densifySplitScale: 0.01,
    pruneOpacity: 0.005,
    pruneWorldSize: 0.1,
    pruneInvisibleSteps: 0,
    maxGaussians: 0,
    opacityResetEvery: 0,
    laplacianK: 8,
    lapFeatures: LAP_FEATURES_DEFAULT,
    lapDynamics: LAP_DYNAMICS_DEFAULT,
    cnn: false,
    cnnAfter: 0.3,
    cnnWidth: 16,
    cnnLayers: 2,
    cnnLr: 1e-3,
  };
}

type Rule = { min: number; max?: number; integer: boolean };
const INT = (min: number, max?: number): Rule => ({ min, max, integer: true });
const NUM = (min: number, max?: number): Rule => ({ min, max, integer: false });

/** The settings that are numbers (the others are checked by name in `resolveTrainerConfig`). */
type NumericKey = {
  [K in keyof TrainerConfig]: TrainerConfig[K] extends number ? K : never;
}[keyof TrainerConfig];
const OTHER_KEYS = [
  "densify",
  "densityMode",
  "deformation",
  "cnn",
  "fieldOutput",
  "mouthCavity",
  "fieldCodeInput",
  "fieldRotation",
  "fieldFromZero",
];

const RULES: Record<NumericKey, Rule> = {
  iters: INT(1),
  gaussians: INT(1, 5_000_000),
  seed: INT(0, 2 ** 32 - 1),
  evalEvery: INT(0),
  evalFrames: INT(0),
  checkpointEvery: INT(0),
  checkpointMinutes: NUM(0),
  viewsPerStep: INT(1, 64),
  shDegree: INT(0, 3),
  featureDim: INT(0, 32),
  detailWidth: INT(1, 1024),
  detailDepth: INT(1, 16),
  detailLr: NUM(0, 100),
  priorSteps: INT(0),
  distillSteps: INT(0),
  fieldWidth: INT(4, 1024),
  fieldBands: INT(0, 16),
  canonicalJaw: NUM(0, 1),
  fieldRigWeight: NUM(0),
  fieldShapeFocus: NUM(0, 1),
  fieldFocus: NUM(0, 1),
  fieldFocusPower: NUM(0, 4),
  fieldBasisWeight: NUM(0, 1e6),
  fieldShell: NUM(0, 0.1),
  fieldFocusBalance: NUM(0, 1),
  fieldStillShare: NUM(0, 1),
  fieldLr: NUM(0, 1),
  cycleWeight: NUM(0),
  initialOpacity: NUM(1e-4, 0.9999),
  initTriangleShare: NUM(0, 1),
  l1Weight: NUM(0),
  ssimWeight: NUM(0),
  lrScale: NUM(0),
  maxBadSteps: INT(1),
  maxRollbacks: INT(0),
  logEvery: INT(1),
  syncEvery: INT(0, 256),
  imageBudgetMiB: INT(0),
  densifyEvery: INT(0),
  densifyFrom: NUM(0, 1),
  densifyUntil: NUM(0, 1),
  densifyGrad: NUM(0),
  densifySplitScale: NUM(0),
  pruneOpacity: NUM(0, 1),
  pruneWorldSize: NUM(0),
  pruneInvisibleSteps: INT(0),
  maxGaussians: INT(0, 5_000_000),
  opacityResetEvery: INT(0),
  laplacianK: INT(1, 16),
  lapFeatures: NUM(0),
  lapDynamics: NUM(0),
  cnnAfter: NUM(0, 1),
  cnnWidth: INT(1, 32),
  cnnLayers: INT(1, 8),
  cnnLr: NUM(0, 1),
};

/** The defaults overridden by `partial`, validated; throws an Error naming the first bad field. */
export function resolveTrainerConfig(partial: Partial<TrainerConfig> = {}): TrainerConfig {
  const c = { ...defaultTrainerConfig(), ...partial };
  for (const [key, rule] of Object.entries(RULES) as [NumericKey, Rule][]) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`config.${key} must be a finite number`);
    }
    if (rule.integer && !Number.isInteger(v)) throw new Error(`config.${key} must be an integer, got ${v}`);
    if (v < rule.min) throw new Error(`config.${key} must be at least ${rule.min}, got ${v}`);
    if (rule.max !== undefined && v > rule.max) {
      throw new Error(`config.${key} must be at most ${rule.max}, got ${v}`);
    }
  }
  for (const key of Object.keys(partial)) {
    if (!(key in RULES) && !OTHER_KEYS.includes(key)) throw new Error(`config: unknown setting '${key}'`);
  }
  if (typeof c.densify !== "boolean") throw new Error("config.densify must be true or false");
  if (typeof c.mouthCavity !== "boolean") throw new Error("config.mouthCavity must be true or false");
  if (typeof c.fieldRotation !== "boolean") throw new Error("config.fieldRotation must be true or false");
  if (typeof c.fieldCodeInput !== "boolean") throw new Error("config.fieldCodeInput must be true or false");
  if (typeof c.fieldFromZero !== "boolean") throw new Error("config.fieldFromZero must be true or false");
  if (typeof c.cnn !== "boolean") throw new Error("config.cnn must be true or false");
  if (c.cnn && c.featureDim === 0) {
    throw new Error(
      "config: the refinement CNN (cnn) needs per-Gaussian features; set featureDim > 0 or cnn off",
    );
  }
  if (c.densityMode !== "dynamic" && c.densityMode !== "basic") {
    throw new Error(`config.densityMode must be "dynamic" or "basic", got ${JSON.stringify(c.densityMode)}`);
  }
  if (c.densifyFrom > c.densifyUntil) {
    throw new Error("config.densifyFrom must not exceed config.densifyUntil");
  }
  if (c.maxGaussians > 0 && c.maxGaussians < c.gaussians) {
    throw new Error(
      `config.maxGaussians (${c.maxGaussians}) must be at least config.gaussians (${c.gaussians}), or 0`,
    );
  }
  if (c.fieldOutput !== "codeBasis" && c.fieldOutput !== "offset") {
    throw new Error(
      `config.fieldOutput must be "codeBasis" or "offset", got ${JSON.stringify(c.fieldOutput)}`,
    );
  }
  if (c.deformation !== "npga" && c.deformation !== "mesh") {
    throw new Error(`config.deformation must be "npga" or "mesh", got ${JSON.stringify(c.deformation)}`);
  }
  if (c.deformation === "mesh" && (c.priorSteps > 0 || c.fieldFromZero)) {
    throw new Error(
      'config: deformation "mesh" uses no forward field; set priorSteps and distillSteps to 0 and fieldFromZero off',
    );
  }
  if (c.fieldFromZero && (c.priorSteps > 0 || c.fieldLr === 0)) {
    throw new Error(
      "config: fieldFromZero (F learned from the images alone) needs priorSteps = distillSteps = 0 and fieldLr > 0",
    );
  }
  if (c.l1Weight + c.ssimWeight <= 0) throw new Error("config: l1Weight + ssimWeight must be positive");
  if ((c.priorSteps === 0) !== (c.distillSteps === 0)) {
    throw new Error("config: priorSteps and distillSteps must both be 0 (no forward field) or both positive");
  }
  return c;
}
