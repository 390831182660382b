// Uniform-Laplacian residual and loss terms (forward of the Laplacian regularizer).
// For node i with present neighbours N(i) (d_i = |N(i)|, inv_deg[i] = 1 / d_i, 0 when N(i) is empty):
//   r_i = X_i - inv_deg[i] * sum_{j in N(i)} X_j      (r_i = 0 when N(i) is empty)
//   terms[i] = weight * ||r_i||^2
// The loss is mean_i terms[i] = (weight / n) * sum_i ||r_i||^2 (reduced by the caller).
// X is read as C columns starting at column `offset` of rows of `stride` floats.
//
// Buffers:
//   u        uniform                 n, stride, offset, weight (f32); pipeline constants K (k), C (columns)
//   x        [n, stride]  f32 read   values, element (i, col) at i * stride + offset + col
//   nbr      [n, K]       u32 read   neighbour indices, stride K; 0xffffffff = missing
//   inv_deg  [n]          f32 read   1 / present out-degree (0 when none)
//   resid    [n, C]       f32 read_write  r_i, stride C
//   terms    [n]          f32 read_write  weight * ||r_i||^2
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per node.

struct U {
  n: u32,
  stride: u32,
  offset: u32,
  weight: f32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> nbr: array<u32>;
@group(0) @binding(3) var<storage, read> inv_deg: array<f32>;
@group(0) @binding(4) var<storage, read_write> resid: array<f32>;
@group(0) @binding(5) var<storage, read_write> terms: array<f32>;

override WG: u32 = 128u;
override K: u32 = 8u;   // neighbours per node (the graph's k)
override C: u32 = 8u;   // columns, 1..MAX_C
const MAX_C: u32 = 32u;
const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= u.n) {
    return;
  }
  // Neighbours outermost (each index loaded once), columns innermost; K and C are pipeline constants so the
  // loops unroll and the sums stay in registers.
  var s: array<f32, MAX_C>;
  for (var col = 0u; col < C; col++) {
    s[col] = 0.0;
  }
  for (var t = 0u; t < K; t++) {
    let j = nbr[i * K + t];
    if (j != NONE && j < u.n) {
      let base = j * u.stride + u.offset;
      for (var col = 0u; col < C; col++) {
        s[col] += x[base + col];
      }
    }
  }
  let w = inv_deg[i];
  let own = i * u.stride + u.offset;
  var sq = 0.0;
  for (var col = 0u; col < C; col++) {
    let r = select(0.0, x[own + col] - w * s[col], w > 0.0);
    resid[i * C + col] = r;
    sq += r * r;
  }
  terms[i] = u.weight * sq;
}
