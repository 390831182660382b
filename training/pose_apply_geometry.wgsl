// Posing forward, geometry part: one invocation per Gaussian n.
//   mean = x_c + dx_F + pos_scale * dpos,   quat = normalize(normalize(q_c) + dq)
// and the first regularizer terms reg[n] = (w_pos |pos_scale dpos|^2 + w_rot |dq|^2) / N.
//
// Buffers:
//   means_c [N, 3] f32   canonical positions
//   quats_c [N, 4] f32   canonical quaternions (w, x, y, z), any non-zero length
//   dx_f    [N, 3] f32   forward-field offsets (read only when has_dxf = 1; otherwise any 1+ element buffer)
//   g_out   [N, 14] f32  detail network output (layout in pose_common.wgsl)
//   means   [N, 3] f32   (written) posed positions
//   quats   [N, 4] f32   (written) posed unit quaternions
//   reg     [N] f32      (written) per-Gaussian regularizer terms
// Uniform: Pose. Grid: linear over N.

@group(0) @binding(0) var<storage, read> means_c: array<f32>;
@group(0) @binding(1) var<storage, read> quats_c: array<f32>;
@group(0) @binding(2) var<storage, read> dx_f: array<f32>;
@group(0) @binding(3) var<storage, read> g_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> means: array<f32>;
@group(0) @binding(5) var<storage, read_write> quats: array<f32>;
@group(0) @binding(6) var<storage, read_write> reg: array<f32>;
@group(0) @binding(7) var<uniform> u: Pose;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let row = n * GO;
  let dpos = u.pos_scale * vec3f(g_out[row], g_out[row + 1u], g_out[row + 2u]);
  var m = vec3f(means_c[3u * n], means_c[3u * n + 1u], means_c[3u * n + 2u]) + dpos;
  if (u.has_dxf == 1u) { m += vec3f(dx_f[3u * n], dx_f[3u * n + 1u], dx_f[3u * n + 2u]); }
  means[3u * n] = m.x;
  means[3u * n + 1u] = m.y;
  means[3u * n + 2u] = m.z;
  let qc = vec4f(quats_c[4u * n], quats_c[4u * n + 1u], quats_c[4u * n + 2u], quats_c[4u * n + 3u]);
  let dq = vec4f(g_out[row + 3u], g_out[row + 4u], g_out[row + 5u], g_out[row + 6u]);
  let q = normalize(qc / length(qc) + dq);
  for (var k = 0u; k < 4u; k++) { quats[4u * n + k] = q[k]; }
  reg[n] = (u.w_pos * dot(dpos, dpos) + u.w_rot * dot(dq, dq)) / f32(u.n);
}
