// Direct supervision of a code-basis head (code_basis.ts) by a blendshape rig: every basis vector is compared
// with the rig's own blendshape delta at the point, each coefficient k with its own weight w[k]:
//
//   r[i, c, k] = s * raw[i, c * D + k] - target[i, c * D + k]
//   dRaw[i, c * D + k] += gs * w[k] * s * r                (gs = 2 * weight / N: the gradient of the mean loss)
//   sq[i] = sum_{c, k} w[k] * r^2                          (reduce with "mean" for the loss)
//
// Buffers: raw [N, 3 * D] f32 (the network's basis, x components of all D, then y, then z), target [N, 3 * D]
// f32 (same layout, normalized units), w [D] f32, dRaw [N, 3 * D] f32 (added to), sq [N] f32 out. One thread
// per point; the linear workgroup index is wid.x + wid.y * nwg.x (split 1-D grid).
struct Params {
  n: u32,
  d: u32,
  s: f32,
  gs: f32,
}

@group(0) @binding(0) var<storage, read> raw: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dRaw: array<f32>;
@group(0) @binding(4) var<storage, read_write> sq: array<f32>;
@group(0) @binding(5) var<uniform> u: Params;

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
  let per = 3u * u.d;
  var acc = 0.0;
  for (var j = 0u; j < per; j++) {
    let e = i * per + j;
    let wk = w[j % u.d];
    let r = u.s * raw[e] - tgt[e];
    dRaw[e] += u.gs * wk * u.s * r;
    acc += wk * r * r;
  }
  sq[i] = acc;
}
