/**
 * Posing of the avatar: canonical Gaussians + forward field F + detail network G -> the rasterizer's Gaussians,
 * and the backward pass from the rasterizer's gradients to the canonical parameters, G and F.
 *
 * Forward (one expression code z per call; all views of a step share it):
 *   1. pose_input: G's input rows [N, 3 + F + D] = [(x_c - centre) / extent, f, z]
 *   2. G (an `Mlp`, see `detailNetworkSpec`): output rows [N, 14] = [dpos 3, dq 4, ds 3, do 1, dcol 3]
 *   3. pose_apply_geometry / pose_apply_appearance:
 *        mean = x_c + dx_F + positionScale * dpos
 *        quat = normalize(normalize(q_c) + dq)      (additive offset on the unit canonical quaternion: dq = 0 is
 *                                                     the identity, small dq is a small rotation, and the
 *                                                     result is a unit quaternion for export)
 *        logScale = s_c + ds, opacityLogit = o_c + do, sh = sh_c with DC += dcol / SH_C0 (dcol in colour units)
 *      and the offset-magnitude regularizer terms (weights in `PoseConstants.reg`, mean over Gaussians).
 *
 * Backward: pose_backward_geometry / pose_backward_appearance give the canonical gradients (ADDED to the avatar's
 * gradient tensors, like the rasterizer's), dL/d(G output) including the regularizer, and dL/d(dx_F) (returned,
 * for the caller to back-propagate into F). G's backward (Mlp.backward) gives the parameter gradients and the
 * input gradient, which pose_input_backward scatters to the features and, when `positionGradThroughG` is set,
 * to the canonical positions (otherwise x_c is a stop-gradient input of G). The expression code gets no gradient.
 *
 * The CPU reference is pose_cpu.ts.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Mlp, MlpActivations, MlpSpec } from "../gpu/mlp.ts";
import { reduce } from "../gpu/reduce.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import type { GaussianTensors } from "../render/rasterizer.ts";
import { detailInputs, G_OUTPUTS, type PoseConstants } from "./pose_cpu.ts";
import commonSrc from "./pose_common.wgsl" with { type: "text" };
import inputSrc from "./pose_input.wgsl" with { type: "text" };
import applyGeoSrc from "./pose_apply_geometry.wgsl" with { type: "text" };
import applyAppSrc from "./pose_apply_appearance.wgsl" with { type: "text" };
import backGeoSrc from "./pose_backward_geometry.wgsl" with { type: "text" };
import backAppSrc from "./pose_backward_appearance.wgsl" with { type: "text" };
import inputBackSrc from "./pose_input_backward.wgsl" with { type: "text" };

export { detailInputs, G_OUTPUTS, type OffsetRegWeights, type PoseConstants } from "./pose_cpu.ts";

const WG = 128;

/** Canonical Gaussian parameters (or their gradients) on the GPU, in the rasterizer's layouts plus features. */
export interface CanonicalTensors {
  count: number;
  /** [N, 3] */
  means: Tensor;
  /** [N, 4] (w, x, y, z) */
  quats: Tensor;
  /** [N, 3] */
  logScales: Tensor;
  /** [N] */
  opacityLogits: Tensor;
  /** [N, K, 3] coefficient-major */
  sh: Tensor;
  /** [N, F] */
  features: Tensor;
}

/** Gradients of the posed Gaussians (the rasterizer's `GaussianGradients` fields). */
export interface PosedGradients {
  means: Tensor;
  quats: Tensor;
  logScales: Tensor;
  opacityLogits: Tensor;
  sh: Tensor;
}

/** The posed Gaussians of one expression and what the backward pass needs. */
export interface PosedGaussians extends GaussianTensors {
  means: Tensor<"f32">;
  quats: Tensor<"f32">;
  logScales: Tensor<"f32">;
  opacityLogits: Tensor<"f32">;
  sh: Tensor<"f32">;
  /** [N] per-Gaussian regularizer terms; their sum is the offset regularizer loss. */
  regTerms: Tensor<"f32">;
  /** [N, 3 + F + D] G's input. */
  gInput: Tensor<"f32">;
  /** [N, 14] G's output. */
  gOutput: Tensor<"f32">;
  /** Whether dx_F was added. */
  hasDxF: boolean;
  /** G's saved activations (only from a training forward). */
  acts?: MlpActivations;
  /** Returns every tensor to the poser's pool. */
  destroy(): void;
}

/**
 * The detail network's shape: inputs 3 + F + D, `depth` hidden layers of `width` (ReLU), 14 linear outputs.
 * Width 64 and depth 3 keep G cheap next to the rasterizer (NPGA's G is a small MLP too).
 */
export function detailNetworkSpec(
  c: Pick<PoseConstants, "featureDim" | "exprDim">,
  width = 64,
  depth = 3,
): MlpSpec {
  return {
    inputs: detailInputs(c),
    hidden: { width, depth },
    outputs: G_OUTPUTS,
    hiddenActivation: { kind: "relu" },
    outputActivation: { kind: "identity" },
  };
}

/** Runs the posing kernels for one avatar's constants. */
export class Poser {
  readonly gpu: Gpu;
  readonly constants: PoseConstants;
  readonly pool: TensorPool;
  #zero: Tensor;

  constructor(gpu: Gpu, constants: PoseConstants) {
    if (!(constants.extent > 0)) throw new Error("Poser: extent must be positive");
    this.gpu = gpu;
    this.constants = constants;
    this.pool = new TensorPool(gpu);
    this.#zero = Tensor.empty(gpu, [4], "f32", "pose.zero");
  }

  #uniform(n: number, hasDxF: boolean): GPUBuffer {
    const c = this.constants;
    return uniforms(this.gpu, [
      n,
      c.featureDim,
      c.exprDim,
      (c.shDegree + 1) ** 2,
      { f32: c.center[0] },
      { f32: c.center[1] },
      { f32: c.center[2] },
      { f32: c.extent },
      { f32: c.positionScale },
      { f32: c.reg.position },
      { f32: c.reg.rotation },
      { f32: c.reg.scale },
      { f32: c.reg.opacity },
      { f32: c.reg.colour },
      hasDxF ? 1 : 0,
      c.positionGradThroughG ? 1 : 0,
    ]);
  }

  #pipeline(src: string, label: string): GPUComputePipeline {
    return this.gpu.pipeline(`${commonSrc}\n${src}`, "main", { WG }, label);
  }

  #check(canon: CanonicalTensors, g: Mlp): void {
    const c = this.constants, N = canon.count, K = (c.shDegree + 1) ** 2;
    if (g.spec.inputs !== detailInputs(c) || g.spec.outputs !== G_OUTPUTS) {
      throw new Error(`Poser: G must map ${detailInputs(c)} inputs to ${G_OUTPUTS} outputs`);
    }
    const want: [string, Tensor, number][] = [
      ["means", canon.means, 3 * N],
      ["quats", canon.quats, 4 * N],
      ["logScales", canon.logScales, 3 * N],
      ["opacityLogits", canon.opacityLogits, N],
      ["sh", canon.sh, 3 * K * N],
      ["features", canon.features, c.featureDim * N],
    ];
    for (const [name, t, size] of want) {
      if (t.size < size) throw new Error(`Poser: ${name} has ${t.size} elements, need ${size}`);
    }
  }

  /**
   * Records the forward pass for expression code `expression` (length D) and optional forward-field offsets
   * `dxF` [N, 3]. With `train`, G's activations are kept for `backward`. The caller destroys the result.
   */
  forward(
    canon: CanonicalTensors,
    g: Mlp,
    expression: ArrayLike<number>,
    dxF?: Tensor,
    opts: { train?: boolean } = {},
  ): PosedGaussians {
    this.#check(canon, g);
    const c = this.constants, gpu = this.gpu, pool = this.pool, N = canon.count;
    const K = (c.shDegree + 1) ** 2, GI = detailInputs(c);
    if (expression.length !== c.exprDim) {
      throw new Error(`Poser: expression code has ${expression.length} values, expected ${c.exprDim}`);
    }
    if (dxF && dxF.size < 3 * N) throw new Error(`Poser: dxF needs ${3 * N} elements`);
    const expr = pool.acquire([Math.max(c.exprDim, 1)], "f32", "pose.expr");
    if (c.exprDim > 0) expr.upload(Float32Array.from(expression));
    const gInput = pool.acquire([N, GI], "f32", "pose.gInput");
    const gOutput = pool.acquire([N, G_OUTPUTS], "f32", "pose.gOutput");
    const means = pool.acquire([N, 3], "f32", "posed.means");
    const quats = pool.acquire([N, 4], "f32", "posed.quats");
    const logScales = pool.acquire([N, 3], "f32", "posed.logScales");
    const opacityLogits = pool.acquire([N], "f32", "posed.opacityLogits");
    const sh = pool.acquire([N, K, 3], "f32", "posed.sh");
    const regTerms = pool.acquire([N], "f32", "posed.regTerms");
    const hasDxF = !!dxF;
    dispatch(gpu, this.#pipeline(inputSrc, "pose.input"), {
      bindings: [
        canon.means,
        canon.features.size > 0 ? canon.features : this.#zero,
        expr,
        gInput,
        this.#uniform(N, hasDxF),
      ],
      workgroups: Math.ceil((N * GI) / WG),
    });
    expr.destroy();
    let acts: MlpActivations | undefined;
    if (N > 0) {
      if (opts.train) acts = g.forwardTrain(gInput, gOutput);
      else g.forward(gInput, gOutput);
    }
    dispatch(gpu, this.#pipeline(applyGeoSrc, "pose.applyGeometry"), {
      bindings: [
        canon.means,
        canon.quats,
        dxF ?? this.#zero,
        gOutput,
        means,
        quats,
        regTerms,
        this.#uniform(N, hasDxF),
      ],
      workgroups: Math.ceil(N / WG),
    });
    dispatch(gpu, this.#pipeline(applyAppSrc, "pose.applyAppearance"), {
      bindings: [
        canon.logScales,
        canon.opacityLogits,
        canon.sh,
        gOutput,
        logScales,
        opacityLogits,
        sh,
        regTerms,
        this.#uniform(N, hasDxF),
      ],
      workgroups: Math.ceil(N / WG),
    });
    const owned = [gInput, gOutput, means, quats, logScales, opacityLogits, sh, regTerms];
    let destroyed = false;
    return {
      count: N,
      means,
      quats,
      logScales,
      opacityLogits,
      sh,
      regTerms,
      gInput,
      gOutput,
      hasDxF,
      acts,
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        acts?.release();
        for (const t of owned) t.destroy();
      },
    };
  }

  /** Records `out[offset] = sum of the regularizer terms` (the offset regularizer loss). */
  regularizerLoss(posed: PosedGaussians, out: Tensor, offset = 0): void {
    reduce(this.gpu, posed.regTerms, "sum", out, { count: posed.count, outOffset: offset });
  }

  /**
   * Records the backward pass of a training `forward`: ADDS the canonical gradients into `canonGrads`, writes
   * (or with `accumulateG` adds) G's parameter gradients into `g.grads`, and returns dL/d(dx_F) [N, 3] (a pooled
   * tensor the caller destroys; it equals the posed means gradient, since dx_F enters the mean additively). The
   * loss is the render loss whose gradients are `posedGrads` plus the offset regularizer. `addGOutputGrad`, when
   * given, records additions to dL/d(G output) [N, 14] (e.g. a regularizer on G's dynamics) before G's backward.
   */
  backward(
    canon: CanonicalTensors,
    canonGrads: CanonicalTensors,
    g: Mlp,
    posed: PosedGaussians,
    posedGrads: PosedGradients,
    opts: { accumulateG?: boolean; addGOutputGrad?: (dGout: Tensor<"f32">) => void } = {},
  ): Tensor<"f32"> {
    this.#check(canon, g);
    this.#check(canonGrads, g);
    if (!posed.acts) throw new Error("Poser.backward: the forward pass was not run with train: true");
    const gpu = this.gpu, pool = this.pool, N = canon.count, GI = detailInputs(this.constants);
    const dGout = pool.acquire([N, G_OUTPUTS], "f32", "pose.dGout");
    const dDxF = pool.acquire([N, 3], "f32", "pose.dDxF");
    const dInput = pool.acquire([N, GI], "f32", "pose.dInput");
    dispatch(gpu, this.#pipeline(backGeoSrc, "pose.backwardGeometry"), {
      bindings: [
        posedGrads.means,
        posedGrads.quats,
        canon.quats,
        posed.gOutput,
        canonGrads.means,
        canonGrads.quats,
        dGout,
        dDxF,
        this.#uniform(N, posed.hasDxF),
      ],
      workgroups: Math.ceil(N / WG),
    });
    dispatch(gpu, this.#pipeline(backAppSrc, "pose.backwardAppearance"), {
      bindings: [
        posedGrads.logScales,
        posedGrads.opacityLogits,
        posedGrads.sh,
        posed.gOutput,
        canonGrads.logScales,
        canonGrads.opacityLogits,
        canonGrads.sh,
        dGout,
        this.#uniform(N, posed.hasDxF),
      ],
      workgroups: Math.ceil(N / WG),
    });
    if (N > 0) {
      opts.addGOutputGrad?.(dGout);
      g.backward(posed.acts, dGout, dInput, { accumulate: opts.accumulateG });
      posed.acts = undefined;
      dispatch(gpu, this.#pipeline(inputBackSrc, "pose.inputBackward"), {
        bindings: [
          dInput,
          canonGrads.means,
          canonGrads.features.size > 0 ? canonGrads.features : this.#zero,
          this.#uniform(N, posed.hasDxF),
        ],
        workgroups: Math.ceil(N / WG),
      });
    } else if (!opts.accumulateG) {
      g.grads.zero();
    }
    dGout.destroy();
    dInput.destroy();
    return dDxF;
  }

  /** Frees pooled buffers. */
  destroy(): void {
    this.pool.clear();
    this.#zero.destroy();
  }
}
