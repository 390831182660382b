/**
 * The forward field's local rotation: where F moves a Gaussian's centre it also turns the Gaussian by the
 * rotation part of F's deformation there (as a mesh rig turns a Gaussian with its triangle), so that thin
 * Gaussians on the lips and cheeks follow the surface as it bends. The Jacobian of x -> x + dx_F(x) is taken by
 * forward differences (F at three probe points per centre, one step `h` along each axis) and its rotation part
 * by polar decomposition (field_rotation.wgsl; CPU reference field_rotation_cpu.ts). The rotation is an input of
 * the pose, not a function that gradients flow through: like the mesh rig's, it turns the posed quaternions
 * forward and their gradients backward (mesh_rigged.ts `rotateQuaternions`).
 *
 * A field applies it when its config says `rotate` (trainer config `fieldRotation`; absent in older avatar
 * files: no rotation). Cost: F evaluated at 4N points instead of N.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ForwardField } from "./distill.ts";
import { rotateQuaternions } from "./mesh_rigged.ts";
import rotationKernel from "./field_rotation.wgsl" with { type: "text" };
import quatSrc from "./quat_of_matrix.wgsl" with { type: "text" };

const WG = 128;
const rotationSrc = `${quatSrc}\n${rotationKernel}`;

/** Probe step of the Jacobian as a fraction of the head diagonal (about 1 mm on a 0.47 m head box). */
export const PROBE_STEP = 0.002;

/** Records the probe points [3N, 3] (row a N + n = means[n] + h e_a). */
export function recordProbePoints(gpu: Gpu, means: Tensor, h: number, out: Tensor): void {
  const n = means.size / 3;
  dispatch(gpu, gpu.pipeline(rotationSrc, "probes", { WG }, "fieldRotation.probes"), {
    bindings: [means, means, out, uniforms(gpu, [n, { f32: h }, 0, 0])],
    workgroups: Math.ceil(n / WG),
  });
}

/** Records rot [N, 4] from F at the centres `dx` [N, 3] and at the probes `dxp` [3N, 3]. */
export function recordRotationFromProbes(gpu: Gpu, dx: Tensor, dxp: Tensor, h: number, rot: Tensor): void {
  const n = dx.size / 3;
  if (dxp.size !== 9 * n || rot.size !== 4 * n) {
    throw new Error(
      `fieldRotation: ${n} centres but ${dxp.size / 9} probe triples / ${rot.size / 4} rotations`,
    );
  }
  dispatch(gpu, gpu.pipeline(rotationSrc, "rotation", { WG }, "fieldRotation.rotation"), {
    bindings: [dx, dxp, rot, uniforms(gpu, [n, { f32: h }, 0, 0])],
    workgroups: Math.ceil(n / WG),
  });
}

/** The probe step of `field` in world units. */
export function probeStep(field: ForwardField): number {
  return PROBE_STEP * field.config.frame.diagonal;
}

/**
 * Records the local rotations [N, 4] of F for expression `z` at the centres `means` [N, 3], given F's offsets
 * there (`dx`, already recorded); the caller destroys the result.
 */
export function recordFieldRotation(field: ForwardField, means: Tensor, z: Float32Array, dx: Tensor): Tensor {
  const gpu = field.gpu, n = means.size / 3, h = probeStep(field);
  const pts = Tensor.empty(gpu, [3 * n, 3], "f32", "fieldRotation.probes");
  const dxp = Tensor.empty(gpu, [3 * n, 3], "f32", "fieldRotation.probe_dx");
  const rot = Tensor.empty(gpu, [n, 4], "f32", "fieldRotation.rot");
  recordProbePoints(gpu, means, h, pts);
  field.evaluate(pts, null, z, dxp);
  recordRotationFromProbes(gpu, dx, dxp, h, rot);
  pts.destroy();
  dxp.destroy();
  return rot;
}

/** F's offsets [N, 3] and, when the field rotates, its local rotations [N, 4], for one render; destroy them. */
export interface FieldOffsets {
  dx: Tensor;
  rot: Tensor | null;
  /** Turns posed quaternions [N, 4] by `rot` in place (nothing without rotations). */
  rotate(quats: Tensor): void;
  destroy(): void;
}

/** Records F (and its rotations, if the field has them on) at the centres `means` for expression `z`. */
export function recordFieldOffsets(field: ForwardField, means: Tensor, z: Float32Array): FieldOffsets {
  const gpu = field.gpu;
  const dx = Tensor.empty(gpu, [means.size / 3, 3], "f32", "field.dx");
  field.evaluate(means, null, z, dx);
  const rot = field.config.rotate ? recordFieldRotation(field, means, z, dx) : null;
  return {
    dx,
    rot,
    rotate: (quats) => {
      if (rot) rotateQuaternions(gpu, "forward", rot, quats);
    },
    destroy: () => {
      dx.destroy();
      rot?.destroy();
    },
  };
}
