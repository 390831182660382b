// Backward of the projection geometry (2D mean and conic) to the 3D mean, quaternion and log-scales: one
// invocation per Gaussian n, looping over the views of the batch and recomputing the forward projection.
//
// Buffers:
//   means     [N, 3] f32          world-space centres
//   quats     [N, 4] f32          raw quaternions (w, x, y, z)
//   logScales [N, 3] f32          log standard deviations
//   grad2d    [V * N, 12] f32     per-(view, Gaussian) dmean2d (0..1) and dconic (2..4)
//   dMeans    [N, 3] f32          +=
//   dQuats    [N, 4] f32          += (through the normalization)
//   dLogScales [N, 3] f32         +=
// Uniform: Frame, count = N. Grid: linear.

@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> quats: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> grad2d: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_means: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_quats: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_log_scales: array<f32>;
@group(0) @binding(7) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= fr.count) { return; }
  let mean = vec3f(means[3u * n], means[3u * n + 1u], means[3u * n + 2u]);
  let qraw = vec4f(quats[4u * n], quats[4u * n + 1u], quats[4u * n + 2u], quats[4u * n + 3u]);
  let ls = vec3f(log_scales[3u * n], log_scales[3u * n + 1u], log_scales[3u * n + 2u]);
  var dm = vec3f(0.0);
  var dR = mat3x3f(vec3f(0.0), vec3f(0.0), vec3f(0.0)); // columns
  var ds = vec3f(0.0);
  var touched = false;
  for (var v = 0u; v < fr.views; v++) {
    let gb = (v * fr.n + n) * GRAD2D_STRIDE;
    let dmx = grad2d[gb];
    let dmy = grad2d[gb + 1u];
    let dA = grad2d[gb + 2u];
    let dB = grad2d[gb + 3u];
    let dC = grad2d[gb + 4u];
    if (dmx == 0.0 && dmy == 0.0 && dA == 0.0 && dB == 0.0 && dC == 0.0) { continue; }
    let c = fr.cams[v];
    let p = project_gaussian(c, mean, qraw, ls, fr.width, fr.height, fr.tiles_x, fr.tiles_y);
    if (!p.ok) { continue; }
    touched = true;
    let fx = c.intr.x; let fy = c.intr.y;
    let a = p.cov.x; let b = p.cov.y; let cc = p.cov.z;
    let D = a * cc - b * b;
    let iD2 = 1.0 / (D * D);
    let da = (-cc * cc * dA + b * cc * dB - b * b * dC) * iD2;
    let db = (2.0 * b * cc * dA - (D + 2.0 * b * b) * dB + 2.0 * a * b * dC) * iD2;
    let dc = (-b * b * dA + a * b * dB - a * a * dC) * iD2;
    let W = cam_rot(c);
    let w0 = c.rot0.xyz; let w1 = c.rot1.xyz; let w2 = c.rot2.xyz;
    let m0 = vec3f(p.M[0].x, p.M[1].x, p.M[2].x); // first row of M
    let m1 = vec3f(p.M[0].y, p.M[1].y, p.M[2].y);
    let L = p.R * mat3x3f(vec3f(p.s.x, 0.0, 0.0), vec3f(0.0, p.s.y, 0.0), vec3f(0.0, 0.0, p.s.z));
    let u0 = m0 * L;   // L^T m0
    let u1 = m1 * L;
    let e0 = 2.0 * da * u0 + db * u1;
    let e1 = db * u0 + 2.0 * dc * u1;
    // dL columns j = m0 e0_j + m1 e1_j; dR = dL S; ds_j = dL_j . R_j
    for (var j = 0u; j < 3u; j++) {
      let dLj = m0 * e0[j] + m1 * e1[j];
      dR[j] += dLj * p.s[j];
      ds[j] += dot(dLj, p.R[j]);
    }
    let dm0 = L * e0;
    let dm1 = L * e1;
    let dj0 = vec3f(dot(w0, dm0), dot(w1, dm0), dot(w2, dm0));
    let dj1 = vec3f(dot(w0, dm1), dot(w1, dm1), dot(w2, dm1));
    let z = p.t.z;
    let iz = 1.0 / z;
    var dt = vec3f(0.0);
    dt.z += -dj0.x * fx * iz * iz + dj0.z * 2.0 * fx * p.txc * iz * iz * iz;
    dt.z += -dj1.y * fy * iz * iz + dj1.z * 2.0 * fy * p.tyc * iz * iz * iz;
    let dtxc = -dj0.z * fx * iz * iz;
    let dtyc = -dj1.z * fy * iz * iz;
    if (p.clamp_x) { dt.z += dtxc * p.txc * iz; } else { dt.x += dtxc; }
    if (p.clamp_y) { dt.z += dtyc * p.tyc * iz; } else { dt.y += dtyc; }
    dt.x += dmx * fx * iz;
    dt.y += dmy * fy * iz;
    dt.z += -(dmx * fx * p.t.x + dmy * fy * p.t.y) * iz * iz;
    dm += dt * W;   // W^T dt
  }
  if (!touched) { return; }
  let qn = qraw * inverseSqrt(dot(qraw, qraw));
  let w = qn.x; let x = qn.y; let y = qn.z; let zq = qn.w;
  // dR[col][row]
  let d00 = dR[0].x; let d01 = dR[1].x; let d02 = dR[2].x;
  let d10 = dR[0].y; let d11 = dR[1].y; let d12 = dR[2].y;
  let d20 = dR[0].z; let d21 = dR[1].z; let d22 = dR[2].z;
  let dqn = 2.0 * vec4f(
    -zq * d01 + y * d02 + zq * d10 - x * d12 - y * d20 + x * d21,
    y * d01 + zq * d02 + y * d10 - 2.0 * x * d11 - w * d12 + zq * d20 + w * d21 - 2.0 * x * d22,
    -2.0 * y * d00 + x * d01 + w * d02 + x * d10 + zq * d12 - w * d20 + zq * d21 - 2.0 * y * d22,
    -2.0 * zq * d00 - w * d01 + x * d02 + w * d10 - 2.0 * zq * d11 + y * d12 + x * d20 + y * d21);
  let dq = (dqn - qn * dot(qn, dqn)) * inverseSqrt(dot(qraw, qraw));
  d_means[3u * n] += dm.x;
  d_means[3u * n + 1u] += dm.y;
  d_means[3u * n + 2u] += dm.z;
  for (var k = 0u; k < 4u; k++) { d_quats[4u * n + k] += dq[k]; }
  let dls = ds * exp(ls);
  d_log_scales[3u * n] += dls.x;
  d_log_scales[3u * n + 1u] += dls.y;
  d_log_scales[3u * n + 2u] += dls.z;
}
