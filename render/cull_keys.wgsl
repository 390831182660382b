// After projection: culls every view of a Gaussian whose extra channels are non-finite, tallies the cull
// statistics and writes the depth-sort keys. One invocation per (view v, Gaussian n), i = v * N + n.
//
// Buffers:
//   proj    [V * N, 16] f32     projected records (radius zeroed here for extra-channel culls)
//   extras  [N, NC] f32         extra per-Gaussian channels (a 1-element dummy when NC = 0)
//   counts  [V * N] u32         tiles touched; set to 0 for culled entries
//   reasons [V * N] u32         cull reason from the projection (updated to 1 for non-finite extras)
//   keys    [V * N] u32         output: depth key (bits of the positive f32 depth; 0xffffffff when culled)
//   vals    [V * N] u32         output: i (the identity permutation sorted along with the keys)
//   stats   [4] atomic u32      += per reason: visible, non-finite, behind near plane, off-image/degenerate
// Uniform: Frame, count = V * N. Grid: linear.

@group(0) @binding(0) var<storage, read_write> proj: array<f32>;
@group(0) @binding(1) var<storage, read> extras: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> reasons: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys: array<u32>;
@group(0) @binding(5) var<storage, read_write> vals: array<u32>;
@group(0) @binding(6) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= fr.count) { return; }
  let v = i / fr.n;
  let n = i - v * fr.n;
  var reason = reasons[i];
  if (reason == 0u) {
    for (var c = 0u; c < NC; c++) {
      if (!is_finite(extras[n * NC + c])) { reason = 1u; }
    }
    if (reason != 0u) {
      reasons[i] = reason;
      counts[i] = 0u;
      proj[i * PROJ_STRIDE + 7u] = 0.0;
    }
  }
  atomicAdd(&stats[reason], 1u);
  keys[i] = select(0xffffffffu, bitcast<u32>(proj[i * PROJ_STRIDE + 6u]), reason == 0u);
  vals[i] = i;
}
