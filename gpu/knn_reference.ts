/** CPU reference for `knn`: brute force in float64, same ordering and sentinel conventions as the GPU version. */
import { KNN_NONE } from "./knn.ts";

/**
 * The k nearest other points of each query point by brute force: `points` is [N, 3] packed; `queries` lists the
 * point indices to answer (default all). Returns [queries.length, k] arrays, sorted by distance then index.
 */
export function knnBruteForce(
  points: Float32Array,
  k: number,
  queries?: ArrayLike<number>,
): { indices: Uint32Array; dist2: Float64Array } {
  const n = points.length / 3;
  const qs = queries ?? Array.from({ length: n }, (_, i) => i);
  const indices = new Uint32Array(qs.length * k).fill(KNN_NONE);
  const dist2 = new Float64Array(qs.length * k).fill(Infinity);
  const bd = new Float64Array(k), bi = new Uint32Array(k);
  for (let qi = 0; qi < qs.length; qi++) {
    const i = qs[qi];
    bd.fill(Infinity);
    bi.fill(KNN_NONE);
    const px = points[3 * i], py = points[3 * i + 1], pz = points[3 * i + 2];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dx = points[3 * j] - px, dy = points[3 * j + 1] - py, dz = points[3 * j + 2] - pz;
      const d = dx * dx + dy * dy + dz * dz;
      if (d < bd[k - 1] || (d === bd[k - 1] && j < bi[k - 1])) {
        let t = k - 1;
        while (t > 0 && (bd[t - 1] > d || (bd[t - 1] === d && bi[t - 1] > j))) {
          bd[t] = bd[t - 1];
          bi[t] = bi[t - 1];
          t--;
        }
        bd[t] = d;
        bi[t] = j;
      }
    }
    indices.set(bi, qi * k);
    dist2.set(bd, qi * k);
  }
  return { indices, dist2 };
}
