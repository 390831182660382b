/**
 * Separable convolution of planar image stacks with a symmetric kernel and zero padding (e.g. the Gaussian
 * window of SSIM). Because the kernel is symmetric and padding is zero, the operation is self-adjoint: the same
 * call back-propagates gradients.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { Tensor } from "./tensor.ts";
import src from "./blur.wgsl" with { type: "text" };

const WG = 256;

/** Normalized 1-D Gaussian taps of radius `radius` (2 * radius + 1 values). */
export function gaussianTaps(radius: number, sigma: number): Float32Array {
  const t = new Float32Array(2 * radius + 1);
  let s = 0;
  for (let k = -radius; k <= radius; k++) s += t[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let i = 0; i < t.length; i++) t[i] /= s;
  return t;
}

export interface PlaneShape {
  planes: number;
  height: number;
  width: number;
}

/** Records dst = conv_axis(src) for a [planes, height, width] stack; `taps` has odd length 2R+1. */
export function convolve1d(
  gpu: Gpu,
  src_: Tensor,
  dst: Tensor,
  taps: Tensor,
  shape: PlaneShape,
  axis: 0 | 1,
): void {
  const n = shape.planes * shape.height * shape.width;
  if (src_.size < n || dst.size < n) throw new Error(`convolve1d: tensors smaller than ${n} elements`);
  if (taps.size % 2 !== 1) throw new Error("convolve1d: taps must have odd length");
  dispatch(gpu, gpu.pipeline(src, "main", { WG }, "convolve1d"), {
    bindings: [
      src_,
      dst,
      taps,
      uniforms(gpu, [shape.planes, shape.height, shape.width, (taps.size - 1) / 2, axis]),
    ],
    workgroups: Math.ceil(n / WG),
  });
}

/** Records dst = separable 2-D convolution of src (x then y), using `tmp` (same size) in between. */
export function convolveSeparable(
  gpu: Gpu,
  src_: Tensor,
  dst: Tensor,
  tmp: Tensor,
  taps: Tensor,
  shape: PlaneShape,
): void {
  convolve1d(gpu, src_, tmp, taps, shape, 0);
  convolve1d(gpu, tmp, dst, taps, shape, 1);
}
