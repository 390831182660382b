/**
 * Direct supervision of the code-basis head of B or F by a blendshape rig (basis_residual.wgsl): for a linear
 * rig the forward field's exact basis at a canonical point is the rig's blendshape deltas there, so each basis
 * vector gets its own error signal. Through the combined offset alone (code_basis.ts) the basis of a shape is
 * trained by the residual of all shapes times that shape's code, and the jaw's centimetres drown the brows',
 * lids' and nose's millimetres (F learned those shapes to 91-100% of the zero field on the built-in head).
 * CPU reference: `basisResidualCpu`; the targets come from prior_pairs.ts `basisTargets`.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import src from "./basis_residual.wgsl" with { type: "text" };

export interface BasisResidualArgs {
  /** Code dimension D. */
  d: number;
  /** The network's basis [N, 3D], its scale s (offsets = s * raw), the target [N, 3D] and weights [D]. */
  raw: Tensor;
  s: number;
  target: Tensor;
  weights: Tensor;
  /** Gradient scale: 2 * weight / N for the gradient of weight * mean_i sq[i]. */
  gs: number;
  /** Gradient with respect to raw [N, 3D], added to. */
  dRaw: Tensor;
  /** Per-point weighted squared error [N], written. */
  sq: Tensor;
}

/** Records the residual and adds its gradient to `dRaw` (see the module comment). */
export function basisResidual(gpu: Gpu, a: BasisResidualArgs): void {
  const n = a.sq.size, per = 3 * a.d;
  for (const t of [a.raw, a.target, a.dRaw]) {
    if (t.size !== n * per) throw new Error(`basisResidual: ${t.label} must have ${n * per} elements`);
  }
  if (a.weights.size < a.d) throw new Error(`basisResidual: the weights must have ${a.d} elements`);
  dispatch(gpu, gpu.pipeline(src, "main", {}, "basis_residual"), {
    bindings: [
      a.raw,
      a.target,
      a.weights,
      a.dRaw,
      a.sq,
      uniforms(gpu, [n, a.d, { f32: a.s }, { f32: a.gs }]),
    ],
    workgroups: Math.ceil(n / 256),
  });
}

/** CPU reference of `basisResidual` (float64): the gradient to add and the per-point squared errors. */
export function basisResidualCpu(
  d: number,
  raw: ArrayLike<number>,
  s: number,
  target: ArrayLike<number>,
  weights: ArrayLike<number>,
  gs: number,
): { dRaw: Float64Array; sq: Float64Array } {
  const per = 3 * d, n = raw.length / per;
  const dRaw = new Float64Array(raw.length), sq = new Float64Array(n);
  for (let e = 0; e < raw.length; e++) {
    const wk = weights[(e % per) % d], r = s * raw[e] - target[e];
    dRaw[e] = gs * wk * s * r;
    sq[Math.floor(e / per)] += wk * r * r;
  }
  return { dRaw, sq };
}
