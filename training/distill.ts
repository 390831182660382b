/**
 * Forward deformation field F(x_c, f, z) -> dx, distilled from the expression prior B by cycle consistency
 * (NPGA section 3.2):
 *
 *   L_cyc = mean_i || (x_c + F) + B(x_c + F, z) - x_c ||^2 = mean_i || F_i + B(x_c + F_i, z_i) ||^2
 *
 * over canonical points on and near the rig's surface and expression codes (dataset codes plus small
 * perturbations, plus random codes). B is frozen: the loss is back-propagated through B to its input (its
 * parameter gradients are computed as a by-product and overwritten), then through F.
 *
 * F has the NPHM layout (deform_inputs.ts `nphmSpec`) with input [normalized x_c (3) | per-Gaussian latent f
 * (8) | z (D)] and outputs dx in normalized units; the public methods take and return world units. Distillation
 * uses f = 0 (the avatar's Gaussians start with zero features). Losses are in normalized units squared.
 *
 * Defaults: F as wide as B (64), 600 steps of 2,048 points, Adam 2e-3 decayed to 2e-4. On the 2-core software
 * adapter that takes 3-5 minutes (a cycle step is about twice a prior step). On the synthetic head with the
 * default prior, held-out test-sequence codes give a cycle residual of 0.065% (p95 0.23%) of the head diagonal
 * and an error against the rig's true posed points of 0.10% (p95 0.40%); 0.40% on moving points, whose mean
 * displacement is 1.9%.
 *
 * Joint fine-tuning: `ForwardField.forwardTrain` / `backward` take world units and give gradients for F's
 * parameters and (optionally) its input rows (features f, canonical position); `recordCycleLoss`
 * (cycle_loss.ts) with `weight` and `accumulate: true` adds the cycle term to F's gradients in the same step.
 */
import { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Mlp } from "../gpu/mlp.ts";
import { reduce } from "../gpu/reduce.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { assembleInputs, type CodeSource, type HeadFrame } from "./deform_inputs.ts";
import type { ExpressionPrior } from "./prior.ts";
import { recordCycleLoss } from "./cycle_loss.ts";
import type { DeformOutput } from "./code_basis.ts";
import { DeformNet, type DeformNetState } from "./deform_net.ts";
import {
  basisShapeWeights,
  errorStats,
  motionFocusCdf,
  type MovingStats,
  movingStats,
  type PairSampling,
  samplePairs,
} from "./prior_pairs.ts";
import type { RigMesh } from "./rig_sampling.ts";
import { exponentialDecay } from "./schedule.ts";

/** Dimension of the per-Gaussian latent feature f. */
export const FEATURE_DIM = 8;

export interface ForwardFieldConfig {
  frame: HeadFrame;
  codeDim: number;
  featureDim: number;
  width: number;
  layers: number;
  /** Output head (code_basis.ts); absent in files written before it existed: "offset". */
  output?: DeformOutput;
  /** Canonical code [D] of the "codeBasis" head, the expression of the canonical space (absent: zeros). */
  canonicalCode?: number[];
  /** Fourier bands of the position input (position_encoding.ts; absent in older files: 0). */
  bands?: number;
  /** Whether F also turns the Gaussians by its local rotation (field_rotation.ts; absent in older files: no). */
  rotate?: boolean;
  /** Whether F's MLP sees the code (deform_net.ts `codeInput`; absent in older files: yes). */
  codeInput?: boolean;
}

/** Saved state of `ForwardField.forwardTrain` for `backward`. */
export interface ForwardFieldActivations extends DeformNetState {
  /** Input rows [N, 3 + E + D] (column layout of the input gradient). */
  input: Tensor;
}

/** The forward deformation field on the GPU. */
export class ForwardField {
  readonly gpu: Gpu;
  #config: ForwardFieldConfig;
  readonly net: DeformNet;
  readonly pool: TensorPool;

  constructor(gpu: Gpu, config: ForwardFieldConfig) {
    this.gpu = gpu;
    this.#config = config;
    this.net = new DeformNet(gpu, {
      inputs: 3 + config.featureDim + config.codeDim,
      width: config.width,
      layers: config.layers,
      codeDim: config.codeDim,
      codeColumn: 3 + config.featureDim,
      output: config.output ?? "offset",
      canonicalCode: config.canonicalCode,
      bands: config.bands,
      codeInput: config.codeInput,
    });
    this.pool = new TensorPool(gpu);
  }

  get config(): ForwardFieldConfig {
    return this.#config;
  }

  /** Sets whether the field turns the Gaussians by its local rotation (config `rotate`; the weights stay). */
  setRotation(rotate: boolean): void {
    this.#config = { ...this.#config, rotate };
  }

  /** The network (its params / grads are what joint fine-tuning updates). */
  get mlp(): Mlp {
    return this.net.mlp;
  }

  get inputDim(): number {
    return this.net.spec.inputs;
  }

  /** Records input rows [N, 3 + E + D] for canonical world points; missing features are zeros. */
  assemble(xc: Tensor, f: Tensor | null, code: CodeSource, out: Tensor): void {
    const n = xc.size / 3, E = this.config.featureDim;
    const zeros = f ? null : this.pool.acquire([Math.max(n * E, 1)], "f32", "field.zero_features");
    assembleInputs(this.gpu, {
      frame: this.config.frame,
      points: xc,
      features: E > 0 ? { tensor: f ?? zeros!, dim: E } : undefined,
      code: { ...code, dim: this.config.codeDim },
      out,
    });
    zeros?.destroy();
  }

  /** Records out [N, 3] = F(xc, f, z) in world units (posed = xc + out); f null means zero features. */
  evaluate(xc: Tensor, f: Tensor | null, z: Float32Array | CodeSource, out: Tensor): void {
    const input = this.#inputs(xc, f, z);
    this.net.forward(input, out, 1 / this.config.frame.scale);
    input.destroy();
  }

  /**
   * Records the forward pass keeping activations: out [N, 3] world units. Pass the result to `backward`
   * (or call `release()`).
   */
  forwardTrain(
    xc: Tensor,
    f: Tensor | null,
    z: Float32Array | CodeSource,
    out: Tensor,
  ): ForwardFieldActivations {
    const input = this.#inputs(xc, f, z);
    const st = this.net.forwardTrain(input, out, 1 / this.config.frame.scale);
    return {
      ...st,
      release: () => {
        st.release();
        input.destroy();
      },
    };
  }

  #inputs(xc: Tensor, f: Tensor | null, z: Float32Array | CodeSource): Tensor {
    const n = xc.size / 3;
    if (z instanceof Float32Array && z.length !== this.config.codeDim) {
      throw new Error(`ForwardField: code has ${z.length} values, expected ${this.config.codeDim}`);
    }
    const code: CodeSource = z instanceof Float32Array
      ? { kind: "broadcast", codes: Tensor.from(this.gpu, z, undefined, "field.code") }
      : z;
    const input = this.pool.acquire([n, this.inputDim], "f32", "field.input");
    this.assemble(xc, f, code, input);
    if (z instanceof Float32Array) code.codes.destroy();
    return input;
  }

  /**
   * Records the backward pass from dOut [N, 3] (gradient with respect to the world-unit output): parameter
   * gradients into `mlp.grads` (added with `accumulate`), and when given the gradient with respect to the
   * input rows dInput [N, 3 + E + D]: columns 0..2 are d/d(normalized x_c) (multiply by frame.scale for world
   * units), columns 3..3+E are d/df. Releases the activations.
   */
  backward(
    st: ForwardFieldActivations,
    dOut: Tensor,
    dInput?: Tensor,
    opts: { accumulate?: boolean } = {},
  ): void {
    this.net.backward(st, dOut, 1 / this.config.frame.scale, dInput, opts);
  }

  destroy(): void {
    this.net.destroy();
    this.pool.clear();
  }
}

/** Settings of `distillForward` (sampling as prior_pairs.ts `PairSampling`). */
export interface DistillOptions extends PairSampling {
  steps?: number;
  batch?: number;
  width?: number;
  layers?: number;
  seed?: number;
  /** Dataset expression codes [T, D] (alias of `dataset`). */
  expressions?: Float32Array;
  /** Held-out expression codes [H, D] for the residual report (default: fresh codes from the mixture). */
  heldOut?: Float32Array;
  /** Adam learning rate, decayed exponentially to lr / 10 (default 2e-3). */
  lr?: number;
  evalPoints?: number;
  /** Fraction of samples concentrated on moving geometry (default 0.5, see prior_pairs.ts `motionFocusCdf`). */
  focus?: number;
  /** Exponent of the motion in the focused samples' weights (area * motion^focusPower; default 1). */
  focusPower?: number;
  /**
   * With `focus`, a share focus * focusBalance of the samples is split equally between the blendshapes
   * (prior_pairs.ts `shapeBalancedWeights`), the rest drawn as without it (default 0).
   */
  focusBalance?: number;
  /**
   * Share of the samples drawn on the still surface near motion (prior_pairs.ts `stillNeighbourWeights`), where
   * F must stay zero beside what moves (default 0).
   */
  stillShare?: number;
  /** Output head of F (default "codeBasis"); its canonical code is B's. */
  output?: DeformOutput;
  /**
   * Weight of F's direct supervision by the rig (its displacement of the same canonical points) beside the
   * cycle loss through B (default 1; 0: the cycle alone, as when only B is known).
   */
  rigWeight?: number;
  /** Fourier bands of F's position input (default: B's). */
  bands?: number;
  /** Whether F's MLP sees the code (default true; false: F is linear in the code, deform_net.ts). */
  codeInput?: boolean;
  /**
   * Weight of the direct supervision of F's code basis by the rig's blendshape deltas (basis_residual.ts; 0:
   * off, the default here; only with the "codeBasis" head). Shape k is weighted by (m / m_k)^basisPower, m_k its
   * largest vertex displacement and m the largest of all, so a shape's relative error counts more the smaller
   * it moves (basisPower 0: absolute errors; default 1).
   */
  basisWeight?: number;
  basisPower?: number;
  onProgress?: (step: number, loss: number) => void;
  logEvery?: number;
}

/** Distillation quality on held-out codes, relative to the head diagonal. */
export interface DistillResidual {
  /** |F + B(x_c + F, z)| / diagonal: mean and 95th percentile. */
  cycleMean: number;
  cycleP95: number;
  /** |x_c + F - posed_rig(x_c, z)| / diagonal against the rig's true posed positions. */
  rigMean: number;
  rigP95: number;
  /** |posed_rig - x_c| / diagonal: the error of a zero field, for scale. */
  zeroMean: number;
  points: number;
  /** The error against the rig over moving points only. */
  moving: MovingStats;
}

/** Distils F from the frozen prior B (deterministic for the seed) and measures it on held-out codes. */
export async function distillForward(
  gpu: Gpu,
  prior: ExpressionPrior,
  rig: RigMesh,
  opts: DistillOptions = {},
): Promise<{ field: ForwardField; residual: DistillResidual; finalLoss: number }> {
  const steps = opts.steps ?? 600, batch = opts.batch ?? 2048, seed = opts.seed ?? 1;
  const D = prior.config.codeDim, per = 16, groups = Math.ceil(batch / per);
  if (rig.deltas.length !== D) {
    throw new Error(`distillForward: rig has ${rig.deltas.length} blendshapes, prior ${D}`);
  }
  const z0 = prior.config.canonicalCode;
  const sampling: PairSampling = {
    ...opts,
    dataset: opts.dataset ?? opts.expressions,
    cdf: motionFocusCdf(rig, opts.focus, opts.focusPower, opts.focusBalance, opts.stillShare),
    canonicalCode: z0 ? Float32Array.from(z0) : undefined,
  };
  const field = new ForwardField(gpu, {
    frame: prior.config.frame,
    codeDim: D,
    featureDim: FEATURE_DIM,
    width: opts.width ?? prior.config.width,
    layers: opts.layers ?? prior.config.layers,
    output: opts.output ?? "codeBasis",
    canonicalCode: z0 ? [...z0] : undefined,
    bands: opts.bands ?? prior.config.bands ?? 0,
    ...(opts.codeInput === false ? { codeInput: false } : {}),
  });
  const rigWeight = opts.rigWeight ?? 1, scale = prior.config.frame.scale;
  const basisWeight = field.config.output === "codeBasis" ? opts.basisWeight ?? 0 : 0;
  const basisWeights = basisWeight > 0
    ? Tensor.from(gpu, basisShapeWeights(rig, opts.basisPower ?? 1), undefined, "distill.basisWeights")
    : undefined;
  const basisTarget = basisWeight > 0 ? Tensor.empty(gpu, [batch, 3 * D]) : undefined;
  field.mlp.init(seed, { lastLayerScale: 0 });
  const lr = opts.lr ?? 2e-3;
  const adam = new Adam(gpu, [{ name: "field", params: field.mlp.params, grads: field.mlp.grads, lr }]);
  const points = Tensor.empty(gpu, [batch, 3]);
  const codes = Tensor.empty(gpu, [groups, D]);
  const index = Tensor.empty(gpu, [batch], "u32");
  const loss = Tensor.empty(gpu, [1]);
  const target = rigWeight > 0 ? Tensor.empty(gpu, [batch, 3]) : undefined;
  const rng = new Rng(seed ^ 0xd157);
  const logEvery = opts.logEvery ?? 25;
  let last = NaN;
  for (let step = 1; step <= steps; step++) {
    const pairs = samplePairs(rig, batch, rng, { ...sampling, perCode: per, basis: basisWeight > 0 });
    points.upload(pairs.canonical);
    codes.upload(pairs.codes);
    index.upload(pairs.index);
    if (target) {
      const t = new Float32Array(3 * batch);
      for (let i = 0; i < t.length; i++) t[i] = (pairs.posed[i] - pairs.canonical[i]) * scale;
      target.upload(t);
    }
    if (basisTarget) basisTarget.upload(pairs.basis!.map((v) => v * scale));
    const sq = recordCycleLoss(field, prior, {
      points,
      code: { kind: "indexed", codes, index },
      rigTarget: target,
      rigWeight,
      basisTarget,
      basisWeights,
      basisWeight,
    });
    adam.setLr("field", exponentialDecay(step - 1, { initial: lr, final: lr / 10, steps }));
    adam.step();
    if (step % logEvery === 0 || step === steps) {
      reduce(gpu, sq, "mean", loss);
      last = (await loss.read())[0];
      opts.onProgress?.(step, last);
    }
    sq.destroy();
  }
  for (const t of [points, codes, index, loss]) t.destroy();
  target?.destroy();
  basisTarget?.destroy();
  basisWeights?.destroy();
  adam.destroy();
  const residual = await measureDistillation(field, prior, rig, {
    ...sampling,
    cdf: undefined, // area-weighted over the whole surface
    heldOut: opts.heldOut,
    count: opts.evalPoints ?? 4096,
    seed: seed + 15485863,
  });
  return { field, residual, finalLoss: last };
}

/**
 * Measures F on fresh canonical samples posed with held-out codes (`heldOut` [H, D], or codes drawn from the
 * training mixture with the evaluation seed): the cycle residual through B, and the error against the rig.
 */
export async function measureDistillation(
  field: ForwardField,
  prior: ExpressionPrior,
  rig: RigMesh,
  o: PairSampling & { heldOut?: Float32Array; count: number; seed: number },
): Promise<DistillResidual> {
  const gpu = field.gpu;
  const per = 16;
  const pairs = samplePairs(rig, o.count, new Rng(o.seed), { ...o, perCode: per, fixedCodes: o.heldOut });
  const xc = Tensor.from(gpu, pairs.canonical);
  const codes = Tensor.from(gpu, pairs.codes);
  const index = Tensor.from(gpu, pairs.index);
  const dx = Tensor.empty(gpu, [o.count, 3]);
  const code: CodeSource = { kind: "indexed", codes, index };
  field.evaluate(xc, null, code, dx);
  const dxv = await dx.read();
  const xp = new Float32Array(3 * o.count);
  for (let i = 0; i < xp.length; i++) xp[i] = pairs.canonical[i] + dxv[i];
  const xpT = Tensor.from(gpu, xp);
  const delta = Tensor.empty(gpu, [o.count, 3]);
  prior.evaluate(xpT, code, delta);
  const dv = await delta.read();
  for (const t of [xc, codes, index, dx, xpT, delta]) t.destroy();
  const diag = prior.config.frame.diagonal;
  const cyc = new Float64Array(o.count), rigErr = new Float64Array(o.count);
  const truth = new Float64Array(o.count);
  for (let i = 0; i < o.count; i++) {
    const c = [0, 1, 2];
    cyc[i] = Math.hypot(...c.map((k) => dxv[3 * i + k] + dv[3 * i + k])) / diag;
    rigErr[i] = Math.hypot(...c.map((k) => xp[3 * i + k] - pairs.posed[3 * i + k])) / diag;
    truth[i] = Math.hypot(...c.map((k) => pairs.posed[3 * i + k] - pairs.canonical[3 * i + k])) / diag;
  }
  const a = errorStats(cyc), r = errorStats(rigErr);
  return {
    cycleMean: a.mean,
    cycleP95: a.p95,
    rigMean: r.mean,
    rigP95: r.p95,
    zeroMean: errorStats(truth).mean,
    points: o.count,
    moving: movingStats(rigErr, truth),
  };
}
