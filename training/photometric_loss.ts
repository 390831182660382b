/**
 * The photometric loss of NPGA / 3DGS on GPU: L = w_l1 * mean|x - y| + w_ssim * (1 - mean SSIM(x, y)), with
 * SSIM over an 11x11 Gaussian window (sigma 1.5, zero padding, C1 = 0.01², C2 = 0.03² for images in [0, 1]),
 * and its gradient with respect to the rendered images x. Defaults w_l1 = 1, w_ssim = 0.2.
 *
 * Images are [V, H, W, C] f32 channel-last (V views of a batch). All buffers are sized on first use and reused.
 */
import type { Gpu } from "../gpu/device.ts";
import { convolveSeparable, gaussianTaps } from "../gpu/blur.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { reduce } from "../gpu/reduce.ts";
import { Tensor } from "../gpu/tensor.ts";
import prepSrc from "./ssim_prep.wgsl" with { type: "text" };
import mapSrc from "./ssim_map.wgsl" with { type: "text" };
import gradSrc from "./photometric_grad.wgsl" with { type: "text" };

const WG = 256;
export const SSIM_RADIUS = 5;
export const SSIM_SIGMA = 1.5;
export const SSIM_C1 = 0.01 ** 2;
export const SSIM_C2 = 0.03 ** 2;

export interface ImageBatchShape {
  views: number;
  height: number;
  width: number;
  channels: number;
}

export interface PhotometricWeights {
  l1: number;
  ssim: number;
}

/** GPU results of one evaluation: `values` holds [mean |x-y|, mean SSIM] (read it only when needed). */
export interface PhotometricResult {
  /** [2] f32: mean absolute error and mean SSIM. */
  values: Tensor;
  /** [V, H, W, C] f32: dL/dx. */
  grad: Tensor;
}

/** Scratch buffers: SSIM planes, blurred planes, SSIM map, derivative maps and |x - y|. */
interface Scratch {
  q: Tensor;
  tmp: Tensor;
  m: Tensor;
  ssim: Tensor;
  d: Tensor;
  bd: Tensor;
  absd: Tensor;
}

/** Evaluates the loss and its gradient; holds scratch buffers for one image-batch shape at a time. */
export class PhotometricLoss {
  readonly gpu: Gpu;
  weights: PhotometricWeights;
  #taps: Tensor;
  #shapeKey = "";
  #bufs: Scratch | null = null;
  readonly values: Tensor;
  #grad: Tensor | null = null;

  constructor(gpu: Gpu, weights: PhotometricWeights = { l1: 1, ssim: 0.2 }) {
    this.gpu = gpu;
    this.weights = weights;
    this.#taps = Tensor.from(gpu, gaussianTaps(SSIM_RADIUS, SSIM_SIGMA), undefined, "ssim.taps");
    this.values = Tensor.empty(gpu, [2], "f32", "photometric.values");
  }

  #ensure(s: ImageBatchShape): Scratch & { grad: Tensor } {
    const key = `${s.views}x${s.height}x${s.width}x${s.channels}`;
    if (key !== this.#shapeKey || !this.#bufs || !this.#grad) {
      this.#free();
      const n = s.views * s.height * s.width * s.channels;
      const t = (count: number, label: string) => Tensor.empty(this.gpu, [count], "f32", label);
      this.#bufs = {
        q: t(5 * n, "ssim.q"),
        tmp: t(5 * n, "ssim.tmp"),
        m: t(5 * n, "ssim.m"),
        ssim: t(n, "ssim.map"),
        d: t(3 * n, "ssim.d"),
        bd: t(3 * n, "ssim.bd"),
        absd: t(n, "l1.absd"),
      };
      this.#grad = t(n, "photometric.grad");
      this.#shapeKey = key;
    }
    return { ...this.#bufs, grad: this.#grad };
  }

  /** Records the loss evaluation for `pred` against `target` (both [V, H, W, C]). */
  evaluate(pred: Tensor, target: Tensor, s: ImageBatchShape): PhotometricResult {
    const n = s.views * s.height * s.width * s.channels;
    if (pred.size !== n || target.size !== n) {
      throw new Error(
        `PhotometricLoss: images must have ${n} elements (${s.views}x${s.height}x${s.width}x${s.channels})`,
      );
    }
    const b = this.#ensure(s);
    const gpu = this.gpu;
    const dims = [s.views, s.height, s.width, s.channels];
    dispatch(gpu, gpu.pipeline(prepSrc, "main", { WG }, "ssim_prep"), {
      bindings: [pred, target, b.q, uniforms(gpu, dims)],
      workgroups: Math.ceil(n / WG),
    });
    const planes5 = { planes: 5 * s.views * s.channels, height: s.height, width: s.width };
    convolveSeparable(gpu, b.q, b.m, b.tmp, this.#taps, planes5);
    dispatch(gpu, gpu.pipeline(mapSrc, "main", { WG }, "ssim_map"), {
      bindings: [b.m, b.ssim, b.d, uniforms(gpu, [...dims, { f32: SSIM_C1 }, { f32: SSIM_C2 }])],
      workgroups: Math.ceil(n / WG),
    });
    const planes3 = { planes: 3 * s.views * s.channels, height: s.height, width: s.width };
    convolveSeparable(gpu, b.d, b.bd, b.tmp, this.#taps, planes3);
    dispatch(gpu, gpu.pipeline(gradSrc, "main", { WG }, "photometric_grad"), {
      bindings: [
        pred,
        target,
        b.bd,
        b.grad,
        b.absd,
        uniforms(gpu, [...dims, { f32: this.weights.l1 / n }, { f32: this.weights.ssim / n }]),
      ],
      workgroups: Math.ceil(n / WG),
    });
    reduce(gpu, b.absd, "mean", this.values, { count: n, outOffset: 0 });
    reduce(gpu, b.ssim, "mean", this.values, { count: n, outOffset: 1 });
    return { values: this.values, grad: b.grad };
  }

  /** The scalar loss from the [mean L1, mean SSIM] pair read back from `values`. */
  lossFrom(values: ArrayLike<number>): number {
    return this.weights.l1 * values[0] + this.weights.ssim * (1 - values[1]);
  }

  #free(): void {
    if (this.#bufs) { for (const t of Object.values(this.#bufs)) t.destroy(); }
    this.#grad?.destroy();
    this.#bufs = null;
    this.#grad = null;
  }

  destroy(): void {
    this.#free();
    this.#taps.destroy();
    this.values.destroy();
  }
}
