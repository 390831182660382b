// Fourier-feature encoding of the position columns of deformation-network input rows, and its backward.
//
// Forward (entry `encode`): rows [N, K] -> enc [N, K + 6 L], with x = rows[i, 0..3) (normalized position):
//   enc[i, j]              = rows[i, j]                  j < K
//   enc[i, K + 6 k + c]     = sin(w_k x_c)               k < L, c < 3
//   enc[i, K + 6 k + 3 + c] = cos(w_k x_c)               w_k = pi * 2^k
// Backward (entry `decode`): dEnc [N, K + 6 L] -> dRows [N, K],
//   dRows[i, c] = dEnc[i, c] + sum_k w_k (dEnc[i, K + 6 k + c] cos(w_k x_c) - dEnc[i, K + 6 k + 3 + c] sin(w_k x_c))
//   dRows[i, j] = dEnc[i, j]                              3 <= j < K
// Buffers (f32, row-major, tightly packed): rows [N, K] read; enc / dEnc [N, K + 6 L]; dRows [N, K] written.
// One thread per output element (enc or dRows); the linear workgroup index is wid.x + wid.y * nwg.x (split 1-D
// grid).
struct Params {
  n: u32,
  k: u32,
  l: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read> dEnc: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

const PI: f32 = 3.14159265358979;

@compute @workgroup_size(256)
fn encode(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = u.k + 6u * u.l;
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (idx >= u.n * w) {
    return;
  }
  let i = idx / w;
  let j = idx % w;
  if (j < u.k) {
    out[idx] = rows[i * u.k + j];
    return;
  }
  let q = j - u.k;
  let band = q / 6u;
  let r = q % 6u;
  let c = r % 3u;
  let t = PI * f32(1u << band) * rows[i * u.k + c];
  out[idx] = select(sin(t), cos(t), r >= 3u);
}

@compute @workgroup_size(256)
fn decode(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = u.k + 6u * u.l;
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (idx >= u.n * u.k) {
    return;
  }
  let i = idx / u.k;
  let j = idx % u.k;
  var g = dEnc[i * w + j];
  if (j < 3u) {
    let x = rows[idx];
    for (var band = 0u; band < u.l; band++) {
      let f = PI * f32(1u << band);
      let t = f * x;
      let base = i * w + u.k + 6u * band + j;
      g += f * (dEnc[base] * cos(t) - dEnc[base + 3u] * sin(t));
    }
  }
  out[idx] = g;
}
