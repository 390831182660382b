/**
 * The forward field's part of one training step (trainer.ts): dx_F = F(x_c, 0, z) for the Gaussians' centres,
 * and, when F is fine-tuned jointly, F's backward from dL/d(dx_F) plus `cycleWeight` times the cycle loss
 * |F + B(x_c + F, z)|^2 over the centres (B frozen), so F stays consistent with B. Without B (the "no
 * distillation" ablation) F is trained by the photometric gradient alone.
 */
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ForwardField, ForwardFieldActivations } from "./distill.ts";
import { recordCycleLoss } from "./cycle_loss.ts";
import type { ExpressionPrior } from "./prior.ts";
import type { StepValues } from "./step_values.ts";
import { recordFieldRotation } from "./field_rotation.ts";

/** dx_F of one step and, with `prior` (fine-tuning), what F's backward needs. */
export class FieldStep {
  readonly gpu: Gpu;
  /** dx_F [N, 3] f32 (world units). */
  readonly dx: Tensor;
  /** F's local rotations [N, 4] (unit quaternions) when the field rotates (field_rotation.ts), else null. */
  readonly rot: Tensor | null;
  #acts: ForwardFieldActivations | null = null;

  /**
   * Records F at the centres `means` [N, 3] for expression `z`; keeps the activations when `train` (default:
   * when `prior` is given; F is fine-tuned, with the cycle loss through B when there is one).
   */
  constructor(
    gpu: Gpu,
    readonly field: ForwardField,
    readonly prior: ExpressionPrior | null,
    readonly means: Tensor,
    readonly z: Float32Array,
    train = prior !== null,
  ) {
    this.gpu = gpu;
    this.dx = Tensor.empty(gpu, [means.size / 3, 3], "f32", "trainer.dxF");
    if (train) this.#acts = field.forwardTrain(means, null, z, this.dx);
    else field.evaluate(means, null, z, this.dx);
    this.rot = field.config.rotate ? recordFieldRotation(field, means, z, this.dx) : null;
  }

  /** Whether F's backward applies (it is fine-tuned). */
  get tuned(): boolean {
    return this.#acts !== null;
  }

  /**
   * Records F's backward from `dDx` and the weighted cycle loss (F's gradients accumulate); returns the mean
   * cycle residual read through `values` (0 without B). Only when `tuned`.
   */
  async backward(dDx: Tensor, cycleWeight: number, values: StepValues): Promise<number> {
    const sq = this.recordBackward(dDx, cycleWeight);
    if (!sq) return 0;
    const cycle = await values.readCycle(sq);
    sq.destroy();
    return cycle;
  }

  /**
   * Records F's backward and the weighted cycle loss without reading; returns the squared cycle residuals (null
   * without B; destroy it after recording their reduction).
   */
  recordBackward(dDx: Tensor, cycleWeight: number): Tensor | null {
    if (!this.#acts) throw new Error("FieldStep.backward: F is not fine-tuned");
    this.field.backward(this.#acts, dDx);
    this.#acts = null;
    if (!this.prior) return null;
    const code = Tensor.from(this.gpu, this.z, undefined, "trainer.code");
    const sq = recordCycleLoss(this.field, this.prior, {
      points: this.means,
      code: { kind: "broadcast", codes: code },
    }, { weight: cycleWeight, accumulate: true });
    code.destroy();
    return sq;
  }

  /** Frees dx_F and any unused activations. */
  release(): void {
    this.#acts?.release();
    this.#acts = null;
    this.dx.destroy();
    this.rot?.destroy();
  }
}
