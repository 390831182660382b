/**
 * Channel ranges between channel-last images [P, C] (channel_slice.wgsl): concatenation, residual adds and the
 * split of a concatenated gradient. CPU reference: `channelSliceCpu`.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import src from "./channel_slice.wgsl" with { type: "text" };

const WG = 64;

/** Which channels go where: n channels from src channel srcOff to dst channel dstOff, for every pixel. */
export interface SliceSpec {
  pixels: number;
  srcChannels: number;
  srcOffset: number;
  dstChannels: number;
  dstOffset: number;
  count: number;
  /** Add to dst instead of overwriting it. */
  add: boolean;
}

function check(s: SliceSpec, srcSize: number, dstSize: number): void {
  if (s.srcOffset + s.count > s.srcChannels || s.dstOffset + s.count > s.dstChannels) {
    throw new Error("channelSlice: channel range outside the image's channels");
  }
  if (srcSize < s.pixels * s.srcChannels || dstSize < s.pixels * s.dstChannels) {
    throw new Error("channelSlice: tensor smaller than pixels x channels");
  }
}

/** Records dst[:, dstOffset + c] (+)= src[:, srcOffset + c] for c < count. */
export function channelSlice(gpu: Gpu, srcT: Tensor, dst: Tensor, s: SliceSpec): void {
  check(s, srcT.size, dst.size);
  dispatch(gpu, gpu.pipeline(src, "main", { WG }, "channel_slice"), {
    bindings: [
      srcT,
      dst,
      uniforms(gpu, [
        s.pixels,
        s.srcChannels,
        s.srcOffset,
        s.dstChannels,
        s.dstOffset,
        s.count,
        s.add ? 1 : 0,
      ]),
    ],
    workgroups: Math.ceil((s.pixels * s.count) / WG),
  });
}

/** CPU reference of `channelSlice` (modifies `dst`). */
export function channelSliceCpu(srcA: ArrayLike<number>, dst: Float32Array, s: SliceSpec): void {
  check(s, srcA.length, dst.length);
  for (let p = 0; p < s.pixels; p++) {
    for (let c = 0; c < s.count; c++) {
      const d = p * s.dstChannels + s.dstOffset + c;
      dst[d] = (s.add ? dst[d] : 0) + srcA[p * s.srcChannels + s.srcOffset + c];
    }
  }
}
