// Residual of 3-vectors and its scaled gradient, for the squared-error losses of the deformation fields:
//
//   r_i = ca * a[i] + cb * b[i]        (3-vectors)
//   res[i] = gs * r_i                  (with gs = 2 / N this is d/d(ca*a) of mean_i |r_i|^2 divided by ca)
//   sq[i]  = |r_i|^2                   (reduce with "mean" for the loss)
//
// Buffers: a [N, 3] f32, b [N, 3] f32 (may alias a when cb = 0), res [N, 3] f32 out, sq [N] f32 out.
// One thread per point; the linear workgroup index is wid.x + wid.y * nwg.x (split 1-D grid).
struct Params {
  n: u32,
  ca: f32,
  cb: f32,
  gs: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> res: array<f32>;
@group(0) @binding(3) var<storage, read_write> sq: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= u.n) {
    return;
  }
  var s = 0.0;
  for (var c = 0u; c < 3u; c++) {
    let r = u.ca * a[3u * i + c] + u.cb * b[3u * i + c];
    res[3u * i + c] = u.gs * r;
    s += r * r;
  }
  sq[i] = s;
}
