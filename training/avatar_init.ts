/**
 * Initialization of the avatar from a rig (`initAvatarFromRig`): samples on the neutral surface (every part of
 * the mesh, mouth interior, teeth and eyes included), drawn `triangleShare` in equal parts per triangle and the
 * rest in proportion to area (rig_sampling.ts `triangleMixCdf`; the rig's small triangles mark its detailed
 * parts), each
 *   - at the sample position, rotated so its local z axis is the face normal (tangent frame of the triangle),
 *   - isotropic in the tangent plane with scale = mean distance to its 3 nearest samples (GPU kNN), flattened
 *     along the normal by `normalFlatten` (default 0.5: surface-like splats that still cover grazing views),
 *   - opacity sigmoid(logit) = `initialOpacity` (default 0.1, as 3DGS),
 *   - SH DC from the interpolated sRGB albedo (colour = 0.5 + SH_C0 * dc: the images are sRGB), higher bands zero,
 *   - features zero.
 */
import type { Gpu } from "../gpu/device.ts";
import { knn, KNN_NONE } from "../gpu/knn.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { type Avatar, avatarFromCloud, type AvatarOptions } from "./avatar.ts";
import { SH_C0 } from "./pose_cpu.ts";
import {
  canonicalPoints,
  type RigMesh,
  sampleColors,
  sampleSurface,
  type SurfaceSamples,
  triangleMixCdf,
} from "./rig_sampling.ts";

/** Options of `initAvatarFromRig`. */
export interface RigInitOptions extends AvatarOptions {
  /** Number of Gaussians (default 10,000). */
  count?: number;
  /** Seed of the surface sampling (default 1). */
  sampleSeed?: number;
  /** Opacity of the initial Gaussians (default 0.1). */
  initialOpacity?: number;
  /** Scale along the normal relative to the tangent scale (default 0.5; 1 = isotropic). */
  normalFlatten?: number;
  /** Share of the samples spread equally over the triangles, the rest by area (default 0: by area only). */
  triangleShare?: number;
}

/** Row-major 3x3 rotation matrix -> unit quaternion (w, x, y, z), w >= 0 (Shepperd's method). */
export function rotationToQuat(m: readonly number[]): [number, number, number, number] {
  const [a, b, c, d, e, f, g, h, i] = m;
  const tr = a + e + i;
  let q: [number, number, number, number];
  if (tr > 0) {
    const s = 2 * Math.sqrt(1 + tr);
    q = [0.25 * s, (h - f) / s, (c - g) / s, (d - b) / s];
  } else if (a > e && a > i) {
    const s = 2 * Math.sqrt(1 + a - e - i);
    q = [(h - f) / s, 0.25 * s, (b + d) / s, (c + g) / s];
  } else if (e > i) {
    const s = 2 * Math.sqrt(1 + e - a - i);
    q = [(c - g) / s, (b + d) / s, 0.25 * s, (f + h) / s];
  } else {
    const s = 2 * Math.sqrt(1 + i - a - e);
    q = [(d - b) / s, (c + g) / s, (f + h) / s, 0.25 * s];
  }
  const l = Math.hypot(...q) * (q[0] < 0 ? -1 : 1);
  return q.map((v) => v / l) as [number, number, number, number];
}

/** Quaternion whose rotation maps the local z axis to the unit normal of `samples`' triangles, [N, 4]. */
export function tangentFrameQuats(mesh: RigMesh, s: SurfaceSamples): Float32Array {
  const out = new Float32Array(4 * s.count);
  const P = mesh.positions, I = mesh.indices;
  for (let i = 0; i < s.count; i++) {
    const f = s.triangles[i];
    const v = [0, 1, 2].map((j) => [0, 1, 2].map((c) => P[I[3 * f + j] * 3 + c]));
    const e1 = v[1].map((x, c) => x - v[0][c]), e2 = v[2].map((x, c) => x - v[0][c]);
    let n = cross(e1, e2);
    const ln = Math.hypot(...n);
    n = ln > 0 ? n.map((x) => x / ln) : [0, 0, 1];
    const le = Math.hypot(...e1);
    let t = le > 0 ? e1.map((x) => x / le) : [1, 0, 0];
    const tn = t[0] * n[0] + t[1] * n[1] + t[2] * n[2];
    t = t.map((x, c) => x - tn * n[c]);
    const lt = Math.hypot(...t);
    t = lt > 1e-12
      ? t.map((x) => x / lt)
      : Math.abs(n[0]) < 0.9
      ? normalize(cross(n, [1, 0, 0]))
      : normalize(cross(n, [0, 1, 0]));
    const b = cross(n, t);
    // Columns t, b, n: local x, y, z.
    out.set(rotationToQuat([t[0], b[0], n[0], t[1], b[1], n[1], t[2], b[2], n[2]]), 4 * i);
  }
  return out;
}

function cross(a: readonly number[], b: readonly number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function normalize(a: number[]): number[] {
  const l = Math.hypot(...a) || 1;
  return a.map((x) => x / l);
}

/** Mean of the finite distances to the k nearest neighbours per point ([N, k] squared distances in). */
export function meanNeighbourDistance(dist2: Float32Array, k: number, floor = 1e-7): Float32Array {
  const n = dist2.length / k, out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0, m = 0;
    for (let j = 0; j < k; j++) {
      const d = dist2[i * k + j];
      if (Number.isFinite(d)) {
        s += Math.sqrt(Math.max(d, 0));
        m++;
      }
    }
    out[i] = Math.max(m > 0 ? s / m : 1e-2, floor);
  }
  return out;
}

/**
 * Initializes an avatar from samples of the rig's neutral surface (see the module comment). Returns the avatar
 * and the samples it used.
 */
export async function initAvatarFromRig(
  gpu: Gpu,
  mesh: RigMesh,
  opts: RigInitOptions,
): Promise<{ avatar: Avatar; samples: SurfaceSamples }> {
  const n = opts.count ?? 10_000;
  const shDegree = opts.shDegree ?? 1, K = (shDegree + 1) ** 2, F = opts.featureDim ?? 8;
  const samples = sampleSurface(
    mesh,
    n,
    new Rng(opts.sampleSeed ?? 1),
    0,
    triangleMixCdf(mesh, opts.triangleShare ?? 0),
  );
  const means = canonicalPoints(mesh, samples);
  const colours = sampleColors(mesh, samples);
  const pts = Tensor.from(gpu, means, [n, 3], "init.points");
  const nn = knn(gpu, pts, Math.min(3, Math.max(n - 1, 1)));
  const dist2 = await nn.dist2.read() as Float32Array;
  const indices = await nn.indices.read() as Uint32Array;
  for (let i = 0; i < indices.length; i++) if (indices[i] === KNN_NONE) dist2[i] = Infinity;
  pts.destroy();
  nn.indices.destroy();
  nn.dist2.destroy();
  const scale = meanNeighbourDistance(dist2, dist2.length / Math.max(n, 1));
  const flatten = Math.log(opts.normalFlatten ?? 0.5);
  const logScales = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const l = Math.log(scale[i]);
    logScales.set([l, l, l + flatten], 3 * i);
  }
  const op = opts.initialOpacity ?? 0.1;
  const sh = new Float32Array(n * K * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) sh[i * K * 3 + c] = (colours[3 * i + c] - 0.5) / SH_C0;
  }
  const cloud: GaussianCloud = {
    count: n,
    shDegree,
    means,
    quats: tangentFrameQuats(mesh, samples),
    logScales,
    opacityLogits: new Float32Array(n).fill(Math.log(op / (1 - op))),
    sh,
    features: new Float32Array(n * F),
    featureDim: F,
  };
  return { avatar: avatarFromCloud(gpu, cloud, { ...opts, shDegree, featureDim: F }), samples };
}
