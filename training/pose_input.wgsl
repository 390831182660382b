// Assembles the detail network's input rows: one invocation per element of [N, 3 + F + D].
//
// Buffers:
//   means    [N, 3] f32      canonical positions x_c
//   features [N, F] f32      per-Gaussian latent features
//   expr     [max(D, 1)] f32 expression code z (shared by all rows)
//   g_in     [N, 3 + F + D] f32 (written) rows [(x_c - centre) / extent, f, z]
// Uniform: Pose. Grid: linear over N * (3 + F + D) elements.

@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> features: array<f32>;
@group(0) @binding(2) var<storage, read> expr: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_in: array<f32>;
@group(0) @binding(4) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let gi = 3u + u.f + u.d;
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= u.n * gi) { return; }
  let n = i / gi;
  let c = i - n * gi;
  var v = 0.0;
  if (c < 3u) {
    var centre = array<f32, 3>(u.cx, u.cy, u.cz);
    v = (means[3u * n + c] - centre[c]) / u.extent;
  } else if (c < 3u + u.f) {
    v = features[n * u.f + c - 3u];
  } else {
    v = expr[c - 3u - u.f];
  }
  g_in[i] = v;
}
