/**
 * The squared-error residual of 3-vectors shared by the deformation fields' losses and output scaling
 * (prior_residual.wgsl).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import residualSrc from "./prior_residual.wgsl" with { type: "text" };

export interface Residual3Args {
  a: Tensor;
  b: Tensor;
  ca: number;
  cb: number;
  /** Scale of `res`: 2 / N gives the gradient of mean |r|^2 with respect to (ca * a). */
  gs: number;
  res: Tensor;
  sq: Tensor;
}

/** Records res = gs * (ca * a + cb * b) and sq[i] = |ca * a_i + cb * b_i|^2 over [N, 3] (prior_residual.wgsl). */
export function residual3(gpu: Gpu, r: Residual3Args): void {
  const n = r.sq.size;
  for (const t of [r.a, r.b, r.res]) {
    if (t.size !== 3 * n) throw new Error(`residual3: ${t.label} must have ${3 * n} elements`);
  }
  dispatch(gpu, gpu.pipeline(residualSrc, "main", {}, "prior_residual"), {
    bindings: [r.a, r.b, r.res, r.sq, uniforms(gpu, [n, { f32: r.ca }, { f32: r.cb }, { f32: r.gs }])],
    workgroups: Math.ceil(n / 256),
  });
}

/** CPU reference of `residual3` (float64). */
export function residual3Cpu(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  ca: number,
  cb: number,
  gs: number,
): { res: Float64Array; sq: Float64Array } {
  const n = a.length / 3;
  const res = new Float64Array(3 * n), sq = new Float64Array(n);
  for (let i = 0; i < 3 * n; i++) {
    const r = ca * a[i] + cb * b[i];
    res[i] = gs * r;
    sq[Math.floor(i / 3)] += r * r;
  }
  return { res, sq };
}
