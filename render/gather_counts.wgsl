// Gathers tile counts into depth order: sorted[j] = counts[order[j]] for j < V * N (sorted[V * N] stays 0, so
// its exclusive prefix sum is the total number of pairs).
//
// Buffers: order [V * N] u32, counts [V * N] u32, sorted [V * N + 1] u32 (output).
// Uniform: Frame, count = V * N. Grid: linear.

@group(0) @binding(0) var<storage, read> order: array<u32>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> sorted: array<u32>;
@group(0) @binding(3) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + li;
  if (j >= fr.count) { return; }
  sorted[j] = counts[order[j]];
}
