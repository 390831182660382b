/**
 * Screen-space refinement network (NPGA's CNN on the splatted feature image): the rasterizer renders RGB [V, H, W,
 * 3] and the per-Gaussian latent features as extra channels [V, H, W, F]; a small stack of 3x3 convolutions
 * (conv2d.ts; ReLU between layers, identity last) maps their concatenation [V, H, W, 3 + F] to a residual, and the
 * output is RGB + residual. The last layer starts at zero, so switching the network on mid-training does not
 * change the image. All layers' parameters are one flat tensor (one Adam group "cnn"); `backward` writes their
 * gradient and returns dL/dRGB and dL/d(extra channels) for the rasterizer's backward.
 */
import type { AdamGroup } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { channelSlice } from "./channel_slice.ts";
import {
  conv2dBackward,
  conv2dForward,
  type ConvLayer,
  convParamCount,
  type ImageShape,
  paddedChannels,
  weightIndex,
} from "./conv2d.ts";

/** The network's shape (stored in checkpoints). */
export interface RefineCnnConfig {
  /** Latent channels rendered next to RGB (the avatar's feature dimension). */
  featureDim: number;
  /** Channels of the hidden layers. */
  width: number;
  /** Hidden layers (each a 3x3 convolution + ReLU) before the output convolution. */
  hidden: number;
  /** Seed of the hidden layers' initialization. */
  seed: number;
}

/** The layers of a network with this configuration. */
export function refineLayers(c: RefineCnnConfig): ConvLayer[] {
  const layers: ConvLayer[] = [];
  let cin = 3 + c.featureDim;
  for (let i = 0; i < c.hidden; i++) {
    layers.push({ cin, cout: c.width, relu: true });
    cin = c.width;
  }
  layers.push({ cin, cout: 3, relu: false });
  return layers;
}

/** A forward pass's activations, kept for the backward until `release()`. */
export interface RefineForward {
  shape: ImageShape;
  /** [V, H, W, 3] refined RGB. */
  rgb: Tensor;
  /**
   * acts[0] is the input [V, H, W, 3 + F], acts[l + 1] layer l's output (the last is the residual), channels
   * padded to multiples of 4 (conv2d.ts).
   */
  acts: Tensor[];
  release(): void;
}

/** The refinement network (see the module comment). */
export class RefineCnn {
  readonly gpu: Gpu;
  readonly config: RefineCnnConfig;
  readonly layers: ConvLayer[];
  /** Element offset of each layer in `params`. */
  readonly offsets: number[];
  readonly params: Tensor;
  readonly grads: Tensor;
  readonly pool: TensorPool;

  constructor(gpu: Gpu, config: RefineCnnConfig) {
    if (!Number.isInteger(config.hidden) || config.hidden < 1) {
      throw new Error(`refine CNN: hidden layers must be a positive integer (got ${config.hidden})`);
    }
    this.gpu = gpu;
    this.config = { ...config };
    this.layers = refineLayers(config);
    this.offsets = [];
    let n = 0;
    for (const l of this.layers) {
      this.offsets.push(n);
      n += convParamCount(l);
    }
    this.params = Tensor.from(gpu, this.initialParams(), [n], "cnn.params");
    this.grads = Tensor.empty(gpu, [n], "f32", "cnn.grads");
    this.pool = new TensorPool(gpu);
  }

  /** Number of parameters. */
  get paramCount(): number {
    return this.params.size;
  }

  /** He-normal hidden weights (fan-in 9 cin), zero biases, zero output layer (pad entries 0). */
  initialParams(): Float32Array {
    const rng = new Rng(this.config.seed);
    const p = new Float32Array(this.offsets.at(-1)! + convParamCount(this.layers.at(-1)!));
    this.layers.forEach((l, k) => {
      if (k === this.layers.length - 1) return;
      const std = Math.sqrt(2 / (9 * l.cin));
      for (let o = 0; o < l.cout; o++) {
        for (let t = 0; t < 9; t++) {
          for (let i = 0; i < l.cin; i++) p[this.offsets[k] + weightIndex(l, t, i, o)] = std * rng.normal();
        }
      }
    });
    return p;
  }

  /** The Adam group of the parameters. */
  adamGroup(lr: number): AdamGroup {
    return { name: "cnn", params: this.params, grads: this.grads, lr };
  }

  /** Reads the parameters back. */
  async getParams(): Promise<Float32Array> {
    return (await this.params.read()) as Float32Array;
  }

  /** Replaces the parameters (same count). */
  setParams(p: Float32Array): void {
    if (p.length !== this.paramCount) {
      throw new Error(`refine CNN: ${p.length} parameters given, the network has ${this.paramCount}`);
    }
    this.params.upload(p);
  }

  /** Records the forward pass on rendered RGB [V, H, W, 3] and extra channels [V, H, W, F]. */
  forward(rgb: Tensor, extras: Tensor, shape: ImageShape): RefineForward {
    const P = shape.views * shape.height * shape.width, F = this.config.featureDim, C = paddedChannels(3 + F);
    if (rgb.size !== P * 3 || extras.size < P * F) {
      throw new Error(
        `refine CNN: the rendered images do not match ${shape.views}x${shape.height}x${shape.width}`,
      );
    }
    const x0 = this.pool.acquire([P, C], "f32", "cnn.input");
    channelSlice(this.gpu, rgb, x0, slice(P, 3, 0, C, 0, 3, false));
    channelSlice(this.gpu, extras, x0, slice(P, F, 0, C, 3, F, false));
    const acts = [x0];
    this.layers.forEach((l, k) => {
      const y = this.pool.acquire([P, paddedChannels(l.cout)], "f32", `cnn.act${k}`);
      conv2dForward(this.gpu, l, shape, acts[k], this.params, this.offsets[k], y);
      acts.push(y);
    });
    const out = this.pool.acquire([P, 3], "f32", "cnn.rgb");
    out.copyFrom(rgb);
    channelSlice(this.gpu, acts.at(-1)!, out, slice(P, 4, 0, 3, 0, 3, true));
    return {
      shape,
      rgb: out,
      acts,
      release: () => {
        for (const t of acts) t.destroy();
        out.destroy();
      },
    };
  }

  /**
   * Records the backward from dL/d(refined RGB): writes the parameter gradient (`grads`, overwritten) and returns
   * dL/dRGB [V, H, W, 3] and dL/d(extra channels) [V, H, W, F] (pooled tensors; destroy them).
   */
  backward(fw: RefineForward, dOut: Tensor): { rgb: Tensor; extras: Tensor } {
    const { shape, acts } = fw;
    const P = shape.views * shape.height * shape.width, F = this.config.featureDim, C = paddedChannels(3 + F);
    let dy = this.pool.acquire([P, 4], "f32", "cnn.dOut4");
    channelSlice(this.gpu, dOut, dy, slice(P, 3, 0, 4, 0, 3, false));
    const temps: Tensor[] = [dy];
    for (let k = this.layers.length - 1; k >= 0; k--) {
      const l = this.layers[k];
      const dx = this.pool.acquire([P, paddedChannels(l.cin)], "f32", `cnn.grad${k}`);
      conv2dBackward(this.gpu, l, shape, {
        x: acts[k],
        y: acts[k + 1],
        dy,
        params: this.params,
        offset: this.offsets[k],
        grads: this.grads,
        dx,
        pool: this.pool,
      });
      temps.push(dx);
      dy = dx;
    }
    const dRgb = this.pool.acquire([P, 3], "f32", "cnn.dRgb");
    const dExtras = this.pool.acquire([P, F], "f32", "cnn.dExtras");
    dRgb.copyFrom(dOut);
    channelSlice(this.gpu, dy, dRgb, slice(P, C, 0, 3, 0, 3, true));
    channelSlice(this.gpu, dy, dExtras, slice(P, C, 3, F, 0, F, false));
    for (const t of temps) t.destroy();
    return { rgb: dRgb, extras: dExtras };
  }

  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    this.pool.clear();
  }
}

function slice(
  pixels: number,
  srcChannels: number,
  srcOffset: number,
  dstChannels: number,
  dstOffset: number,
  count: number,
  add: boolean,
) {
  return { pixels, srcChannels, srcOffset, dstChannels, dstOffset, count, add };
}
