// Posing forward, appearance part: one invocation per Gaussian n.
//   logScale = s_c + ds,  opacityLogit = o_c + do,  sh = sh_c with sh[n, 0, :] += dcol / SH_C0
// and reg[n] += (w_scale |ds|^2 + w_opacity do^2 + w_colour |dcol|^2) / N (after pose_apply_geometry).
//
// Buffers:
//   log_scales_c [N, 3] f32      canonical log-scales
//   opacity_c    [N] f32         canonical opacity logits
//   sh_c         [N, K, 3] f32   canonical SH, coefficient-major (index (n * K + k) * 3 + c)
//   g_out        [N, 14] f32     detail network output
//   log_scales   [N, 3] f32      (written)
//   opacity      [N] f32         (written)
//   sh           [N, K, 3] f32   (written)
//   reg          [N] f32         (added to)
// Uniform: Pose. Grid: linear over N.

@group(0) @binding(0) var<storage, read> log_scales_c: array<f32>;
@group(0) @binding(1) var<storage, read> opacity_c: array<f32>;
@group(0) @binding(2) var<storage, read> sh_c: array<f32>;
@group(0) @binding(3) var<storage, read> g_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> log_scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> opacity: array<f32>;
@group(0) @binding(6) var<storage, read_write> sh: array<f32>;
@group(0) @binding(7) var<storage, read_write> reg: array<f32>;
@group(0) @binding(8) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let row = n * GO;
  let ds = vec3f(g_out[row + 7u], g_out[row + 8u], g_out[row + 9u]);
  let d_o = g_out[row + 10u];
  let dcol = vec3f(g_out[row + 11u], g_out[row + 12u], g_out[row + 13u]);
  for (var c = 0u; c < 3u; c++) { log_scales[3u * n + c] = log_scales_c[3u * n + c] + ds[c]; }
  opacity[n] = opacity_c[n] + d_o;
  let base = n * u.k * 3u;
  for (var i = 0u; i < u.k * 3u; i++) { sh[base + i] = sh_c[base + i]; }
  for (var c = 0u; c < 3u; c++) { sh[base + c] += dcol[c] / SH_C0; }
  reg[n] += (u.w_scale * dot(ds, ds) + u.w_opacity * d_o * d_o + u.w_colour * dot(dcol, dcol)) / f32(u.n);
}
