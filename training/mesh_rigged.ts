/**
 * The mesh-rigged baseline (in the spirit of GaussianAvatars): every Gaussian is attached to a triangle of the
 * rig's neutral mesh (mesh_attach.ts) and follows the rig's blendshapes, with no learned deformation:
 *
 *   posed mean = x_c + dx,   dx = sum_j bary_j (sum_k z_k delta_k[v_j])   (the rig's displacement there)
 *   posed rotation = r (x) q,  r = rotation of the triangle's frame from neutral to posed
 *
 * The trainer (config `deformation: "mesh"`) passes dx where NPGA passes F's offsets, turns the posed
 * quaternions with `rotateQuaternions` after posing (and their gradients with its "backward" entry before the
 * pose backward), and freezes the detail network G at zero output; the canonical Gaussians are optimized
 * photometrically as usual.
 * Not modelled (unlike GaussianAvatars): scaling by the triangle's size change, and rotating a Gaussian's offset
 * from its attachment point (it translates with that point). When the avatar's Gaussians are replaced
 * (densification), `follow` re-attaches them to their nearest triangles.
 *
 * CPU reference: mesh_rigged_cpu.ts.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import { attachToNearestTriangles } from "./mesh_attach.ts";
import type { MeshAttachment } from "./mesh_rigged_cpu.ts";
import type { RigMesh } from "./rig_sampling.ts";
import deformKernel from "./mesh_rigged.wgsl" with { type: "text" };
import quatSrc from "./quat_of_matrix.wgsl" with { type: "text" };
import rotateSrc from "./mesh_rigged_rotate.wgsl" with { type: "text" };

const WG = 128;
const deformSrc = `${quatSrc}\n${deformKernel}`;

/** The per-step deformation of the mesh-rigged baseline: offsets [N, 3] and rotations [N, 4]. */
export interface MeshDeformation {
  dx: Tensor;
  rot: Tensor;
  destroy(): void;
}

/**
 * Records data[n] = rot[n] (x) data[n] ("forward") or L(rot[n])^T data[n] ("backward", the gradient) in place,
 * [N, 4] each (mesh_rigged_rotate.wgsl): the triangles' rotations here, the forward field's local ones
 * (field_rotation.ts).
 */
export function rotateQuaternions(gpu: Gpu, entry: "forward" | "backward", rot: Tensor, data: Tensor): void {
  const N = data.size / 4;
  if (rot.size < 4 * N) throw new Error(`rotateQuaternions: ${N} quaternions but ${rot.size / 4} rotations`);
  dispatch(gpu, gpu.pipeline(rotateSrc, entry, { WG }, `rotateQuaternions.${entry}`), {
    bindings: [rot, data, uniforms(gpu, [N, 0, 0, 0])],
    workgroups: Math.ceil(N / WG),
  });
}

/** A rig on the GPU plus the current attachment of the avatar's Gaussians. */
export class MeshRig {
  readonly gpu: Gpu;
  readonly mesh: RigMesh;
  #neutral: Tensor;
  #deltas: Tensor;
  #vertices: Tensor | null = null;
  #bary: Tensor | null = null;
  #count = 0;
  #following: Tensor | null = null;

  constructor(gpu: Gpu, mesh: RigMesh) {
    this.gpu = gpu;
    this.mesh = mesh;
    const V = mesh.positions.length / 3, K = mesh.deltas.length;
    const deltas = new Float32Array(Math.max(K * V * 3, 1));
    mesh.deltas.forEach((d, k) => deltas.set(d, k * V * 3));
    this.#neutral = Tensor.from(gpu, mesh.positions, [V, 3], "meshRig.neutral");
    this.#deltas = Tensor.from(gpu, deltas, undefined, "meshRig.deltas");
  }

  /** Number of attached Gaussians. */
  get count(): number {
    return this.#count;
  }

  /** Uses `a` as the attachment (vertex indices and barycentrics per Gaussian). */
  setAttachment(a: MeshAttachment): void {
    this.#vertices?.destroy();
    this.#bary?.destroy();
    this.#count = a.count;
    this.#vertices = Tensor.from(
      this.gpu,
      a.vertices.length ? a.vertices : new Uint32Array(3),
      undefined,
      "meshRig.tri",
    );
    this.#bary = Tensor.from(
      this.gpu,
      a.barycentrics.length ? a.barycentrics : new Float32Array(3),
      undefined,
      "meshRig.bary",
    );
  }

  /**
   * Attaches the Gaussians whose canonical means are `means` [N, 3] to their nearest triangles, unless this same
   * tensor is already attached (the avatar makes a new tensor whenever its Gaussians change).
   */
  async follow(means: Tensor): Promise<void> {
    if (this.#following === means && this.#count === means.size / 3) return;
    const pts = await means.read() as Float32Array;
    this.setAttachment(attachToNearestTriangles(this.mesh, pts));
    this.#following = means;
  }

  /** Records the deformation for blendshape weights `z` (length K); the caller destroys the result. */
  deform(z: ArrayLike<number>): MeshDeformation {
    const K = this.mesh.deltas.length, V = this.mesh.positions.length / 3, N = this.#count;
    if (z.length !== K) throw new Error(`MeshRig: code has ${z.length} values, the rig ${K} blendshapes`);
    if (!this.#vertices || !this.#bary) {
      throw new Error("MeshRig: no attachment (call follow or setAttachment)");
    }
    const code = Tensor.from(
      this.gpu,
      K ? Float32Array.from(z) : new Float32Array(1),
      undefined,
      "meshRig.code",
    );
    const dx = Tensor.empty(this.gpu, [N, 3], "f32", "meshRig.dx");
    const rot = Tensor.empty(this.gpu, [N, 4], "f32", "meshRig.rot");
    dispatch(this.gpu, this.gpu.pipeline(deformSrc, "main", { WG }, "meshRig.deform"), {
      bindings: [
        this.#vertices,
        this.#bary,
        this.#neutral,
        this.#deltas,
        code,
        dx,
        rot,
        uniforms(this.gpu, [N, K, V, 0]),
      ],
      workgroups: Math.ceil(N / WG),
    });
    code.destroy();
    return {
      dx,
      rot,
      destroy: () => {
        dx.destroy();
        rot.destroy();
      },
    };
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    this.#neutral.destroy();
    this.#deltas.destroy();
    this.#vertices?.destroy();
    this.#bary?.destroy();
  }
}
