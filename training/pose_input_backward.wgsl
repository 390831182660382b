// Scatters the gradient of G's input rows to the canonical parameters: one invocation per Gaussian n.
//   dL/df += d_in[n, 3 .. 3 + F],   dL/dx_c += d_in[n, 0 .. 3] / extent (only when through = 1)
// The expression-code columns are not used (the codes come from the tracker and are not optimized).
//
// Buffers:
//   d_in        [N, 3 + F + D] f32  dL/d(G input) from the MLP backward
//   gc_means    [N, 3] f32          (added to when through = 1)
//   gc_features [N, F] f32          (added to)
// Uniform: Pose. Grid: linear over N.

@group(0) @binding(0) var<storage, read> d_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> gc_means: array<f32>;
@group(0) @binding(2) var<storage, read_write> gc_features: array<f32>;
@group(0) @binding(3) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let gi = 3u + u.f + u.d;
  let row = n * gi;
  if (u.through == 1u) {
    for (var c = 0u; c < 3u; c++) { gc_means[3u * n + c] += d_in[row + c] / u.extent; }
  }
  for (var k = 0u; k < u.f; k++) { gc_features[n * u.f + k] += d_in[row + 3u + k]; }
}
