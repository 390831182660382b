// Rotation of posed Gaussians by their triangles' rotations (mesh-rigged baseline), in place, one invocation
// per Gaussian n. Quaternions are (w, x, y, z); q' = r (x) q is the Hamilton product, i.e. q' = L(r) q with
//   L(r) = [[rw, -rx, -ry, -rz], [rx, rw, -rz, ry], [ry, rz, rw, -rx], [rz, -ry, rx, rw]].
//   forward:  quats[n] = L(rot[n]) quats[n]
//   backward: grads[n] = L(rot[n])^T grads[n]     (dL/dq from dL/dq', L being linear in q)
//
// Buffers:
//   rot  [N, 4] f32   rotation quaternions (from mesh_rigged.wgsl)
//   data [N, 4] f32   (read and written) posed quaternions (forward) or their gradients (backward)
// Uniform: n. Grid: linear over N (wid.x + wid.y * nwg.x).

override WG: u32 = 128u;

struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<storage, read> rot: array<f32>;
@group(0) @binding(1) var<storage, read_write> data: array<f32>;
@group(0) @binding(2) var<uniform> u: Params;

fn left(r: vec4f) -> mat4x4f {
  // Columns of L(r) (WGSL matrices are column-major).
  return mat4x4f(
    vec4f(r.x, r.y, r.z, r.w),
    vec4f(-r.y, r.x, r.w, -r.z),
    vec4f(-r.z, -r.w, r.x, r.y),
    vec4f(-r.w, r.z, -r.y, r.x),
  );
}

fn load(n: u32) -> vec4f {
  return vec4f(data[4u * n], data[4u * n + 1u], data[4u * n + 2u], data[4u * n + 3u]);
}

fn store(n: u32, q: vec4f) {
  data[4u * n] = q.x;
  data[4u * n + 1u] = q.y;
  data[4u * n + 2u] = q.z;
  data[4u * n + 3u] = q.w;
}

fn rotation(n: u32) -> vec4f {
  return vec4f(rot[4u * n], rot[4u * n + 1u], rot[4u * n + 2u], rot[4u * n + 3u]);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  store(n, left(rotation(n)) * load(n));
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= u.n) { return; }
  store(n, transpose(left(rotation(n))) * load(n));
}
