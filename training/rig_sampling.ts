/**
 * Samples points on an expression rig's surface (area-weighted, seeded) and poses them with the rig's
 * blendshapes. These samples feed the expression prior B (pairs of posed and canonical points), the distillation
 * of the forward field F (canonical points near the surface), and the initial Gaussians.
 *
 * A sample is a triangle index plus barycentric coordinates, so the same sample can be posed under any expression:
 *   posed(s, z) = neutral(s) + sum_k z_k * delta_k(s),   with neutral(s), delta_k(s) interpolated barycentrically.
 * Points off the surface (offset along the normal by `d`) move with their surface point, which extends the
 * deformation to a thin shell around the mesh the way NPHM's training pairs do.
 */
import type { Rng } from "../gpu/rng.ts";

/** The mesh part of a rig that sampling needs (data/rig.ts `Rig` satisfies it). */
export interface RigMesh {
  positions: Float32Array;
  indices: Uint32Array;
  colors: Float32Array;
  deltas: Float32Array[];
}

export interface SurfaceSamples {
  count: number;
  /** Triangle of each sample, [N]. */
  triangles: Uint32Array;
  /** Barycentric weights of the triangle's three vertices, [N, 3]. */
  barycentrics: Float32Array;
  /** Signed offset along the (neutral) face normal, [N]; 0 on the surface. */
  offsets: Float32Array;
}

/** Cumulative triangle areas of the neutral mesh, for area-weighted sampling. */
export function triangleAreaCdf(mesh: RigMesh): Float64Array {
  const F = mesh.indices.length / 3;
  const cdf = new Float64Array(F);
  let acc = 0;
  for (let f = 0; f < F; f++) {
    const n = faceNormal(mesh.positions, mesh.indices, f);
    acc += 0.5 * Math.hypot(n[0], n[1], n[2]);
    cdf[f] = acc;
  }
  return cdf;
}

/**
 * Cumulative weights that give each triangle `share` / F of the samples in equal parts and the rest in
 * proportion to its area (share 0: `triangleAreaCdf` scaled to total 1; share 1: one F-th per triangle, as
 * GaussianAvatars' one Gaussian per triangle). A rig's triangles are smallest where its shape is detailed
 * (lids, lips, nostrils), so a positive share puts more Gaussians there.
 */
export function triangleMixCdf(mesh: RigMesh, share: number): Float64Array {
  if (!(share >= 0 && share <= 1)) throw new Error(`triangleMixCdf: share ${share} is not in [0, 1]`);
  const area = triangleAreaCdf(mesh), F = area.length, total = area[F - 1];
  if (!(total > 0)) throw new Error("triangleMixCdf: the mesh has zero area");
  const cdf = new Float64Array(F);
  for (let f = 0; f < F; f++) cdf[f] = (1 - share) * (area[f] / total) + (share * (f + 1)) / F;
  return cdf;
}

/**
 * Draws `count` area-weighted samples. With `shell` > 0 each sample is offset along the face normal by a normal
 * random amount of standard deviation `shell` (in rig units); otherwise samples lie on the surface.
 */
export function sampleSurface(
  mesh: RigMesh,
  count: number,
  rng: Rng,
  shell = 0,
  cdf = triangleAreaCdf(mesh),
): SurfaceSamples {
  if (!(cdf[cdf.length - 1] > 0)) throw new Error("sampleSurface: the mesh has zero area");
  return samplesOnTriangles(count, () => drawTriangle(cdf, rng), rng, shell);
}

/** A triangle index drawn from cumulative weights `cdf` (binary search; the total must be positive). */
export function drawTriangle(cdf: Float64Array, rng: Rng): number {
  const r = rng.next() * cdf[cdf.length - 1];
  let lo = 0, hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `count` uniform points, each on the triangle `pick(i)` returns (called in order, interleaved with the draws of
 * the point's position), offset along the normal as in `sampleSurface`.
 */
export function samplesOnTriangles(
  count: number,
  pick: (i: number) => number,
  rng: Rng,
  shell = 0,
): SurfaceSamples {
  const triangles = new Uint32Array(count);
  const barycentrics = new Float32Array(count * 3);
  const offsets = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    triangles[i] = pick(i);
    let u = rng.next(), v = rng.next();
    if (u + v > 1) {
      u = 1 - u;
      v = 1 - v;
    }
    barycentrics[3 * i] = 1 - u - v;
    barycentrics[3 * i + 1] = u;
    barycentrics[3 * i + 2] = v;
    offsets[i] = shell > 0 ? rng.normal() * shell : 0;
  }
  return { count, triangles, barycentrics, offsets };
}

/** Un-normalized normal (cross product of two edges) of face `f`; its length is twice the area. */
function faceNormal(p: Float32Array, idx: Uint32Array, f: number): [number, number, number] {
  const a = idx[3 * f] * 3, b = idx[3 * f + 1] * 3, c = idx[3 * f + 2] * 3;
  const e1 = [p[b] - p[a], p[b + 1] - p[a + 1], p[b + 2] - p[a + 2]];
  const e2 = [p[c] - p[a], p[c + 1] - p[a + 1], p[c + 2] - p[a + 2]];
  return [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
}

/** Canonical (neutral) positions of the samples, offsets applied along the neutral face normal: [N, 3]. */
export function canonicalPoints(mesh: RigMesh, s: SurfaceSamples): Float32Array {
  return posedPoints(mesh, s, null);
}

/**
 * Positions of the samples under expression weights `z` (null = neutral), [N, 3]. Off-surface samples keep
 * their offset along the neutral normal, i.e. they translate with their surface point.
 */
export function posedPoints(mesh: RigMesh, s: SurfaceSamples, z: ArrayLike<number> | null): Float32Array {
  const out = new Float32Array(s.count * 3);
  const P = mesh.positions, I = mesh.indices;
  const active: number[] = [];
  if (z) { for (let k = 0; k < z.length; k++) if (z[k] !== 0) active.push(k); }
  for (let i = 0; i < s.count; i++) {
    const f = s.triangles[i];
    const n = faceNormal(P, I, f);
    const len = Math.hypot(n[0], n[1], n[2]) || 1;
    for (let c = 0; c < 3; c++) {
      let acc = (s.offsets[i] * n[c]) / len;
      for (let j = 0; j < 3; j++) {
        const v = I[3 * f + j] * 3 + c;
        let pos = P[v];
        for (const k of active) pos += z![k] * mesh.deltas[k][v];
        acc += s.barycentrics[3 * i + j] * pos;
      }
      out[3 * i + c] = acc;
    }
  }
  return out;
}

/** Interpolated vertex colours of the samples, [N, 3]. */
export function sampleColors(mesh: RigMesh, s: SurfaceSamples): Float32Array {
  const out = new Float32Array(s.count * 3);
  for (let i = 0; i < s.count; i++) {
    const f = s.triangles[i];
    for (let c = 0; c < 3; c++) {
      let acc = 0;
      for (let j = 0; j < 3; j++) {
        acc += s.barycentrics[3 * i + j] * mesh.colors[mesh.indices[3 * f + j] * 3 + c];
      }
      out[3 * i + c] = acc;
    }
  }
  return out;
}

/** Axis-aligned bounding box of the neutral mesh and its diagonal length (the head size used for relative errors). */
export function meshBounds(
  mesh: RigMesh,
): { min: [number, number, number]; max: [number, number, number]; diagonal: number } {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < mesh.positions.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      min[c] = Math.min(min[c], mesh.positions[i + c]);
      max[c] = Math.max(max[c], mesh.positions[i + c]);
    }
  }
  return { min, max, diagonal: Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) };
}
