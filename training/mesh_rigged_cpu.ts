/**
 * CPU reference of the mesh-rigged deformation kernels (mesh_rigged.wgsl, mesh_rigged_rotate.wgsl): the rig's
 * displacement at each Gaussian's attachment point, the rotation of its triangle from neutral to posed, and the
 * quaternion product that applies it (with its transpose for the backward pass). See mesh_rigged.ts.
 */
import { rotationToQuat } from "./avatar_init.ts";
import type { RigMesh } from "./rig_sampling.ts";

/** Each Gaussian's triangle: vertex indices [N, 3] and barycentric weights [N, 3]. */
export interface MeshAttachment {
  count: number;
  vertices: Uint32Array;
  barycentrics: Float32Array;
}

type V3 = [number, number, number];

function sub(a: V3, b: V3): V3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

function cross(a: V3, b: V3): V3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Columns t, b, n of a triangle's frame (unit first edge, b = n x t, unit normal); null when degenerate. */
export function triangleFrame(p0: V3, p1: V3, p2: V3): [V3, V3, V3] | null {
  const e1 = sub(p1, p0), nn = cross(e1, sub(p2, p0));
  const le = Math.hypot(...e1), ln = Math.hypot(...nn);
  if (le <= 1e-20 || ln <= 1e-20) return null;
  const t = e1.map((x) => x / le) as V3, n = nn.map((x) => x / ln) as V3;
  return [t, cross(n, t), n];
}

/**
 * Reference of mesh_rigged.wgsl: dx [N, 3] = sum_j w_j sum_k z_k delta_k[v_j] and rot [N, 4] = the quaternion of
 * F(posed) F(neutral)^T (identity for degenerate triangles), w >= 0.
 */
export function meshDeformationCpu(
  mesh: RigMesh,
  a: MeshAttachment,
  z: ArrayLike<number>,
): { dx: Float32Array; rot: Float32Array } {
  const dx = new Float32Array(3 * a.count), rot = new Float32Array(4 * a.count);
  const P = mesh.positions;
  const disp = (v: number): V3 => {
    const d: V3 = [0, 0, 0];
    for (let k = 0; k < z.length; k++) {
      for (let c = 0; c < 3; c++) d[c] += z[k] * mesh.deltas[k][3 * v + c];
    }
    return d;
  };
  for (let i = 0; i < a.count; i++) {
    const vs = [0, 1, 2].map((j) => a.vertices[3 * i + j]);
    const ds = vs.map(disp);
    const ps = vs.map((v) => [P[3 * v], P[3 * v + 1], P[3 * v + 2]] as V3);
    for (let c = 0; c < 3; c++) {
      dx[3 * i + c] = [0, 1, 2].reduce((s, j) => s + a.barycentrics[3 * i + j] * ds[j][c], 0);
    }
    const fa = triangleFrame(ps[0], ps[1], ps[2]);
    const posed = ps.map((p, j) => p.map((x, c) => x + ds[j][c]) as V3);
    const fb = triangleFrame(posed[0], posed[1], posed[2]);
    let q: number[] = [1, 0, 0, 0];
    if (fa && fb) {
      const m: number[] = [];
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) m.push(fb[0][r] * fa[0][c] + fb[1][r] * fa[1][c] + fb[2][r] * fa[2][c]);
      }
      q = rotationToQuat(m);
    }
    rot.set(q, 4 * i);
  }
  return { dx, rot };
}

/** Hamilton product r (x) q of (w, x, y, z) quaternions. */
export function quatMultiply(r: ArrayLike<number>, q: ArrayLike<number>): [number, number, number, number] {
  const [rw, rx, ry, rz] = [r[0], r[1], r[2], r[3]], [qw, qx, qy, qz] = [q[0], q[1], q[2], q[3]];
  return [
    rw * qw - rx * qx - ry * qy - rz * qz,
    rw * qx + rx * qw + ry * qz - rz * qy,
    rw * qy - rx * qz + ry * qw + rz * qx,
    rw * qz + rx * qy - ry * qx + rz * qw,
  ];
}

/** Reference of mesh_rigged_rotate.wgsl `forward`: out[n] = rot[n] (x) quats[n]. */
export function rotateQuatsCpu(rot: Float32Array, quats: Float32Array): Float32Array {
  const out = new Float32Array(quats.length);
  for (let i = 0; i < quats.length / 4; i++) {
    out.set(quatMultiply(rot.subarray(4 * i, 4 * i + 4), quats.subarray(4 * i, 4 * i + 4)), 4 * i);
  }
  return out;
}

/** Reference of mesh_rigged_rotate.wgsl `backward`: out[n] = L(rot[n])^T grads[n] = conj(rot[n]) (x) grads[n]. */
export function rotateQuatsBackwardCpu(rot: Float32Array, grads: Float32Array): Float32Array {
  const out = new Float32Array(grads.length);
  for (let i = 0; i < grads.length / 4; i++) {
    const r = rot.subarray(4 * i, 4 * i + 4);
    out.set(quatMultiply([r[0], -r[1], -r[2], -r[3]], grads.subarray(4 * i, 4 * i + 4)), 4 * i);
  }
  return out;
}
