// Code-basis output head of the deformation networks (code_basis.ts): the network emits, per point, one 3-vector
// per expression coefficient, and the offset is their combination with the point's code relative to the
// canonical code:
//
//   forward:   out[i, c]          = s * sum_k raw[i, c * D + k] * (rows[i * stride + off + k] - z0[k])
//   backward:  dRaw[i, c * D + k] = s * g[i, c] * (rows[i * stride + off + k] - z0[k])
//
// The codes are constants of the network (no gradient flows to them).
// Buffers: raw / dRaw [N, 3 * D] f32 (row i holds the basis of x, then y, then z, D values each);
// rows [N, stride] f32, the network's input rows, whose columns off .. off + D - 1 are the point's code;
// z0 [D] f32, the canonical code; out / g [N, 3] f32. Entry `forward` writes out (one thread per point),
// `backward` writes dRaw (one thread per element of dRaw). The linear workgroup index is wid.x + wid.y * nwg.x
// (split 1-D grid).
struct Params {
  n: u32,
  d: u32,
  stride: u32,
  off: u32,
  s: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<f32>;
@group(0) @binding(2) var<storage, read> z0: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

fn rel(i: u32, k: u32) -> f32 {
  return rows[i * u.stride + u.off + k] - z0[k];
}

// src = raw [N, 3D], dst = out [N, 3].
@compute @workgroup_size(256)
fn forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= u.n) {
    return;
  }
  var acc = vec3f(0.0);
  let base = i * 3u * u.d;
  for (var k = 0u; k < u.d; k++) {
    let w = rel(i, k);
    acc += w * vec3f(src[base + k], src[base + u.d + k], src[base + 2u * u.d + k]);
  }
  dst[3u * i] = u.s * acc.x;
  dst[3u * i + 1u] = u.s * acc.y;
  dst[3u * i + 2u] = u.s * acc.z;
}

// src = g [N, 3], dst = dRaw [N, 3D].
@compute @workgroup_size(256)
fn backward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  let per = 3u * u.d;
  if (idx >= u.n * per) {
    return;
  }
  let i = idx / per;
  let r = idx % per;
  let c = r / u.d;
  let k = r % u.d;
  dst[idx] = u.s * src[3u * i + c] * rel(i, k);
}
