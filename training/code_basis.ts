/**
 * The output heads of the deformation networks (B and F, deform_net.ts):
 *
 * - "offset": the network's 3 outputs are the offset (the NPHM layout).
 * - "codeBasis": the network emits one 3-vector per expression coefficient, [N, 3 * D] (the x components of all
 *   D, then y, then z), and the offset is sum_k basis_k * (z_k - z0_k) with z the point's code and z0 the
 *   canonical code (code_basis.wgsl). The offset is then exactly zero at the canonical expression, and linear
 *   blendshape motion (offset = sum_k z_k * delta_k(x)) is representable by a purely spatial field, so the
 *   network's capacity goes to where things move instead of to multiplying by the code; it still sees the code
 *   as an input, so non-linear motion (the backward field B of a linear rig, real captures) stays representable.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import src from "./code_basis.wgsl" with { type: "text" };

export type DeformOutput = "offset" | "codeBasis";

export interface CodeBasisArgs {
  /** Expression code dimension D. */
  d: number;
  /** Input rows [N, stride]; columns off .. off + D - 1 hold each point's code. */
  rows: Tensor;
  stride: number;
  off: number;
  /** Canonical code [D]. */
  z0: Tensor;
  /** Output scale s. */
  s: number;
}

function check(a: CodeBasisArgs, n: number, basis: Tensor, vec: Tensor): void {
  if (basis.size !== n * 3 * a.d) throw new Error(`codeBasis: the basis must have ${n * 3 * a.d} elements`);
  if (vec.size !== 3 * n) throw new Error(`codeBasis: the offsets must have ${3 * n} elements`);
  if (a.rows.size < n * a.stride || a.off + a.d > a.stride) throw new Error("codeBasis: rows too small");
  if (a.z0.size < a.d) throw new Error(`codeBasis: z0 must have ${a.d} elements`);
}

function params(gpu: Gpu, a: CodeBasisArgs, n: number): GPUBuffer {
  return uniforms(gpu, [n, a.d, a.stride, a.off, { f32: a.s }]);
}

/** Records out [N, 3] = s * sum_k raw[:, c * D + k] * (code_k - z0_k). */
export function codeBasisForward(gpu: Gpu, a: CodeBasisArgs, raw: Tensor, out: Tensor): void {
  const n = out.size / 3;
  check(a, n, raw, out);
  dispatch(gpu, gpu.pipeline(src, "forward", {}, "code_basis.forward"), {
    bindings: [raw, a.rows, a.z0, out, params(gpu, a, n)],
    workgroups: Math.ceil(n / 256),
  });
}

/** Records dRaw [N, 3D] = s * g[:, c] * (code_k - z0_k), the gradient of `codeBasisForward`. */
export function codeBasisBackward(gpu: Gpu, a: CodeBasisArgs, g: Tensor, dRaw: Tensor): void {
  const n = g.size / 3;
  check(a, n, dRaw, g);
  dispatch(gpu, gpu.pipeline(src, "backward", {}, "code_basis.backward"), {
    bindings: [g, a.rows, a.z0, dRaw, params(gpu, a, n)],
    workgroups: Math.ceil((n * 3 * a.d) / 256),
  });
}

/** CPU arrays for the references (same meaning as `CodeBasisArgs`). */
export interface CodeBasisCpuArgs {
  d: number;
  rows: ArrayLike<number>;
  stride: number;
  off: number;
  z0: ArrayLike<number>;
  s: number;
}

/** CPU reference of `codeBasisForward` (float64). */
export function codeBasisForwardCpu(a: CodeBasisCpuArgs, raw: ArrayLike<number>): Float64Array {
  const n = raw.length / (3 * a.d), out = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      let acc = 0;
      for (let k = 0; k < a.d; k++) {
        acc += raw[i * 3 * a.d + c * a.d + k] * (a.rows[i * a.stride + a.off + k] - a.z0[k]);
      }
      out[3 * i + c] = a.s * acc;
    }
  }
  return out;
}

/** CPU reference of `codeBasisBackward` (float64). */
export function codeBasisBackwardCpu(a: CodeBasisCpuArgs, g: ArrayLike<number>): Float64Array {
  const n = g.length / 3, out = new Float64Array(n * 3 * a.d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let k = 0; k < a.d; k++) {
        out[i * 3 * a.d + c * a.d + k] = a.s * g[3 * i + c] * (a.rows[i * a.stride + a.off + k] - a.z0[k]);
      }
    }
  }
  return out;
}
