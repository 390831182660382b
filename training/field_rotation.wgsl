// Local rotation of the forward field F (field_rotation.ts): each Gaussian is turned by the rotation part of the
// Jacobian of the deformation x -> x + dx_F(x) at its centre, the way a mesh rig turns a Gaussian with its
// triangle. The Jacobian is taken by forward differences with step h along the three axes:
//   J = I + [dx(x + h e0) - dx(x), dx(x + h e1) - dx(x), dx(x + h e2) - dx(x)] / h     (columns)
// and its rotation part R (polar decomposition J = R S) by the iteration R <- (R + R^-T) / 2 from R = J, which
// converges quadratically for the near-identity J of a face; then R -> unit quaternion (w, x, y, z), w >= 0.
// A J with det <= 1e-6 (a folding field) gives the identity. CPU reference: field_rotation_cpu.ts.
//
// Entry points, one invocation per Gaussian n (grid linear over N: wid.x + wid.y * nwg.x):
//   probes:   means [N, 3] f32 -> pts [3N, 3] f32, pts[a N + n] = means[n] + h e_a (a = 0, 1, 2)
//   rotation: dx [N, 3] f32 (F at the centres), dxp [3N, 3] f32 (F at the probes, same row order as pts)
//             -> rot [N, 4] f32 unit quaternions (w, x, y, z)
// Uniform: n (Gaussians), h (probe step, world units).

override WG: u32 = 128u;
const ITERATIONS: u32 = 6u;

struct Params { n: u32, h: f32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> probes_dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

fn row3(buf: u32, i: u32) -> vec3f {
  if (buf == 0u) {
    return vec3f(src[3u * i], src[3u * i + 1u], src[3u * i + 2u]);
  }
  return vec3f(probes_dx[3u * i], probes_dx[3u * i + 1u], probes_dx[3u * i + 2u]);
}

@compute @workgroup_size(WG)
fn probes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let x = row3(0u, n);
  for (var a = 0u; a < 3u; a++) {
    var p = x;
    p[a] += u.h;
    let o = 3u * (a * u.n + n);
    dst[o] = p.x;
    dst[o + 1u] = p.y;
    dst[o + 2u] = p.z;
  }
}

fn inverse_transpose(m: mat3x3f, det: f32) -> mat3x3f {
  // The cofactor matrix divided by the determinant is the inverse transpose.
  let c0 = cross(m[1], m[2]);
  let c1 = cross(m[2], m[0]);
  let c2 = cross(m[0], m[1]);
  return mat3x3f(c0 / det, c1 / det, c2 / det);
}

// quat_of (row-major 3x3 -> unit quaternion, w >= 0): quat_of_matrix.wgsl, prepended by field_rotation.ts.

@compute @workgroup_size(WG)
fn rotation(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let d0 = row3(0u, n);
  let inv = 1.0 / u.h;
  var m = mat3x3f(
    vec3f(1.0, 0.0, 0.0) + (row3(1u, n) - d0) * inv,
    vec3f(0.0, 1.0, 0.0) + (row3(1u, u.n + n) - d0) * inv,
    vec3f(0.0, 0.0, 1.0) + (row3(1u, 2u * u.n + n) - d0) * inv,
  );
  var q = vec4f(1.0, 0.0, 0.0, 0.0);
  if (determinant(m) > 1e-6) {
    for (var i = 0u; i < ITERATIONS; i++) {
      m = 0.5 * (m + inverse_transpose(m, determinant(m)));
    }
    var r: array<f32, 9>;
    for (var row = 0u; row < 3u; row++) {
      for (var col = 0u; col < 3u; col++) {
        r[3u * row + col] = m[col][row];
      }
    }
    q = quat_of(r);
  }
  dst[4u * n] = q.x;
  dst[4u * n + 1u] = q.y;
  dst[4u * n + 2u] = q.z;
  dst[4u * n + 3u] = q.w;
}
