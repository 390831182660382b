// Input assembly for the deformation MLPs (prior B, forward field F): one row per point,
//
//   out[i] = [ (points[i] - center) * scale + shift[i]  (3) | feat[i] (E) | code(i) (D) | extra (X) ]
//
// Buffers (f32 unless noted; row-major, tightly packed, row stride = number of columns):
//   points  [N, 3]  world positions
//   shift   [N, 3]  added after normalization (normalized units); read only when HAS_SHIFT = 1
//   feat    [N, E]  per-point features; read only when E > 0
//   codes   CODE_MODE 0: [1, D] broadcast to every row; 1: [N, D] one row per point;
//           2: [T, D] row codeIdx[i] for point i
//   codeIdx [N] u32, read only when CODE_MODE = 2
//   extra   [X]     the same trailing values for every row (e.g. an identity code); read only when X > 0
//   out     [N, K]  K = 3 + E + D + X
// One thread per output element; the linear workgroup index is wid.x + wid.y * nwg.x (split 1-D grid).
override HAS_SHIFT: u32 = 0u;
override CODE_MODE: u32 = 0u;

struct Params {
  n: u32,
  e: u32,
  d: u32,
  x: u32,
  cx: f32,
  cy: f32,
  cz: f32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> points: array<f32>;
@group(0) @binding(1) var<storage, read> shift: array<f32>;
@group(0) @binding(2) var<storage, read> feat: array<f32>;
@group(0) @binding(3) var<storage, read> codes: array<f32>;
@group(0) @binding(4) var<storage, read> codeIdx: array<u32>;
@group(0) @binding(5) var<storage, read> extra: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let k = 3u + u.e + u.d + u.x;
  let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (idx >= u.n * k) {
    return;
  }
  let i = idx / k;
  let c = idx % k;
  var v = 0.0;
  if (c < 3u) {
    let center = select(select(u.cz, u.cy, c == 1u), u.cx, c == 0u);
    v = (points[3u * i + c] - center) * u.scale;
    if (HAS_SHIFT == 1u) {
      v += shift[3u * i + c];
    }
  } else if (c < 3u + u.e) {
    v = feat[i * u.e + c - 3u];
  } else if (c < 3u + u.e + u.d) {
    var row = 0u;
    if (CODE_MODE == 1u) {
      row = i;
    } else if (CODE_MODE == 2u) {
      row = codeIdx[i];
    }
    v = codes[row * u.d + c - 3u - u.e];
  } else {
    v = extra[c - 3u - u.e - u.d];
  }
  out[idx] = v;
}
