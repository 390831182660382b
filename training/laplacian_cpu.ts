/**
 * CPU reference of the uniform-Laplacian regularizer (laplacian.ts), in float64: for values X [N, C] and
 * out-neighbours nbr [N, k] (`KNN_NONE` or an index >= N means missing),
 *   r_i = X_i - mean_{j in N(i)} X_j (0 without neighbours),  L = (w / N) * sum_i ||r_i||^2,
 *   dL/dX_p = (2 w / N) * (r_p - sum_{i : p in N(i)} r_i / |N(i)|).
 */

/** The loss and its gradient dL/dX [N, C]. */
export interface LaplacianCpuResult {
  loss: number;
  grad: Float64Array;
  residual: Float64Array;
}

/** Loss and gradient of the uniform Laplacian of `x` ([N, C]) on the graph `nbr` ([N, k]) with weight `w`. */
export function laplacianCpu(
  nbr: ArrayLike<number>,
  k: number,
  x: ArrayLike<number>,
  columns: number,
  w: number,
): LaplacianCpuResult {
  const n = nbr.length / k, C = columns;
  const present = (j: number) => j < n;
  const residual = new Float64Array(n * C), grad = new Float64Array(n * C);
  const inv = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let t = 0; t < k; t++) if (present(nbr[i * k + t])) deg++;
    inv[i] = deg > 0 ? 1 / deg : 0;
    if (deg === 0) continue;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let t = 0; t < k; t++) {
        const j = nbr[i * k + t];
        if (present(j)) s += x[j * C + c];
      }
      const r = x[i * C + c] - s / deg;
      residual[i * C + c] = r;
      sum += r * r;
    }
  }
  const loss = n > 0 ? (w / n) * sum : 0;
  const scale = n > 0 ? (2 * w) / n : 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) grad[i * C + c] += scale * residual[i * C + c];
    for (let t = 0; t < k; t++) {
      const j = nbr[i * k + t];
      if (!present(j)) continue;
      for (let c = 0; c < C; c++) grad[j * C + c] -= scale * inv[i] * residual[i * C + c];
    }
  }
  return { loss, grad, residual };
}
