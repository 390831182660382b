/**
 * The trainer's per-step gradient buffers of the posed Gaussians (what the rasterizer backward adds into and the
 * pose backward reads), kept between steps and reallocated when the Gaussian count changes (densification).
 */
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { PosedGradients } from "./pose.ts";

/** Reusable, zeroed posed-gradient tensors sized for the current Gaussian count. */
export class PosedGradBuffers {
  readonly gpu: Gpu;
  #grads: PosedGradients | null = null;

  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  /** Zeroed gradients for `n` Gaussians with `K` SH coefficients per channel (reallocated on a size change). */
  zeroed(n: number, K: number): PosedGradients {
    if (this.#grads && this.#grads.opacityLogits.size === n && this.#grads.sh.size === 3 * K * n) {
      for (const t of Object.values(this.#grads)) t.zero();
      return this.#grads;
    }
    this.destroy();
    const e = (k: number, what: string) => Tensor.empty(this.gpu, [n * k], "f32", `trainer.dPosed.${what}`);
    this.#grads = {
      means: e(3, "means"),
      quats: e(4, "quats"),
      logScales: e(3, "logScales"),
      opacityLogits: e(1, "opacity"),
      sh: e(3 * K, "sh"),
    };
    return this.#grads;
  }

  /** Frees the tensors. */
  destroy(): void {
    if (this.#grads) { for (const t of Object.values(this.#grads)) t.destroy(); }
    this.#grads = null;
  }
}
