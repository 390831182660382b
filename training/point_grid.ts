/**
 * A uniform hash grid over a subset of points, answering "is any of them within `radius` of q" by visiting the
 * 27 cells of size `radius` around q (prior_pairs.ts still-surface weights, field_fit.ts still vertices).
 */
export class PointGrid {
  readonly #cells = new Map<string, number[]>();
  readonly #points: ArrayLike<number>;
  readonly #radius: number;

  /** Grid over `points` [V, 3] at the vertex indices `members`. */
  constructor(points: ArrayLike<number>, members: Iterable<number>, radius: number) {
    if (!(radius > 0)) throw new Error(`PointGrid: radius must be positive, got ${radius}`);
    this.#points = points;
    this.#radius = radius;
    for (const v of members) {
      const k = this.#key(points[3 * v], points[3 * v + 1], points[3 * v + 2], 0, 0, 0);
      const list = this.#cells.get(k);
      if (list) list.push(v);
      else this.#cells.set(k, [v]);
    }
  }

  #key(x: number, y: number, z: number, dx: number, dy: number, dz: number): string {
    const r = this.#radius;
    return `${Math.floor(x / r) + dx},${Math.floor(y / r) + dy},${Math.floor(z / r) + dz}`;
  }

  /** Whether a member lies within the radius of (x, y, z). */
  near(x: number, y: number, z: number): boolean {
    const P = this.#points;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (let dz = -1; dz <= 1; dz++) {
          for (const v of this.#cells.get(this.#key(x, y, z, dx, dy, dz)) ?? []) {
            if (Math.hypot(P[3 * v] - x, P[3 * v + 1] - y, P[3 * v + 2] - z) <= this.#radius) return true;
          }
        }
      }
    }
    return false;
  }
}
