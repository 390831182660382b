/**
 * Distance from points to a triangle mesh's surface (the closest point on any triangle), with a uniform grid
 * over the triangles' bounding boxes so a query visits only nearby triangles: rings of cells around the
 * query's cell are searched until the ring is farther than the best distance found.
 */

export class SurfaceDistance {
  #pos: Float32Array;
  #tri: Uint32Array;
  #cell: number;
  #lo: number[];
  #dims: number[];
  #cells = new Map<number, number[]>();

  /** `positions` [V, 3] and `indices` [F, 3]; `cell` the grid spacing (default: twice the mean edge length). */
  constructor(positions: Float32Array, indices: Uint32Array, cell?: number) {
    this.#pos = positions;
    this.#tri = indices;
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    let edges = 0;
    for (let t = 0; t < indices.length; t += 3) {
      for (let k = 0; k < 3; k++) {
        const a = indices[t + k], b = indices[t + ((k + 1) % 3)];
        edges += Math.hypot(
          positions[a * 3] - positions[b * 3],
          positions[a * 3 + 1] - positions[b * 3 + 1],
          positions[a * 3 + 2] - positions[b * 3 + 2],
        );
        for (let j = 0; j < 3; j++) {
          lo[j] = Math.min(lo[j], positions[a * 3 + j]);
          hi[j] = Math.max(hi[j], positions[a * 3 + j]);
        }
      }
    }
    this.#cell = cell ?? Math.max((2 * edges) / Math.max(indices.length, 1), 1e-6);
    this.#lo = lo;
    this.#dims = [0, 1, 2].map((j) => Math.max(1, Math.ceil((hi[j] - lo[j]) / this.#cell) + 1));
    for (let t = 0; t < indices.length / 3; t++) {
      const a = [Infinity, Infinity, Infinity], b = [-Infinity, -Infinity, -Infinity];
      for (let k = 0; k < 3; k++) {
        const v = indices[t * 3 + k];
        for (let j = 0; j < 3; j++) {
          a[j] = Math.min(a[j], positions[v * 3 + j]);
          b[j] = Math.max(b[j], positions[v * 3 + j]);
        }
      }
      const ca = a.map((x, j) => this.#coord(x, j)), cb = b.map((x, j) => this.#coord(x, j));
      for (let x = ca[0]; x <= cb[0]; x++) {
        for (let y = ca[1]; y <= cb[1]; y++) {
          for (let z = ca[2]; z <= cb[2]; z++) {
            const key = this.#key(x, y, z);
            const list = this.#cells.get(key);
            if (list) list.push(t);
            else this.#cells.set(key, [t]);
          }
        }
      }
    }
  }

  #coord(x: number, j: number): number {
    return Math.min(this.#dims[j] - 1, Math.max(0, Math.floor((x - this.#lo[j]) / this.#cell)));
  }

  #key(x: number, y: number, z: number): number {
    return (x * this.#dims[1] + y) * this.#dims[2] + z;
  }

  /** Distance from point (x, y, z) to the surface. */
  distance(x: number, y: number, z: number): number {
    const c = [this.#coord(x, 0), this.#coord(y, 1), this.#coord(z, 2)];
    // Distance from the point to the grid box, so rings are counted from where the grid starts.
    const outside = Math.hypot(
      ...[x, y, z].map((p, j) => {
        const a = this.#lo[j], b = a + this.#dims[j] * this.#cell;
        return p < a ? a - p : p > b ? p - b : 0;
      }),
    );
    let best = Infinity;
    const maxRing = Math.max(...this.#dims);
    const seen = new Set<number>();
    for (let r = 0; r <= maxRing; r++) {
      // A triangle in ring r is at least (r - 1) cells from the point's projection onto the grid box, hence at
      // least hypot(that, outside) from the point.
      if (r > 1 && best < Math.hypot(outside, (r - 1) * this.#cell)) break;
      for (let i = c[0] - r; i <= c[0] + r; i++) {
        for (let j = c[1] - r; j <= c[1] + r; j++) {
          for (let k = c[2] - r; k <= c[2] + r; k++) {
            const ring = Math.max(Math.abs(i - c[0]), Math.abs(j - c[1]), Math.abs(k - c[2]));
            if (ring !== r || i < 0 || j < 0 || k < 0) continue;
            if (i >= this.#dims[0] || j >= this.#dims[1] || k >= this.#dims[2]) continue;
            for (const t of this.#cells.get(this.#key(i, j, k)) ?? []) {
              if (seen.has(t)) continue;
              seen.add(t);
              best = Math.min(best, this.#triangle(t, x, y, z));
            }
          }
        }
      }
    }
    return best;
  }

  /** Distance from a point to triangle t (closest point by region, Ericson, Real-Time Collision Detection). */
  #triangle(t: number, px: number, py: number, pz: number): number {
    const P = this.#pos, I = this.#tri;
    const a = I[t * 3] * 3, b = I[t * 3 + 1] * 3, c = I[t * 3 + 2] * 3;
    const ab = [P[b] - P[a], P[b + 1] - P[a + 1], P[b + 2] - P[a + 2]];
    const ac = [P[c] - P[a], P[c + 1] - P[a + 1], P[c + 2] - P[a + 2]];
    const ap = [px - P[a], py - P[a + 1], pz - P[a + 2]];
    const dot = (u: number[], v: number[]) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    const at = (s: number, w: number) => {
      const q = [0, 1, 2].map((k) => P[a + k] + s * ab[k] + w * ac[k]);
      return Math.hypot(px - q[0], py - q[1], pz - q[2]);
    };
    // A degenerate (zero-area) triangle would divide 0 by 0 below; its closest point is on one of its edges.
    const n = [ab[1] * ac[2] - ab[2] * ac[1], ab[2] * ac[0] - ab[0] * ac[2], ab[0] * ac[1] - ab[1] * ac[0]];
    if (!(dot(n, n) > 1e-12 * dot(ab, ab) * dot(ac, ac))) {
      return Math.min(
        segment(P, a, b, px, py, pz),
        segment(P, b, c, px, py, pz),
        segment(P, a, c, px, py, pz),
      );
    }
    const d1 = dot(ab, ap), d2 = dot(ac, ap);
    if (d1 <= 0 && d2 <= 0) return at(0, 0);
    const bp = [px - P[b], py - P[b + 1], pz - P[b + 2]];
    const d3 = dot(ab, bp), d4 = dot(ac, bp);
    if (d3 >= 0 && d4 <= d3) return at(1, 0);
    const vc = d1 * d4 - d3 * d2;
    if (vc <= 0 && d1 >= 0 && d3 <= 0) return at(d1 / (d1 - d3), 0);
    const cp = [px - P[c], py - P[c + 1], pz - P[c + 2]];
    const d5 = dot(ab, cp), d6 = dot(ac, cp);
    if (d6 >= 0 && d5 <= d6) return at(0, 1);
    const vb = d5 * d2 - d1 * d6;
    if (vb <= 0 && d2 >= 0 && d6 <= 0) return at(0, d2 / (d2 - d6));
    const va = d3 * d6 - d5 * d4;
    if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) {
      const w = (d4 - d3) / (d4 - d3 + (d5 - d6));
      return at(1 - w, w);
    }
    const sum = va + vb + vc;
    return at(vb / sum, vc / sum);
  }
}

/** Distance from a point to the segment between the vertices at offsets a and b of P. */
function segment(P: Float32Array, a: number, b: number, px: number, py: number, pz: number): number {
  const e = [P[b] - P[a], P[b + 1] - P[a + 1], P[b + 2] - P[a + 2]];
  const len2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
  const s = len2 > 0
    ? Math.min(1, Math.max(0, ((px - P[a]) * e[0] + (py - P[a + 1]) * e[1] + (pz - P[a + 2]) * e[2]) / len2))
    : 0;
  return Math.hypot(px - P[a] - s * e[0], py - P[a + 1] - s * e[1], pz - P[a + 2] - s * e[2]);
}
