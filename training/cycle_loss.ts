/**
 * The cycle-consistency loss of the forward field F through the frozen expression prior B (NPGA section 3.2;
 * see distill.ts), with the optional direct supervision by the rig: of F's offsets (`rigTarget`) and of its
 * code basis, vector by vector (`basisTarget`, basis_residual.ts). Used by the distillation and by F's joint
 * fine-tuning (field_step.ts).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import { basisResidual } from "./basis_residual.ts";
import type { CodeSource } from "./deform_inputs.ts";
import type { ForwardField } from "./distill.ts";
import type { ExpressionPrior } from "./prior.ts";
import { residual3 } from "./prior_residual.ts";
import gradSrc from "./cycle_grad.wgsl" with { type: "text" };

/** Records dF = g + dIn[:, 0..3) (cycle_grad.wgsl) for g [N, 3] and dIn [N, stride]. */
export function cycleGrad(gpu: Gpu, g: Tensor, dIn: Tensor, stride: number, dF: Tensor): void {
  const n = g.size / 3;
  if (dIn.size !== n * stride || dF.size !== 3 * n) throw new Error("cycleGrad: shape mismatch");
  dispatch(gpu, gpu.pipeline(gradSrc, "main", {}, "cycle_grad"), {
    bindings: [g, dIn, dF, uniforms(gpu, [n, stride])],
    workgroups: Math.ceil((3 * n) / 256),
  });
}

/** CPU reference of `cycleGrad`. */
export function cycleGradCpu(g: ArrayLike<number>, dIn: ArrayLike<number>, stride: number): Float64Array {
  const out = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = g[i] + dIn[Math.floor(i / 3) * stride + (i % 3)];
  return out;
}

/** Canonical points (world) with their codes and optional features, for one cycle-loss evaluation. */
export interface CycleBatch {
  points: Tensor;
  features?: Tensor;
  code: CodeSource;
  /**
   * The rig's own displacement posed - canonical [N, 3] in normalized units, when known: F is then also
   * supervised directly, adding `rigWeight` * mean |F - target|^2 to the loss.
   */
  rigTarget?: Tensor;
  rigWeight?: number;
  /**
   * The rig's basis at the points [N, 3D] (normalized units, prior_pairs.ts `PosedPairs.basis`) and per-shape
   * weights [D]: F's code-basis head is then also supervised basis vector by basis vector (basis_residual.ts),
   * adding `basisWeight` * mean_i sum_{c,k} w_k r^2 to the loss.
   */
  basisTarget?: Tensor;
  basisWeights?: Tensor;
  basisWeight?: number;
}

/**
 * Records the cycle loss and its gradient: F's parameter gradients (times `weight`, added with `accumulate`)
 * and returns sq [N] with the per-point squared residual |F + B(x_c + F, z)|^2 in normalized units (reduce with
 * "mean" for the unweighted loss; the caller destroys it). Overwrites B's parameter gradients.
 */
export function recordCycleLoss(
  field: ForwardField,
  prior: ExpressionPrior,
  b: CycleBatch,
  opts: { weight?: number; accumulate?: boolean } = {},
): Tensor<"f32"> {
  const gpu = field.gpu, pool = field.pool;
  const n = b.points.size / 3;
  const inF = pool.acquire([n, field.inputDim], "f32", "cycle.inF");
  const dx = pool.acquire([n, 3], "f32", "cycle.dx");
  const inB = pool.acquire([n, prior.inputDim], "f32", "cycle.inB");
  const delta = pool.acquire([n, 3], "f32", "cycle.delta");
  const g = pool.acquire([n, 3], "f32", "cycle.g");
  const dInB = pool.acquire([n, prior.inputDim], "f32", "cycle.dInB");
  const gF = pool.acquire([n, 3], "f32", "cycle.gF");
  const sq = Tensor.empty(gpu, [n], "f32", "cycle.sq");
  field.assemble(b.points, b.features ?? null, b.code, inF);
  const actsF = field.net.forwardTrain(inF, dx, 1);
  prior.assemble(b.points, b.code, inB, dx);
  const actsB = prior.net.forwardTrain(inB, delta, 1);
  const w = opts.weight ?? 1;
  residual3(gpu, { a: dx, b: delta, ca: 1, cb: 1, gs: (2 * w) / n, res: g, sq });
  prior.net.backward(actsB, g, 1, dInB);
  cycleGrad(gpu, g, dInB, prior.inputDim, gF);
  const rw = b.rigTarget ? (b.rigWeight ?? 1) : 0;
  const gSum = rw > 0 ? pool.acquire([n, 3], "f32", "cycle.gsum") : gF;
  if (rw > 0) {
    // gSum = gF + 2 w rw (dx - target) / n, the direct term's gradient added to the cycle's.
    const gRig = pool.acquire([n, 3], "f32", "cycle.grig"), sqRig = pool.acquire([n], "f32", "cycle.sqrig");
    residual3(gpu, { a: dx, b: b.rigTarget!, ca: 1, cb: -1, gs: (2 * w * rw) / n, res: gRig, sq: sqRig });
    residual3(gpu, { a: gF, b: gRig, ca: 1, cb: 1, gs: 1, res: gSum, sq: sqRig });
    gRig.destroy();
    sqRig.destroy();
  }
  const bw = b.basisTarget && b.basisWeights ? (b.basisWeight ?? 1) : 0;
  const addRaw = bw > 0
    ? (raw: Tensor, dRaw: Tensor) => {
      const sqB = pool.acquire([n], "f32", "cycle.sqbasis");
      basisResidual(gpu, {
        d: field.config.codeDim,
        raw,
        s: 1,
        target: b.basisTarget!,
        weights: b.basisWeights!,
        gs: (2 * w * bw) / n,
        dRaw,
        sq: sqB,
      });
      sqB.destroy();
    }
    : undefined;
  field.net.backward(actsF, gSum, 1, undefined, { accumulate: opts.accumulate, addRaw });
  if (gSum !== gF) gSum.destroy();
  for (const t of [inF, dx, inB, delta, g, dInB, gF]) t.destroy();
  return sq;
}
