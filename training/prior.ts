/**
 * Expression prior B: the backward deformation field of NPHM, B(x_posed, z) -> delta with
 * x_canonical = x_posed + delta, trained from an expression rig on pairs of posed and canonical points.
 *
 * Network (NPHM layout, see deform_inputs.ts `nphmSpec`): input [normalized x_posed (3) | expression code z (D) |
 * optional identity code (I, default none)], 6 hidden layers of `width` with softplus(beta = 100), the input
 * concatenated into hidden layer 3, 3 linear outputs = delta in normalized units (deform_inputs.ts `HeadFrame`).
 * Default width 64, 1,000 steps of 2,048 pairs: the prior runs on every avatar training step (through F's
 * distillation and joint fine-tuning) and lavapipe reaches only a few GFLOP/s. On the 2-core software adapter
 * that training takes 2.3-3.7 minutes (depending on load) and fits the synthetic head's 20 blendshapes to a
 * held-out mean error of 0.085% (p95 0.37%) of the head diagonal over the surface, 0.33% on the 13% of points
 * that move (whose mean displacement is 1.3%). Width 128 costs about 3.5x per training step (bench/prior_bench.ts);
 * MonoNPHM uses width 400.
 *
 * Training pairs (prior_pairs.ts): canonical samples on the neutral surface (half of them drawn in proportion
 * to area times blendshape motion, `motionFocusCdf`) and, for half of them, offset along the normal by `shell`
 * (the thin shell NPHM trains on); each group of 16 points is posed with one expression code drawn from a
 * mixture (`sampleCodes`): the dataset's codes (with small perturbations), uniform codes over the blendshape
 * range, sparse random codes and one-hot extremes. Target delta = canonical - posed. Fresh pairs every step.
 * The fit is reported on fresh area-weighted samples and codes from another seed.
 */
import { Adam } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Mlp } from "../gpu/mlp.ts";
import type { DeformOutput } from "./code_basis.ts";
import { DeformNet } from "./deform_net.ts";
import { residual3 } from "./prior_residual.ts";
import { reduce } from "../gpu/reduce.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assembleInputs, type CodeSource, type HeadFrame, headFrame } from "./deform_inputs.ts";
import {
  type CodeSampling,
  errorStats,
  motionFocusCdf,
  type MovingStats,
  movingStats,
  type PairSampling,
  samplePairs,
  shapeFocusOf,
} from "./prior_pairs.ts";
import type { RigMesh } from "./rig_sampling.ts";
import { exponentialDecay } from "./schedule.ts";

/** What defines a prior network besides its weights (save this next to `params`). */
export interface PriorConfig {
  frame: HeadFrame;
  /** Expression code dimension D (the rig's blendshape count). */
  codeDim: number;
  /** Identity code appended to every input row (length I); empty for none. */
  identity: Float32Array;
  width: number;
  layers: number;
  /** Output head (code_basis.ts); absent in files written before it existed: "offset". */
  output?: DeformOutput;
  /** Canonical code [D] of the "codeBasis" head (absent: zeros). */
  canonicalCode?: number[];
  /** Fourier bands of the position input (position_encoding.ts; absent in older files: 0). */
  bands?: number;
}

/** The backward deformation field B on the GPU. */
export class ExpressionPrior {
  readonly gpu: Gpu;
  readonly config: PriorConfig;
  readonly net: DeformNet;
  #identity: Tensor | null;

  constructor(gpu: Gpu, config: PriorConfig) {
    this.gpu = gpu;
    this.config = config;
    this.net = new DeformNet(gpu, {
      inputs: 3 + config.codeDim + config.identity.length,
      width: config.width,
      layers: config.layers,
      codeDim: config.codeDim,
      codeColumn: 3,
      output: config.output ?? "offset",
      canonicalCode: config.canonicalCode,
      bands: config.bands,
    });
    this.#identity = config.identity.length
      ? Tensor.from(gpu, config.identity, undefined, "prior.identity")
      : null;
  }

  /** A prior with given weights (e.g. read from prior.safetensors). */
  static fromParams(gpu: Gpu, config: PriorConfig, params: Float32Array): ExpressionPrior {
    const p = new ExpressionPrior(gpu, config);
    p.mlp.setParams(params);
    return p;
  }

  /** The network (its flat `params` are what is saved). */
  get mlp(): Mlp {
    return this.net.mlp;
  }

  /** All weights in one flat tensor (gpu/mlp.ts layout), for saving. */
  get params(): Tensor<"f32"> {
    return this.mlp.params;
  }

  /** Columns of an input row: 3 + D + I. */
  get inputDim(): number {
    return this.net.spec.inputs;
  }

  /** Records the input rows [N, inputDim] for world points (plus an optional normalized shift [N, 3]). */
  assemble(points: Tensor, code: CodeSource, out: Tensor, shift?: Tensor): void {
    assembleInputs(this.gpu, {
      frame: this.config.frame,
      points,
      shift,
      code: { ...code, dim: this.config.codeDim },
      extra: this.#identity ?? undefined,
      out,
    });
  }

  /**
   * Records out [N, 3] = B(xPosed, z) in world units (x_canonical = xPosed + out). `z` is one code [D] for all
   * points or a per-point / indexed code source.
   */
  evaluate(xPosed: Tensor, z: Float32Array | CodeSource, out: Tensor): void {
    const n = xPosed.size / 3;
    if (z instanceof Float32Array && z.length !== this.config.codeDim) {
      throw new Error(`ExpressionPrior: code has ${z.length} values, expected ${this.config.codeDim}`);
    }
    const code: CodeSource = z instanceof Float32Array
      ? { kind: "broadcast", codes: Tensor.from(this.gpu, z, undefined, "prior.code") }
      : z;
    const input = Tensor.empty(this.gpu, [n, this.inputDim], "f32", "prior.input");
    this.assemble(xPosed, code, input);
    this.net.forward(input, out, 1 / this.config.frame.scale);
    input.destroy();
    if (z instanceof Float32Array) code.codes.destroy();
  }

  destroy(): void {
    this.net.destroy();
    this.#identity?.destroy();
  }
}

export interface PriorTrainOptions extends CodeSampling {
  steps?: number;
  batch?: number;
  width?: number;
  layers?: number;
  seed?: number;
  /** Dataset expression codes [T, D] (alias of `dataset`). */
  expressions?: Float32Array;
  identity?: Float32Array;
  /** Adam learning rate, decayed exponentially to lr / 10 (default 2e-3). */
  lr?: number;
  shell?: number;
  /** Fraction of training samples concentrated on moving geometry (default 0.5, see `motionFocusCdf`). */
  focus?: number;
  /**
   * Fraction of each code's points drawn where its active blendshapes move (prior_pairs.ts `shapeFocusOf`;
   * default 0 = off). Measured on the built-in head: the small shapes' one-hot fit halves (smile 66% -> 34% of
   * the zero field, blinks 97% -> 55%) but the held-out mean, dominated by the jaw, gets worse.
   */
  shapeFocus?: number;
  /** Held-out pairs for the fit report (default 4,096). */
  evalPoints?: number;
  /** Output head (default "codeBasis", code_basis.ts). */
  output?: DeformOutput;
  /** Expression [D] of the canonical space (default: neutral, all zeros). */
  canonicalCode?: Float32Array;
  /** Fourier bands of the position input (default 0, position_encoding.ts). */
  bands?: number;
  /** Called every `logEvery` steps (default 25) and at the end with the mean squared normalized error. */
  onProgress?: (step: number, loss: number) => void;
  logEvery?: number;
}

/** Fit error of B on held-out samples and codes, relative to the head diagonal. */
export interface PriorFit {
  /** Mean of |B(x_p, z) - (x_c - x_p)| / diagonal. */
  mean: number;
  /** 95th percentile of the same. */
  p95: number;
  /** Mean |x_c - x_p| / diagonal: the error of a zero field, for scale. */
  zeroMean: number;
  points: number;
  /** The same means over the moving points only (true displacement above `MOVING_THRESHOLD`). */
  moving: MovingStats;
}

/** Trains B on the rig (deterministic for the seed) and measures its held-out fit. */
export async function trainPrior(
  gpu: Gpu,
  rig: RigMesh,
  opts: PriorTrainOptions = {},
): Promise<{ prior: ExpressionPrior; fit: PriorFit; finalLoss: number }> {
  const steps = opts.steps ?? 1000, batch = opts.batch ?? 2048, seed = opts.seed ?? 1;
  const sampling: PairSampling = {
    ...opts,
    dataset: opts.dataset ?? opts.expressions,
    cdf: motionFocusCdf(rig, opts.focus),
    shapeFocus: opts.shapeFocus ? shapeFocusOf(rig, opts.shapeFocus) : undefined,
  };
  const frame = headFrame(rig);
  const D = rig.deltas.length;
  const prior = new ExpressionPrior(gpu, {
    frame,
    codeDim: D,
    identity: opts.identity ?? new Float32Array(0),
    width: opts.width ?? 64,
    layers: opts.layers ?? 6,
    output: opts.output ?? "codeBasis",
    canonicalCode: opts.canonicalCode ? Array.from(opts.canonicalCode) : undefined,
    bands: opts.bands ?? 0,
  });
  prior.mlp.init(seed, { lastLayerScale: 0 });
  const lr = opts.lr ?? 2e-3;
  const adam = new Adam(gpu, [{ name: "prior", params: prior.mlp.params, grads: prior.mlp.grads, lr }]);
  const per = 16, groups = Math.ceil(batch / per);
  const t = {
    posed: Tensor.empty(gpu, [batch, 3]),
    target: Tensor.empty(gpu, [batch, 3]),
    codes: Tensor.empty(gpu, [groups, D]),
    index: Tensor.empty(gpu, [batch], "u32"),
    input: Tensor.empty(gpu, [batch, prior.inputDim]),
    out: Tensor.empty(gpu, [batch, 3]),
    grad: Tensor.empty(gpu, [batch, 3]),
    sq: Tensor.empty(gpu, [batch]),
    loss: Tensor.empty(gpu, [1]),
  };
  const rng = new Rng(seed ^ 0x5eed);
  const logEvery = opts.logEvery ?? 25;
  let loss = NaN;
  for (let step = 1; step <= steps; step++) {
    const pairs = samplePairs(rig, batch, rng, { ...sampling, perCode: per });
    const target = new Float32Array(3 * batch);
    for (let i = 0; i < 3 * batch; i++) target[i] = (pairs.canonical[i] - pairs.posed[i]) * frame.scale;
    t.posed.upload(pairs.posed);
    t.target.upload(target);
    t.codes.upload(pairs.codes);
    t.index.upload(pairs.index);
    prior.assemble(t.posed, { kind: "indexed", codes: t.codes, index: t.index }, t.input);
    const acts = prior.net.forwardTrain(t.input, t.out, 1);
    residual3(gpu, { a: t.out, b: t.target, ca: 1, cb: -1, gs: 2 / batch, res: t.grad, sq: t.sq });
    prior.net.backward(acts, t.grad, 1);
    adam.setLr("prior", exponentialDecay(step - 1, { initial: lr, final: lr / 10, steps }));
    adam.step();
    if (step % logEvery === 0 || step === steps) {
      reduce(gpu, t.sq, "mean", t.loss);
      loss = (await t.loss.read())[0];
      opts.onProgress?.(step, loss);
    }
  }
  for (const x of Object.values(t)) x.destroy();
  adam.destroy();
  const fit = await measurePriorFit(prior, rig, {
    ...sampling,
    cdf: undefined, // area-weighted: the fit is reported over the whole surface
    shapeFocus: undefined,
    count: opts.evalPoints ?? 4096,
    seed: seed + 7919,
  });
  return { prior, fit, finalLoss: loss };
}

/** Evaluates B on fresh pairs (a seed different from training gives held-out samples and codes). */
export async function measurePriorFit(
  prior: ExpressionPrior,
  rig: RigMesh,
  o: PairSampling & { count: number; seed: number },
): Promise<PriorFit> {
  const gpu = prior.gpu;
  const pairs = samplePairs(rig, o.count, new Rng(o.seed), o);
  const posed = Tensor.from(gpu, pairs.posed);
  const codes = Tensor.from(gpu, pairs.codes);
  const index = Tensor.from(gpu, pairs.index);
  const out = Tensor.empty(gpu, [o.count, 3]);
  prior.evaluate(posed, { kind: "indexed", codes, index }, out);
  const pred = await out.read();
  for (const x of [posed, codes, index, out]) x.destroy();
  const diag = prior.config.frame.diagonal;
  const err = new Float64Array(o.count), truth = new Float64Array(o.count);
  for (let i = 0; i < o.count; i++) {
    const d = [0, 1, 2].map((c) => pairs.canonical[3 * i + c] - pairs.posed[3 * i + c]);
    err[i] = Math.hypot(...d.map((v, c) => pred[3 * i + c] - v)) / diag;
    truth[i] = Math.hypot(...d) / diag;
  }
  return {
    ...errorStats(err),
    zeroMean: errorStats(truth).mean,
    points: o.count,
    moving: movingStats(err, truth),
  };
}
