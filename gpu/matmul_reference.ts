/** CPU reference of gpu/matmul.ts: float64 accumulation, same layouts and epilogue. */
import { type Activation, applyActivation } from "./activation.ts";

export interface MatmulCpuOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: ArrayLike<number>;
  /** Old contents of C to add (accumulate). */
  accumulate?: ArrayLike<number>;
  activation?: Activation;
}

/**
 * C[m, n] = act(op(A) · op(B) + C_old + bias) with A stored [m, k] (or [k, m] when transA) and B stored [k, n]
 * (or [n, k] when transB), all row-major.
 */
export function matmulCpu(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  opts: MatmulCpuOptions = {},
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = opts.transA ? a[p * m + i] : a[i * k + p];
        const bv = opts.transB ? b[j * k + p] : b[p * n + j];
        s += av * bv;
      }
      if (opts.accumulate) s += opts.accumulate[i * n + j];
      if (opts.bias) s += opts.bias[j];
      c[i * n + j] = opts.activation ? applyActivation(opts.activation, s) : s;
    }
  }
  return c;
}

/** The plain single-precision triple loop used as the CPU baseline in benchmarks (C = A · B, i-k-j order). */
export function matmulCpuF32(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  n: number,
  k: number,
) {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
    }
  }
}
