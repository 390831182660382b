/**
 * The scalars one training step reads back (trainer.ts): the photometric loss parts, the offset regularizer,
 * sums of the canonical parameters (a non-finite value anywhere makes its sum non-finite, which catches
 * poisoned Gaussians the rasterizer culls, whose loss would look finite) and, when F is fine-tuned, the cycle
 * loss. One small GPU buffer, read once per step (twice with the cycle loss).
 *
 * Buffer layout `values` [4 + 6] f32: [mean L1, mean SSIM, regularizer sum, sums of means, quats, logScales,
 * opacityLogits, sh, features (CANONICAL_FIELDS order), mean cycle residual].
 */
import type { Gpu } from "../gpu/device.ts";
import { reduce } from "../gpu/reduce.ts";
import { Tensor } from "../gpu/tensor.ts";
import { CANONICAL_FIELDS } from "./avatar.ts";
import type { PhotometricLoss } from "./photometric_loss.ts";
import type { CanonicalTensors } from "./pose.ts";
import type { StepLosses } from "./trainer_events.ts";

/** Index of the cycle residual in the values buffer. */
export const CYCLE = 3 + CANONICAL_FIELDS.length;

/** Records and reads the per-step scalars (see the module comment). */
export class StepValues {
  readonly gpu: Gpu;
  readonly #values: Tensor;

  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.#values = Tensor.empty(gpu, [CYCLE + 1], "f32", "trainer.losses");
  }

  /** The values buffer [CYCLE + 1] f32 (layout in the module comment). */
  get tensor(): Tensor {
    return this.#values;
  }

  /** Records the copies and reductions of `read` without reading (a streamed step; update_gate.ts reads them). */
  record(photometric: Tensor, regTerms: Tensor, params: CanonicalTensors): void {
    this.gpu.encoder.copyBufferToBuffer(photometric.buffer, 0, this.#values.buffer, 0, 8);
    reduce(this.gpu, regTerms, "sum", this.#values, { outOffset: 2 });
    CANONICAL_FIELDS.forEach((f, i) =>
      reduce(this.gpu, params[f], "sum", this.#values, { outOffset: 3 + i })
    );
  }

  /** Records the mean of the squared cycle residuals `sq` into the cycle slot (no read). */
  recordCycle(sq: Tensor): void {
    reduce(this.gpu, sq, "mean", this.#values, { outOffset: CYCLE });
  }

  /**
   * Records the copies and reductions of the loss values `photometric` ([mean L1, mean SSIM]), the regularizer
   * terms and the canonical sums, then reads them back: the losses (cycle 0) and whether all are finite.
   */
  async read(
    loss: PhotometricLoss,
    photometric: Tensor,
    regTerms: Tensor,
    params: CanonicalTensors,
  ): Promise<{ losses: StepLosses; finite: boolean }> {
    this.record(photometric, regTerms, params);
    const v = await this.#values.read();
    const reg = v[2], finite = v.subarray(0, CYCLE).every(Number.isFinite);
    return { losses: { total: loss.lossFrom(v) + reg, l1: v[0], ssim: v[1], reg, cycle: 0 }, finite };
  }

  /** Records the mean of the squared cycle residuals `sq` and reads it back. */
  async readCycle(sq: Tensor): Promise<number> {
    this.recordCycle(sq);
    return (await this.#values.read())[CYCLE];
  }

  /** Frees the buffer. */
  destroy(): void {
    this.#values.destroy();
  }
}
