/**
 * Attachment of Gaussians to a rig's triangles for the mesh-rigged baseline (mesh_rigged.ts): each point gets the
 * triangle of the neutral mesh closest to it and the barycentric coordinates of its closest point on that
 * triangle. Points sampled on the surface (the avatar's initialization, avatar_init.ts) get their own triangle
 * back (or a neighbour sharing the point, which moves identically); Gaussians made later (densification) or moved
 * off the surface attach to their nearest triangle, like GaussianAvatars' binding inheritance.
 *
 * Search: a uniform grid over the triangles' bounding boxes (cell = twice the mean triangle box side), visited in
 * growing rings around the point's cell until the best distance found is below the ring's distance. Exact.
 */
import type { MeshAttachment } from "./mesh_rigged_cpu.ts";
import type { RigMesh } from "./rig_sampling.ts";

type V3 = [number, number, number];

/**
 * Closest point on triangle (a, b, c) to p (Ericson, Real-Time Collision Detection 5.1.5): barycentric weights
 * of a, b, c and the squared distance.
 */
export function closestOnTriangle(p: V3, a: V3, b: V3, c: V3): { bary: V3; dist2: number } {
  const ab = sub(b, a), ac = sub(c, a), ap = sub(p, a);
  const d1 = dot(ab, ap), d2 = dot(ac, ap);
  let bary: V3;
  if (d1 <= 0 && d2 <= 0) bary = [1, 0, 0];
  else {
    const bp = sub(p, b), d3 = dot(ab, bp), d4 = dot(ac, bp);
    const cp = sub(p, c), d5 = dot(ab, cp), d6 = dot(ac, cp);
    const vc = d1 * d4 - d3 * d2, vb = d5 * d2 - d1 * d6, va = d3 * d6 - d5 * d4;
    if (d3 >= 0 && d4 <= d3) bary = [0, 1, 0];
    else if (d6 >= 0 && d5 <= d6) bary = [0, 0, 1];
    else if (vc <= 0 && d1 >= 0 && d3 <= 0) {
      const v = d1 / (d1 - d3);
      bary = [1 - v, v, 0];
    } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
      const w = d2 / (d2 - d6);
      bary = [1 - w, 0, w];
    } else if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) {
      const w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
      bary = [0, 1 - w, w];
    } else {
      const denom = va + vb + vc;
      const v = vb / denom, w = vc / denom;
      bary = [1 - v - w, v, w];
    }
  }
  const q = [0, 1, 2].map((k) => bary[0] * a[k] + bary[1] * b[k] + bary[2] * c[k]);
  return { bary, dist2: (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2 + (q[2] - p[2]) ** 2 };
}

function sub(a: V3, b: V3): V3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

function dot(a: V3, b: V3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** Attaches each point of `points` [N, 3] to its nearest triangle of the neutral mesh (see the module comment). */
export function attachToNearestTriangles(mesh: RigMesh, points: Float32Array): MeshAttachment {
  const P = mesh.positions, I = mesh.indices, T = I.length / 3, n = points.length / 3;
  if (T === 0) throw new Error("attachToNearestTriangles: the mesh has no triangles");
  const vert = (v: number): V3 => [P[3 * v], P[3 * v + 1], P[3 * v + 2]];
  const lo: V3 = [Infinity, Infinity, Infinity], hi: V3 = [-Infinity, -Infinity, -Infinity];
  let side = 0;
  for (let t = 0; t < T; t++) {
    const tl: V3 = [Infinity, Infinity, Infinity], th: V3 = [-Infinity, -Infinity, -Infinity];
    for (let j = 0; j < 3; j++) {
      const p = vert(I[3 * t + j]);
      for (let c = 0; c < 3; c++) {
        tl[c] = Math.min(tl[c], p[c]);
        th[c] = Math.max(th[c], p[c]);
      }
    }
    for (let c = 0; c < 3; c++) {
      lo[c] = Math.min(lo[c], tl[c]);
      hi[c] = Math.max(hi[c], th[c]);
    }
    side += Math.max(th[0] - tl[0], th[1] - tl[1], th[2] - tl[2]);
  }
  const span = Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1e-9);
  const cell = Math.max((2 * side) / T, span / 128, 1e-9);
  const dims = [0, 1, 2].map((c) => Math.max(1, Math.ceil((hi[c] - lo[c]) / cell) + 1));
  const key = (x: number, y: number, z: number) => (z * dims[1] + y) * dims[0] + x;
  const cellOf = (v: number, c: number) => Math.min(dims[c] - 1, Math.max(0, Math.floor((v - lo[c]) / cell)));
  const buckets = new Map<number, number[]>();
  for (let t = 0; t < T; t++) {
    const ps = [0, 1, 2].map((j) => vert(I[3 * t + j]));
    const a = [0, 1, 2].map((c) => cellOf(Math.min(ps[0][c], ps[1][c], ps[2][c]), c));
    const b = [0, 1, 2].map((c) => cellOf(Math.max(ps[0][c], ps[1][c], ps[2][c]), c));
    for (let z = a[2]; z <= b[2]; z++) {
      for (let y = a[1]; y <= b[1]; y++) {
        for (let x = a[0]; x <= b[0]; x++) {
          const k = key(x, y, z);
          const list = buckets.get(k);
          if (list) list.push(t);
          else buckets.set(k, [t]);
        }
      }
    }
  }
  const vertices = new Uint32Array(3 * n), barycentrics = new Float32Array(3 * n);
  const stamp = new Int32Array(T).fill(-1);
  const maxRing = Math.max(...dims);
  for (let i = 0; i < n; i++) {
    const p: V3 = [points[3 * i], points[3 * i + 1], points[3 * i + 2]];
    const c0 = [0, 1, 2].map((c) => cellOf(p[c], c));
    // A triangle not met in rings 0..r lies in cells at least r + 1 rings away, so at least r * cell from p.
    let best = Infinity, bestT = 0, bestBary: V3 = [1, 0, 0];
    for (let r = 0; r <= maxRing; r++) {
      for (let z = c0[2] - r; z <= c0[2] + r; z++) {
        if (z < 0 || z >= dims[2]) continue;
        for (let y = c0[1] - r; y <= c0[1] + r; y++) {
          if (y < 0 || y >= dims[1]) continue;
          for (let x = c0[0] - r; x <= c0[0] + r; x++) {
            if (x < 0 || x >= dims[0]) continue;
            if (Math.max(Math.abs(x - c0[0]), Math.abs(y - c0[1]), Math.abs(z - c0[2])) !== r) continue;
            for (const t of buckets.get(key(x, y, z)) ?? []) {
              if (stamp[t] === i) continue;
              stamp[t] = i;
              const res = closestOnTriangle(p, vert(I[3 * t]), vert(I[3 * t + 1]), vert(I[3 * t + 2]));
              if (res.dist2 < best) {
                best = res.dist2;
                bestT = t;
                bestBary = res.bary;
              }
            }
          }
        }
      }
      if (Math.sqrt(best) <= r * cell) break;
    }
    for (let j = 0; j < 3; j++) vertices[3 * i + j] = I[3 * bestT + j];
    barycentrics.set(bestBary, 3 * i);
  }
  return { count: n, vertices, barycentrics };
}
