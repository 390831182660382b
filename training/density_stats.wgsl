// Folds one training step's density statistics (the rasterizer backward's `densify` output) into the running
// per-Gaussian statistics of density control. One invocation per Gaussian n.
//
// Buffers:
//   step   [N, 4] f32   this step's densify output (render/opacity_backward.wgsl): column 0 = sum over the
//                       step's views of the NDC 2D mean gradient norm, column 2 = number of views in which the
//                       Gaussian was projected (in the frustum, radius > 0); columns 1 and 3 are not read
//   stats  [N, 4] f32   running statistics, stride 4:
//                         0: sum of NDC 2D mean gradient norms
//                         1: views in the frustum (3DGS's denominator, "basic" mode)
//                         2: views in steps where the Gaussian contributed (gradient norm > 0: in the frustum
//                            and not fully occluded; the "dynamic" denominator)
//                         3: steps since it last contributed (0 in a step where it did)
//   gate   [>= 1] u32   the update gate (update_gate.wgsl): gate[0] = 0 skips the fold (a skipped step)
// Uniform: count = N. Grid: linear (wid.x + wid.y * nwg.x).

struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> step: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read> gate: array<u32>;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= params.count || gate[0] == 0u) { return; }
  let grad = step[4u * n];
  let views = step[4u * n + 2u];
  let b = 4u * n;
  stats[b] += grad;
  stats[b + 1u] += views;
  if (grad > 0.0) {
    stats[b + 2u] += views;
    stats[b + 3u] = 0.0;
  } else {
    stats[b + 3u] += 1.0;
  }
}
