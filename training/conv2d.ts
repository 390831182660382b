/**
 * 3x3 convolution layers on channel-last image batches [V, H, W, C] (the rasterizer's output layout): stride 1,
 * zero padding 1, bias, ReLU or identity. Images carry their channels padded to a multiple of 4
 * (`paddedChannels`; pad channels hold 0) so every load is a vec4. A layer's parameters live at an offset (a
 * multiple of 16 floats) of a flat tensor, as 4x4 blocks: weights [3, 3, Cin/4, Cout/4] mat4x4 (column c = input
 * channel 4 i4 + c, row r = output channel 4 g + r; `weightIndex`), then the bias (`biasIndex`) padded to whole
 * 4x4 blocks; pad entries stay 0 (their gradients are 0). A network keeps all its layers in one parameter tensor
 * and one gradient tensor (one Adam group).
 *
 * Forward: one invocation per (pixel, 4 output channels), a mat4 x vec4 product per tap and input group.
 * Backward to the input: the transposed convolution, one invocation per (pixel, 4 input channels). Backward to the
 * weights: per-chunk partial sums (one workgroup row per chunk of pixels, one invocation per 4x4 weight block or 4
 * bias groups, accumulating outer products) and a reduce over the chunks; no atomics, so gradients are
 * deterministic. Gradients are written (not accumulated). CPU reference: conv2d_cpu.ts.
 *
 * Measured (bench/cnn_bench.ts, 2-core lavapipe shared with other jobs, load average ~14, so noisy): the first
 * version with scalar loads (4 outputs per invocation, 5 scalar loads per 4 multiply-adds, unpadded channels) took
 * 2.6 s forward and 11.1 s forward + backward for the default network (11 -> 16 -> 16 -> 3) at 256²; this one
 * (vec4 images, mat4x4 weight blocks) 1.7 s and 5.3 s under the same load, 0.34 s and 1.6 s on a quieter machine
 * (load average ~4; 128²: 0.14 s and 0.29 s).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor, TensorPool } from "../gpu/tensor.ts";
import forwardSrc from "./conv2d_forward.wgsl" with { type: "text" };
import inputSrc from "./conv2d_backward_input.wgsl" with { type: "text" };
import weightsSrc from "./conv2d_backward_weights.wgsl" with { type: "text" };
import reduceSrc from "./conv2d_reduce.wgsl" with { type: "text" };

const WG = 64;
/** Largest channel count of a layer's input or output. */
export const MAX_CONV_CHANNELS = 32;
/** Most chunks the weight gradient is split into (the reduce loops over them). */
const MAX_CHUNKS = 1024;
/** Fewest pixels per chunk. */
const MIN_CHUNK = 64;

/** One layer: channel counts and activation. */
export interface ConvLayer {
  cin: number;
  cout: number;
  relu: boolean;
}

/** A batch of V images of H x W pixels. */
export interface ImageShape {
  views: number;
  height: number;
  width: number;
}

/** Channels of an image with `c` logical channels as stored (rounded up to a multiple of 4). */
export function paddedChannels(c: number): number {
  return 4 * Math.ceil(c / 4);
}

/** Number of parameter floats of a layer (4x4 weight blocks, then the bias in whole 4x4 blocks; a multiple of 16). */
export function convParamCount(l: ConvLayer): number {
  const ci4 = Math.ceil(l.cin / 4), co4 = Math.ceil(l.cout / 4);
  return 16 * (9 * ci4 * co4 + Math.ceil(co4 / 4));
}

/** Index (from the layer's offset) of the weight of output o, tap ky * 3 + kx and input i. */
export function weightIndex(l: ConvLayer, tap: number, i: number, o: number): number {
  const ci4 = Math.ceil(l.cin / 4), co4 = Math.ceil(l.cout / 4);
  return 16 * ((tap * ci4 + (i >> 2)) * co4 + (o >> 2)) + 4 * (i & 3) + (o & 3);
}

/** Index (from the layer's offset) of the bias of output o. */
export function biasIndex(l: ConvLayer, o: number): number {
  return 16 * 9 * Math.ceil(l.cin / 4) * Math.ceil(l.cout / 4) + o;
}

/** Throws unless the layer's channel counts are integers in 1..MAX_CONV_CHANNELS. */
export function validateConvLayer(l: ConvLayer): void {
  for (const [name, c] of [["cin", l.cin], ["cout", l.cout]] as const) {
    if (!Number.isInteger(c) || c < 1 || c > MAX_CONV_CHANNELS) {
      throw new Error(`conv2d: ${name} must be an integer in 1..${MAX_CONV_CHANNELS} (got ${c})`);
    }
  }
}

function pixelsOf(s: ImageShape): number {
  return s.views * s.height * s.width;
}

function constants(l: ConvLayer): Record<string, number> {
  return { CIN4: Math.ceil(l.cin / 4), COUT4: Math.ceil(l.cout / 4), RELU: l.relu ? 1 : 0, WG };
}

function checkSize(what: string, t: Tensor, n: number): void {
  if (t.size < n) throw new Error(`conv2d: ${what} has ${t.size} elements, need ${n}`);
}

function checkOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset % 16 !== 0) {
    throw new Error(`conv2d: parameter offset ${offset} must be a non-negative multiple of 16`);
  }
}

/** Records y = act(conv(x) + b) with the layer's parameters at element `offset` of `params`. */
export function conv2dForward(
  gpu: Gpu,
  l: ConvLayer,
  shape: ImageShape,
  x: Tensor,
  params: Tensor,
  offset: number,
  y: Tensor,
): void {
  validateConvLayer(l);
  checkOffset(offset);
  const P = pixelsOf(shape);
  checkSize("x", x, P * paddedChannels(l.cin));
  checkSize("y", y, P * paddedChannels(l.cout));
  checkSize("params", params, offset + convParamCount(l));
  dispatch(gpu, gpu.pipeline(forwardSrc, "main", constants(l), "conv2d.forward"), {
    bindings: [x, params, y, uniforms(gpu, [P, shape.height, shape.width, offset / 16])],
    workgroups: Math.ceil((P * Math.ceil(l.cout / 4)) / WG),
  });
}

/** Inputs of a layer's backward pass. */
export interface Conv2dBackwardArgs {
  /** The forward's input [V, H, W, paddedChannels(cin)]. */
  x: Tensor;
  /** The forward's output [V, H, W, paddedChannels(cout)] (for the ReLU mask). */
  y: Tensor;
  /** dL/dy [V, H, W, paddedChannels(cout)] (pad channels 0). */
  dy: Tensor;
  params: Tensor;
  /** Element offset of the layer in `params` and `grads`. */
  offset: number;
  /** Receives dL/d(weights, bias) at `offset` (overwritten). */
  grads: Tensor;
  /** Receives dL/dx [V, H, W, paddedChannels(cin)] (overwritten); omit when the input needs no gradient. */
  dx?: Tensor;
  /** Scratch tensors for the partial sums come from here. */
  pool: TensorPool;
}

/** Pixels per chunk and chunk count of the weight gradient's partial sums for `pixels` pixels. */
export function weightChunks(pixels: number): { chunk: number; chunks: number } {
  const chunk = Math.max(MIN_CHUNK, Math.ceil(pixels / MAX_CHUNKS));
  return { chunk, chunks: Math.max(1, Math.ceil(pixels / chunk)) };
}

/** Records the layer's backward: weight and bias gradients, and the input gradient when `dx` is given. */
export function conv2dBackward(gpu: Gpu, l: ConvLayer, shape: ImageShape, a: Conv2dBackwardArgs): void {
  validateConvLayer(l);
  checkOffset(a.offset);
  const P = pixelsOf(shape), m = convParamCount(l);
  const cin = paddedChannels(l.cin), cout = paddedChannels(l.cout);
  checkSize("x", a.x, P * cin);
  checkSize("y", a.y, P * cout);
  checkSize("dy", a.dy, P * cout);
  checkSize("params", a.params, a.offset + m);
  checkSize("grads", a.grads, a.offset + m);
  const c = constants(l);
  if (a.dx) {
    checkSize("dx", a.dx, P * cin);
    dispatch(gpu, gpu.pipeline(inputSrc, "main", c, "conv2d.backward_input"), {
      bindings: [a.dy, a.y, a.params, a.dx, uniforms(gpu, [P, shape.height, shape.width, a.offset / 16])],
      workgroups: Math.ceil((P * Math.ceil(l.cin / 4)) / WG),
    });
  }
  const { chunk, chunks } = weightChunks(P);
  const partials = a.pool.acquire([chunks, m], "f32", "conv2d.partials");
  dispatch(gpu, gpu.pipeline(weightsSrc, "main", c, "conv2d.backward_weights"), {
    bindings: [a.x, a.dy, a.y, partials, uniforms(gpu, [P, shape.height, shape.width, chunk])],
    workgroups: [Math.ceil(m / 16 / WG), chunks],
  });
  dispatch(gpu, gpu.pipeline(reduceSrc, "main", { WG }, "conv2d.reduce"), {
    bindings: [partials, a.grads, uniforms(gpu, [m / 4, chunks, a.offset / 4])],
    workgroups: Math.ceil(m / 4 / WG),
  });
  partials.destroy();
}
