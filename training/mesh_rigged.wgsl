// Mesh-rigged deformation (GaussianAvatars-style baseline): one invocation per Gaussian n, attached to a rig
// triangle (vertices a, b, c) at barycentric weights (w0, w1, w2). With posed vertices
//   P[v] = neutral[v] + sum_k code[k] * deltas[k, v]
// it writes
//   dx[n]  = sum_j w_j (P[v_j] - neutral[v_j])                    (the rig's displacement at the attachment point)
//   rot[n] = quaternion of R = F(posed) F(neutral)^T, where F = [t, b, n] is the triangle's frame
//            (t = unit first edge, n = unit normal, b = n x t); identity for degenerate triangles. w >= 0.
//
// Buffers:
//   tri     [N, 3] u32   vertex indices of each Gaussian's triangle
//   bary    [N, 3] f32   barycentric weights of those vertices
//   neutral [V, 3] f32   neutral vertex positions
//   deltas  [K, V, 3] f32 blendshape deltas, blendshape-major
//   code    [max(K, 1)] f32 blendshape weights
//   dx      [N, 3] f32   (written) displacement
//   rot     [N, 4] f32   (written) rotation quaternion (w, x, y, z)
// Uniform: n, k, v. Grid: linear over N (wid.x + wid.y * nwg.x).

override WG: u32 = 128u;

struct Params { n: u32, k: u32, v: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> tri: array<u32>;
@group(0) @binding(1) var<storage, read> bary: array<f32>;
@group(0) @binding(2) var<storage, read> neutral: array<f32>;
@group(0) @binding(3) var<storage, read> deltas: array<f32>;
@group(0) @binding(4) var<storage, read> code: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> rot: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

fn vertex(v: u32) -> vec3f {
  return vec3f(neutral[3u * v], neutral[3u * v + 1u], neutral[3u * v + 2u]);
}

fn displacement(v: u32) -> vec3f {
  var d = vec3f(0.0);
  for (var k = 0u; k < u.k; k++) {
    let w = code[k];
    if (w != 0.0) {
      let o = (k * u.v + v) * 3u;
      d += w * vec3f(deltas[o], deltas[o + 1u], deltas[o + 2u]);
    }
  }
  return d;
}

// Frame columns (t, b, n) of the triangle; ok = false when it is degenerate.
struct Frame { t: vec3f, b: vec3f, n: vec3f, ok: bool }

fn frame(p0: vec3f, p1: vec3f, p2: vec3f) -> Frame {
  let e1 = p1 - p0;
  let nn = cross(e1, p2 - p0);
  let le = length(e1);
  let ln = length(nn);
  if (le <= 1e-20 || ln <= 1e-20) { return Frame(vec3f(1.0, 0.0, 0.0), vec3f(0.0, 1.0, 0.0), vec3f(0.0, 0.0, 1.0), false); }
  let t = e1 / le;
  let n = nn / ln;
  return Frame(t, cross(n, t), n, true);
}

// quat_of: quat_of_matrix.wgsl, prepended by mesh_rigged.ts.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  let v0 = tri[3u * n];
  let v1 = tri[3u * n + 1u];
  let v2 = tri[3u * n + 2u];
  let d0 = displacement(v0);
  let d1 = displacement(v1);
  let d2 = displacement(v2);
  let w = vec3f(bary[3u * n], bary[3u * n + 1u], bary[3u * n + 2u]);
  let d = w.x * d0 + w.y * d1 + w.z * d2;
  dx[3u * n] = d.x;
  dx[3u * n + 1u] = d.y;
  dx[3u * n + 2u] = d.z;
  let a0 = vertex(v0);
  let a1 = vertex(v1);
  let a2 = vertex(v2);
  let fa = frame(a0, a1, a2);
  let fb = frame(a0 + d0, a1 + d1, a2 + d2);
  var q = vec4f(1.0, 0.0, 0.0, 0.0);
  if (fa.ok && fb.ok) {
    // R = Fb Fa^T: R[r][c] = tb[r] ta[c] + bb[r] ba[c] + nb[r] na[c].
    var m: array<f32, 9>;
    for (var r = 0u; r < 3u; r++) {
      for (var c = 0u; c < 3u; c++) {
        m[3u * r + c] = fb.t[r] * fa.t[c] + fb.b[r] * fa.b[c] + fb.n[r] * fa.n[c];
      }
    }
    q = quat_of(m);
  }
  rot[4u * n] = q.x;
  rot[4u * n + 1u] = q.y;
  rot[4u * n + 2u] = q.z;
  rot[4u * n + 3u] = q.w;
}
