// Rotation matrix -> quaternion, shared by kernels that turn Gaussians (prepended to their sources:
// mesh_rigged.wgsl, field_rotation.wgsl). CPU reference: avatar_init.ts `rotationToQuat`.

// Shepperd's method, row-major m (m[r][c] as m[3r + c]); w >= 0, unit length.
fn quat_of(m: array<f32, 9>) -> vec4f {
  let tr = m[0] + m[4] + m[8];
  var q: vec4f;
  if (tr > 0.0) {
    let s = 2.0 * sqrt(1.0 + tr);
    q = vec4f(0.25 * s, (m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s);
  } else if (m[0] > m[4] && m[0] > m[8]) {
    let s = 2.0 * sqrt(1.0 + m[0] - m[4] - m[8]);
    q = vec4f((m[7] - m[5]) / s, 0.25 * s, (m[1] + m[3]) / s, (m[2] + m[6]) / s);
  } else if (m[4] > m[8]) {
    let s = 2.0 * sqrt(1.0 + m[4] - m[0] - m[8]);
    q = vec4f((m[2] - m[6]) / s, (m[1] + m[3]) / s, 0.25 * s, (m[5] + m[7]) / s);
  } else {
    let s = 2.0 * sqrt(1.0 + m[8] - m[0] - m[4]);
    q = vec4f((m[3] - m[1]) / s, (m[2] + m[6]) / s, (m[5] + m[7]) / s, 0.25 * s);
  }
  q = normalize(q);
  if (q.x < 0.0) { q = -q; }
  return q;
}
