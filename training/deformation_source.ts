/**
 * Where a step's deformation offsets come from (trainer.ts, train_step.ts): the forward field F
 * (dx_F = F(x_c, 0, z), field_step.ts; F's backward when it is fine-tuned) in NPGA mode, or, with
 * `deformation: "mesh"` (the mesh-rigged baseline, mesh_rigged.ts), the rig's displacement at each Gaussian's
 * triangle, whose rotation also turns the posed quaternions (forward) and their gradients (backward). Without
 * either the offsets are absent and the detail network G does all the deformation.
 */
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { ForwardField } from "./distill.ts";
import { FieldStep } from "./field_step.ts";
import { type MeshDeformation, MeshRig, rotateQuaternions } from "./mesh_rigged.ts";
import type { ExpressionPrior } from "./prior.ts";
import type { RigMesh } from "./rig_sampling.ts";
import type { StepValues } from "./step_values.ts";

/** The deformation of one step (or render): offsets, the mesh rotations, F's backward; `release` it. */
export class StepDeformation {
  constructor(
    readonly field: FieldStep | null,
    readonly mesh: MeshDeformation | null,
  ) {}

  /** The offsets [N, 3] f32 to pose with (dx_F, or the rig's displacement), undefined without either. */
  get dx(): Tensor | undefined {
    return this.field?.dx ?? this.mesh?.dx;
  }

  /** The rotations [N, 4] that turn the posed Gaussians: the triangles' (mesh-rigged) or F's local ones. */
  get rot(): Tensor | null {
    return this.mesh?.rot ?? this.field?.rot ?? null;
  }

  /** Turns the posed quaternions [N, 4] by `rot` (nothing without rotations). */
  rotate(quats: Tensor): void {
    const rot = this.rot;
    if (rot) rotateQuaternions(quats.gpu, "forward", rot, quats);
  }

  /** Turns the quaternions' gradients [N, 4] back by `rot` (the gradient of `rotate`). */
  rotateBackward(gradQuats: Tensor): void {
    const rot = this.rot;
    if (rot) rotateQuaternions(gradQuats.gpu, "backward", rot, gradQuats);
  }

  /** Whether F's backward applies (F is fine-tuned this step). */
  get tuned(): boolean {
    return !!this.field?.tuned;
  }

  /** F's backward from dL/d(dx_F) plus the weighted cycle loss; returns the cycle residual. Only when `tuned`. */
  fieldBackward(dDx: Tensor, cycleWeight: number, values: StepValues): Promise<number> {
    return this.field!.backward(dDx, cycleWeight, values);
  }

  /** Frees dx_F, F's activations and the mesh offsets / rotations. */
  release(): void {
    this.field?.release();
    this.mesh?.destroy();
  }
}

/** F (with B for the cycle loss while fine-tuning) or the mesh rig, as configured. */
export class DeformationSource {
  readonly gpu: Gpu;
  /** The mesh-rigged baseline's rig (config `deformation: "mesh"`), else null. */
  readonly rig: MeshRig | null;

  /** `fineTunes`: F is trained jointly (trainer.ts); `mesh`: the rig for the mesh-rigged baseline, else null. */
  constructor(
    gpu: Gpu,
    readonly field: ForwardField | null,
    readonly prior: ExpressionPrior | null,
    readonly fineTunes: boolean,
    mesh: RigMesh | null,
  ) {
    this.gpu = gpu;
    this.rig = mesh ? new MeshRig(gpu, mesh) : null;
  }

  /** Whether this is the mesh-rigged baseline (G is then frozen at zero output). */
  get meshRigged(): boolean {
    return this.rig !== null;
  }

  /**
   * The deformation for expression `z` at the canonical centres `means` [N, 3]: dx_F (with `train`, F's
   * backward is kept when F is fine-tuned), then the mesh rig's offsets and rotations (re-attached first).
   */
  async deform(means: Tensor, z: Float32Array, train: boolean): Promise<StepDeformation> {
    const tuned = train && this.fineTunes;
    const fs = this.field
      ? new FieldStep(this.gpu, this.field, tuned ? this.prior : null, means, z, tuned)
      : null;
    let md: MeshDeformation | null = null;
    if (this.rig) {
      await this.rig.follow(means);
      md = this.rig.deform(z);
    }
    return new StepDeformation(fs, md);
  }

  /** Records the step's F backward and cycle loss, the cycle residual's mean into `values` (no read). */
  recordFieldBackward(d: StepDeformation, dDx: Tensor, cycleWeight: number, values: StepValues): void {
    const sq = d.field!.recordBackward(dDx, cycleWeight);
    if (sq) {
      values.recordCycle(sq);
      sq.destroy();
    }
  }

  /** Frees the rig (F and B belong to the trainer). */
  destroy(): void {
    this.rig?.destroy();
  }
}
