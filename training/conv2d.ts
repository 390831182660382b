/**
 * 3x3 convolution layers on channel-last image batches [V, H, W, C] (the rasterizer's output layout): stride 1,
 * zero padding 1, bias, ReLU or identity. A layer's parameters live at an element offset of a flat tensor:
 * weights [Cout, 3, 3, Cin] (index ((o * 3 + ky) * 3 + kx) * Cin + i) followed by the bias [Cout], so a network
 * keeps all its layers in one parameter tensor and one gradient tensor (one Adam group).
 *
 * Forward: one invocation per (pixel, 4 output channels). Backward to the input: the transposed convolution, one
 * invocation per (pixel, 4 input channels). Backward to the weights: per-chunk partial sums (one workgroup row per
 * chunk of pixels, one invocation per (output channel, tap, 4 input channels) or bias) and a reduce over the
 * chunks; no atomics, so gradients are deterministic. Gradients are written (not accumulated).
 * CPU reference: conv2d_cpu.ts.
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

/** Number of parameters of a layer (weights then bias). */
export function convParamCount(l: ConvLayer): number {
  return l.cout * 9 * l.cin + l.cout;
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
  return { CIN: l.cin, COUT: l.cout, RELU: l.relu ? 1 : 0, WG };
}

function checkSize(what: string, t: Tensor, n: number): void {
  if (t.size < n) throw new Error(`conv2d: ${what} has ${t.size} elements, need ${n}`);
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
  const P = pixelsOf(shape);
  checkSize("x", x, P * l.cin);
  checkSize("y", y, P * l.cout);
  checkSize("params", params, offset + convParamCount(l));
  dispatch(gpu, gpu.pipeline(forwardSrc, "main", constants(l), "conv2d.forward"), {
    bindings: [x, params, y, uniforms(gpu, [P, shape.height, shape.width, offset])],
    workgroups: Math.ceil((P * Math.ceil(l.cout / 4)) / WG),
  });
}

/** Inputs of a layer's backward pass. */
export interface Conv2dBackwardArgs {
  /** The forward's input [V, H, W, cin]. */
  x: Tensor;
  /** The forward's output [V, H, W, cout] (for the ReLU mask). */
  y: Tensor;
  /** dL/dy [V, H, W, cout]. */
  dy: Tensor;
  params: Tensor;
  /** Element offset of the layer in `params` and `grads`. */
  offset: number;
  /** Receives dL/d(weights, bias) at `offset` (overwritten). */
  grads: Tensor;
  /** Receives dL/dx [V, H, W, cin] (overwritten); omit when the input needs no gradient. */
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
  const P = pixelsOf(shape), m = convParamCount(l);
  checkSize("x", a.x, P * l.cin);
  checkSize("y", a.y, P * l.cout);
  checkSize("dy", a.dy, P * l.cout);
  checkSize("params", a.params, a.offset + m);
  checkSize("grads", a.grads, a.offset + m);
  const c = constants(l);
  if (a.dx) {
    checkSize("dx", a.dx, P * l.cin);
    dispatch(gpu, gpu.pipeline(inputSrc, "main", c, "conv2d.backward_input"), {
      bindings: [a.dy, a.y, a.params, a.dx, uniforms(gpu, [P, shape.height, shape.width, a.offset])],
      workgroups: Math.ceil((P * Math.ceil(l.cin / 4)) / WG),
    });
  }
  const { chunk, chunks } = weightChunks(P);
  const partials = a.pool.acquire([chunks, m], "f32", "conv2d.partials");
  const owners = l.cout * 9 * Math.ceil(l.cin / 4) + l.cout;
  dispatch(gpu, gpu.pipeline(weightsSrc, "main", c, "conv2d.backward_weights"), {
    bindings: [a.x, a.dy, a.y, partials, uniforms(gpu, [P, shape.height, shape.width, chunk])],
    workgroups: [Math.ceil(owners / WG), chunks],
  });
  dispatch(gpu, gpu.pipeline(reduceSrc, "main", { WG }, "conv2d.reduce"), {
    bindings: [partials, a.grads, uniforms(gpu, [m, chunks, a.offset])],
    workgroups: Math.ceil(m / WG),
  });
  partials.destroy();
}
