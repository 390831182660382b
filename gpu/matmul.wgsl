// Tiled f32 matrix multiply with a fused epilogue:
//   C[M, N] = epilogue(op(A) · op(B))  for the k range of this split,
//   epilogue(v) = ACT(v + (ACCUMULATE ? C : 0) + (HAS_BIAS ? bias[col] : 0)) * DACT'(Y[row, col])
//
// Buffers (all f32, row-major, tightly packed; every matrix starts at an element offset given in U):
//   a    op(A) = A [M, K] (TRANS_A = false, row stride K) or Aᵀ where A is stored [K, M] (row stride M)
//   b    op(B) = B [K, N] (TRANS_B = false, row stride N) or Bᵀ where B is stored [N, K] (row stride K)
//   c    [M, N] read_write output (row stride N). With split-K (SPLITS > 1 dispatched along z), split s writes the
//        raw partial product of k in [s * kPerSplit, (s + 1) * kPerSplit) to c[cOff + s * M * N + ...] and the
//        epilogue is left to gpu/matmul_reduce.wgsl.
//   bias [N] read (only read when HAS_BIAS)
//   y    [M, N] read (only read when DACT != 0): saved output of activation DACT; the result is multiplied by
//        that activation's derivative (backward through an activation, see gpu/activation.wgsl)
//   a4, b4  the A and B ranges again as array<vec4<f32>> (bindings 6, 7), read instead of a / b when VEC_A / VEC_B:
//        then the matrix's contiguous rows have a multiple of 4 elements and aOff / bOff are multiples of 4.
// Uniform block U (4-byte words, see gpu/matmul.ts): M, N, K, aOff, bOff, cOff, biasOff, yOff, kPerSplit, beta.
//
// Grid: (ceil(N / BN), ceil(M / BM), splits); workgroup (WX, WY). Invocation (tx, ty) owns the rows
// 4 WY q + 4 ty + {0..3} and the columns 4 WX p + 4 tx + {0..3} (q, p = 0..3) of the workgroup's
// tile. The workgroup stages BK-deep slabs of op(A) and op(B) in workgroup memory, k-major (As[k][m], Bs[k][n],
// as vec4 along m / n), zero-padded past the matrix edges.

// Register tile: each invocation owns a 16 x 16 block of C in 64 vec4 accumulators c{r}_{p} (row r, column
// group p), operands a{q} = As[k][4 WY q + 4 ty .. +3] and b{p} = Bs[k][4 WX p + 4 tx .. +3]. These must be
// separate variables, not arrays (lavapipe keeps function-scope arrays in memory), so the lines marked
// `//@ACC`, `//@FMA` and `//@STORE` are expanded by gpu/matmul.ts into the 64 declarations, the 4 + 4 operand
// loads with 256 fma, and the 64 stores. WX, WY (workgroup size) and BK (slab depth) are override constants;
// BM = 16 WY rows and BN = 16 WX columns per workgroup.
override WX: u32 = 8u;
override WY: u32 = 8u;
override BK: u32 = 16u;
override BM: u32 = 16u * WY;
override BN: u32 = 16u * WX;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override ACT: u32 = 0u;
override DACT: u32 = 0u;
override SPLIT: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;

struct U {
  M: u32,
  N: u32,
  K: u32,
  aOff: u32,
  bOff: u32,
  cOff: u32,
  biasOff: u32,
  yOff: u32,
  kPerSplit: u32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
// The same A and B ranges seen as vec4 (used when VEC_A / VEC_B: rows contiguous in memory have a multiple of 4
// elements and the matrix starts at a multiple of 4 elements, so every vec4 lies inside one row).
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> b4: array<vec4<f32>>;


var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

// Applies the epilogue to four consecutive elements of row `row` starting at column `col` and stores them.
fn store4(row: u32, col: u32, v: vec4<f32>, split: u32) {
  let M = u.M;
  let N = u.N;
  if (row >= M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let cj = col + j;
    if (cj >= N) {
      return;
    }
    if (SPLIT) {
      c[u.cOff + split * M * N + row * N + cj] = v[j];
      continue;
    }
    let at = u.cOff + row * N + cj;
    var x = v[j];
    if (ACCUMULATE) {
      x += c[at];
    }
    if (HAS_BIAS) {
      x += bias[u.biasOff + cj];
    }
    x = act_apply(ACT, u.beta, x);
    if (DACT != 0u) {
      x *= act_grad_from_output(DACT, u.beta, y[u.yOff + row * N + cj]);
    }
    c[at] = x;
  }
}

@compute @workgroup_size(WX, WY, 1)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let NT = WX * WY;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let kBegin = wid.z * u.kPerSplit;
  let kEnd = min(u.K, kBegin + u.kPerSplit);
  let M = u.M;
  let N = u.N;
  let K = u.K;
  let ha = BM / 4u;
  let hb = BN / 4u;

  //@ACC

  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    if (VEC_A && TRANS_A) {
      // A stored [K, M]: one vec4 of four consecutive m per step, straight into As.
      for (var idx = li; idx < BK * ha; idx += NT) {
        let k = idx / ha;
        let m4 = idx % ha;
        var v = vec4<f32>(0.0);
        if (k0 + k < kEnd && m0 + 4u * m4 < M) {
          v = a4[(u.aOff + (k0 + k) * M + m0) / 4u + m4];
        }
        As[idx] = v;
      }
    } else if (VEC_A) {
      // A stored [M, K]: a 4 x 4 block (four rows, one vec4 of k each), transposed into four As entries.
      for (var blk = li; blk < (BM / 4u) * (BK / 4u); blk += NT) {
        let mb = blk / (BK / 4u);
        let kb = blk % (BK / 4u);
        let m = m0 + 4u * mb;
        let k = k0 + 4u * kb;
        var r0 = vec4<f32>(0.0);
        var r1 = vec4<f32>(0.0);
        var r2 = vec4<f32>(0.0);
        var r3 = vec4<f32>(0.0);
        if (k < kEnd) {
          let base = (u.aOff + m * K + k) / 4u;
          let K4 = K / 4u;
          if (m < M) {
            r0 = a4[base];
          }
          if (m + 1u < M) {
            r1 = a4[base + K4];
          }
          if (m + 2u < M) {
            r2 = a4[base + 2u * K4];
          }
          if (m + 3u < M) {
            r3 = a4[base + 3u * K4];
          }
        }
        As[(4u * kb) * ha + mb] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        As[(4u * kb + 1u) * ha + mb] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        As[(4u * kb + 2u) * ha + mb] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        As[(4u * kb + 3u) * ha + mb] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
      }
    } else {
      // Stage op(A)[m0 .. m0 + BM, k0 .. k0 + BK] as As[k][m / 4], one vec4 (four consecutive m) per step.
      for (var idx = li; idx < BK * ha; idx += NT) {
        var k: u32;
        var m: u32;
        if (TRANS_A) {
          k = idx / ha;
          m = 4u * (idx % ha);
        } else {
          m = 4u * (idx / BK);
          k = idx % BK;
        }
        var v = vec4<f32>(0.0);
        if (k0 + k < kEnd) {
          for (var j = 0u; j < 4u; j++) {
            if (m0 + m + j < M) {
              if (TRANS_A) {
                v[j] = a[u.aOff + (k0 + k) * M + m0 + m + j];
              } else {
                v[j] = a[u.aOff + (m0 + m + j) * K + k0 + k];
              }
            }
          }
        }
        As[k * ha + m / 4u] = v;
      }
    }
    if (VEC_B && !TRANS_B) {
      // B stored [K, N]: one vec4 of four consecutive n per step, straight into Bs.
      for (var idx = li; idx < BK * hb; idx += NT) {
        let k = idx / hb;
        let n4 = idx % hb;
        var v = vec4<f32>(0.0);
        if (k0 + k < kEnd && n0 + 4u * n4 < N) {
          v = b4[(u.bOff + (k0 + k) * N + n0) / 4u + n4];
        }
        Bs[idx] = v;
      }
    } else if (VEC_B) {
      // B stored [N, K]: a 4 x 4 block (four rows n, one vec4 of k each), transposed into four Bs entries.
      for (var blk = li; blk < (BN / 4u) * (BK / 4u); blk += NT) {
        let nb = blk / (BK / 4u);
        let kb = blk % (BK / 4u);
        let n = n0 + 4u * nb;
        let k = k0 + 4u * kb;
        var r0 = vec4<f32>(0.0);
        var r1 = vec4<f32>(0.0);
        var r2 = vec4<f32>(0.0);
        var r3 = vec4<f32>(0.0);
        if (k < kEnd) {
          let base = (u.bOff + n * K + k) / 4u;
          let K4 = K / 4u;
          if (n < N) {
            r0 = b4[base];
          }
          if (n + 1u < N) {
            r1 = b4[base + K4];
          }
          if (n + 2u < N) {
            r2 = b4[base + 2u * K4];
          }
          if (n + 3u < N) {
            r3 = b4[base + 3u * K4];
          }
        }
        Bs[(4u * kb) * hb + nb] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
        Bs[(4u * kb + 1u) * hb + nb] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
        Bs[(4u * kb + 2u) * hb + nb] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
        Bs[(4u * kb + 3u) * hb + nb] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
      }
    } else {
      // Stage op(B)[k0 .. k0 + BK, n0 .. n0 + BN] as Bs[k][n / 4].
      for (var idx = li; idx < BK * hb; idx += NT) {
        var k: u32;
        var n: u32;
        if (TRANS_B) {
          n = 4u * (idx / BK);
          k = idx % BK;
        } else {
          k = idx / hb;
          n = 4u * (idx % hb);
        }
        var v = vec4<f32>(0.0);
        if (k0 + k < kEnd) {
          for (var j = 0u; j < 4u; j++) {
            if (n0 + n + j < N) {
              if (TRANS_B) {
                v[j] = b[u.bOff + (n0 + n + j) * K + k0 + k];
              } else {
                v[j] = b[u.bOff + (k0 + k) * N + n0 + n + j];
              }
            }
          }
        }
        Bs[k * hb + n / 4u] = v;
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      //@FMA
    }
    workgroupBarrier();
  }

  //@STORE
}
