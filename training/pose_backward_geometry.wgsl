// Posing backward, geometry part (see pose_apply_geometry.wgsl): one invocation per Gaussian n.
//   dL/dx_c += gm,  dL/d(dx_F) = gm,  dL/d(dpos) = pos_scale * gm + reg gradient
//   p = normalize(q_c) + dq, q = p / |p|:  dL/dp = (gq - q (q . gq)) / |p|,  dL/d(dq) = dL/dp + reg gradient,
//   dL/dq_c += (dL/dp - qh (qh . dL/dp)) / |q_c| with qh = q_c / |q_c|
// Regularizer gradient: 2 w x / N for each offset x (w_pos pos_scale^2 for dpos).
//
// Buffers:
//   g_means  [N, 3] f32   dL/d(posed means)
//   g_quats  [N, 4] f32   dL/d(posed quats)
//   quats_c  [N, 4] f32   canonical quaternions
//   g_out    [N, 14] f32  detail network output (saved from the forward)
//   gc_means [N, 3] f32   (added to) dL/dx_c
//   gc_quats [N, 4] f32   (added to) dL/dq_c
//   d_gout   [N, 14] f32  (columns 0..6 written) dL/d(G output)
//   d_dxf    [N, 3] f32   (written) dL/d(dx_F)
// Uniform: Pose. Grid: linear over N.

@group(0) @binding(0) var<storage, read> g_means: array<f32>;
@group(0) @binding(1) var<storage, read> g_quats: array<f32>;
@group(0) @binding(2) var<storage, read> quats_c: array<f32>;
@group(0) @binding(3) var<storage, read> g_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> gc_means: array<f32>;
@group(0) @binding(5) var<storage, read_write> gc_quats: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_gout: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_dxf: array<f32>;
@group(0) @binding(8) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let row = n * GO;
  let inv_n = 1.0 / f32(u.n);
  let ps = u.pos_scale;
  for (var c = 0u; c < 3u; c++) {
    let gm = g_means[3u * n + c];
    gc_means[3u * n + c] += gm;
    d_dxf[3u * n + c] = gm;
    d_gout[row + c] = ps * gm + 2.0 * u.w_pos * ps * ps * g_out[row + c] * inv_n;
  }
  let qc = vec4f(quats_c[4u * n], quats_c[4u * n + 1u], quats_c[4u * n + 2u], quats_c[4u * n + 3u]);
  let dq = vec4f(g_out[row + 3u], g_out[row + 4u], g_out[row + 5u], g_out[row + 6u]);
  let lc = length(qc);
  let qh = qc / lc;
  let p = qh + dq;
  let lp = length(p);
  let q = p / lp;
  let gq = vec4f(g_quats[4u * n], g_quats[4u * n + 1u], g_quats[4u * n + 2u], g_quats[4u * n + 3u]);
  let gp = (gq - q * dot(q, gq)) / lp;
  let gqc = (gp - qh * dot(qh, gp)) / lc;
  for (var k = 0u; k < 4u; k++) {
    gc_quats[4u * n + k] += gqc[k];
    d_gout[row + 3u + k] = gp[k] + 2.0 * u.w_rot * dq[k] * inv_n;
  }
}
