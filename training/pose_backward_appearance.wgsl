// Posing backward, appearance part (see pose_apply_appearance.wgsl): one invocation per Gaussian n.
//   dL/ds_c += gs, dL/do_c += go, dL/dsh_c += gsh (every coefficient),
//   dL/d(ds) = gs + 2 w_scale ds / N, dL/d(do) = go + 2 w_opacity do / N,
//   dL/d(dcol) = gsh[n, 0, :] / SH_C0 + 2 w_colour dcol / N
//
// Buffers:
//   g_log_scales  [N, 3] f32     dL/d(posed log-scales)
//   g_opacity     [N] f32        dL/d(posed opacity logits)
//   g_sh          [N, K, 3] f32  dL/d(posed SH)
//   g_out         [N, 14] f32    detail network output
//   gc_log_scales [N, 3] f32     (added to)
//   gc_opacity    [N] f32        (added to)
//   gc_sh         [N, K, 3] f32  (added to)
//   d_gout        [N, 14] f32    (columns 7..13 written)
// Uniform: Pose. Grid: linear over N.

@group(0) @binding(0) var<storage, read> g_log_scales: array<f32>;
@group(0) @binding(1) var<storage, read> g_opacity: array<f32>;
@group(0) @binding(2) var<storage, read> g_sh: array<f32>;
@group(0) @binding(3) var<storage, read> g_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> gc_log_scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> gc_opacity: array<f32>;
@group(0) @binding(6) var<storage, read_write> gc_sh: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_gout: array<f32>;
@group(0) @binding(8) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let row = n * GO;
  let inv_n = 1.0 / f32(u.n);
  for (var c = 0u; c < 3u; c++) {
    let gs = g_log_scales[3u * n + c];
    gc_log_scales[3u * n + c] += gs;
    d_gout[row + 7u + c] = gs + 2.0 * u.w_scale * g_out[row + 7u + c] * inv_n;
  }
  let go = g_opacity[n];
  gc_opacity[n] += go;
  d_gout[row + 10u] = go + 2.0 * u.w_opacity * g_out[row + 10u] * inv_n;
  let base = n * u.k * 3u;
  for (var i = 0u; i < u.k * 3u; i++) { gc_sh[base + i] += g_sh[base + i]; }
  for (var c = 0u; c < 3u; c++) {
    d_gout[row + 11u + c] = g_sh[base + c] / SH_C0 + 2.0 * u.w_colour * g_out[row + 11u + c] * inv_n;
  }
}
