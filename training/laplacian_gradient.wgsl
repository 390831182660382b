// Gradient of the uniform-Laplacian loss L = (weight / n) * sum_i ||r_i||^2 (see laplacian_residual.wgsl),
// gathered per node p over its own residual and the residuals of the nodes that have p as a neighbour
// (the transpose adjacency), so no atomics are needed:
//   dL/dX_p = (2 weight / n) * (r_p - sum_{i : p in N(i)} inv_deg[i] * r_i)
// and ADDED into the C columns starting at `offset` of rows of `stride` floats of `grad`.
//
// Buffers:
//   u         uniform                  n, stride, offset, scale (f32) = 2 * weight / n; pipeline constant C (columns)
//   resid     [n, C]       f32 read    residuals r_i, stride C
//   inv_deg   [n]          f32 read    1 / present out-degree (0 when none)
//   in_start  [n + 1]      u32 read    in-edges of p are in_src[in_start[p] .. in_start[p + 1]]
//   in_src    [n * k]      u32 read    source node of each in-edge, grouped by target, sources ascending
//   grad      [n, stride]  f32 read_write  element (p, col) at p * stride + offset + col, incremented
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per node.

struct U {
  n: u32,
  stride: u32,
  offset: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> resid: array<f32>;
@group(0) @binding(2) var<storage, read> inv_deg: array<f32>;
@group(0) @binding(3) var<storage, read> in_start: array<u32>;
@group(0) @binding(4) var<storage, read> in_src: array<u32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;

override WG: u32 = 128u;
override C: u32 = 8u;  // columns, 1..MAX_C
const MAX_C: u32 = 32u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let p = (wid.x + wid.y * nwg.x) * WG + li;
  if (p >= u.n) {
    return;
  }
  // In-edges outermost (each source loaded once), columns innermost (C is a pipeline constant: unrolled).
  var g: array<f32, MAX_C>;
  for (var col = 0u; col < C; col++) {
    g[col] = resid[p * C + col];
  }
  let e1 = in_start[p + 1u];
  for (var e = in_start[p]; e < e1; e++) {
    let i = in_src[e];
    let w = inv_deg[i];
    for (var col = 0u; col < C; col++) {
      g[col] -= w * resid[i * C + col];
    }
  }
  let base = p * u.stride + u.offset;
  for (var col = 0u; col < C; col++) {
    grad[base + col] = grad[base + col] + u.scale * g[col];
  }
}
