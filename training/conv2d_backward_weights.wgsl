// 3x3 convolution backward to the weights and bias, first stage: per-chunk partial sums (no atomics).
//
// Buffers (all f32, flat):
//   x         [V, H, W, CIN]  read   the forward's input (layout in conv2d_forward.wgsl)
//   dy        [V, H, W, COUT] read   dL/d(layer output)
//   y         [V, H, W, COUT] read   the forward's output (ReLU mask: dz = dy where y > 0; RELU = 0: dz = dy)
//   partials  [chunks, M]     write  M = COUT * 9 * CIN + COUT, the layer's parameter layout (weights
//                                    [COUT, 3, 3, CIN] then bias [COUT]); row c holds the sums over the pixels
//                                    [c * u.chunk, (c + 1) * u.chunk):
//                                    dw[o, ky, kx, i] = sum_p dz[p, o] x[p + (ky - 1, kx - 1), i], db[o] = sum_p dz[p, o]
// Uniform U: pixels V * H * W, height H, width W, chunk (pixels per chunk).
// Grid: x = ceil((COUT * 9 * ceil(CIN / 4) + COUT) / WG), y = chunks. Invocation j < COUT * 9 * ceil(CIN / 4)
// owns the weights (o, tap, 4 input channels), j = (o * 9 + tap) * ceil(CIN / 4) + g; the next COUT own a bias.
// Loops: u.chunk pixels per invocation (kept well under 65,535 by the caller).

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  chunk: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<uniform> u: U;

override CIN: u32 = 1u;
override COUT: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

fn dz(p: u32, o: u32) -> f32 {
  let k = p * COUT + o;
  if (RELU == 1u && y[k] <= 0.0) { return 0.0; }
  return dy[k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let g4 = (CIN + 3u) / 4u;
  let nw4 = COUT * 9u * g4;
  let j = wid.x * WG + li;
  if (j >= nw4 + COUT) { return; }
  let m = COUT * 9u * CIN + COUT;
  let row = wid.y * m;
  let p0 = wid.y * u.chunk;
  let p1 = min(p0 + u.chunk, u.pixels);
  if (j >= nw4) {
    let o = j - nw4;
    var s = 0.0;
    for (var p = p0; p < p1; p++) { s += dz(p, o); }
    partials[row + COUT * 9u * CIN + o] = s;
    return;
  }
  let o = j / (9u * g4);
  let tap = (j / g4) % 9u;
  let i0 = (j % g4) * 4u;
  let ky = i32(tap / 3u) - 1;
  let kx = i32(tap % 3u) - 1;
  let ic = min(vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u), vec4u(CIN - 1u));
  var acc = vec4f(0.0);
  for (var p = p0; p < p1; p++) {
    let px = p % u.width;
    let py = (p / u.width) % u.height;
    let yy = i32(py) + ky;
    let xx = i32(px) + kx;
    if (yy < 0 || yy >= i32(u.height) || xx < 0 || xx >= i32(u.width)) { continue; }
    let g = dz(p, o);
    let q = (p - py * u.width - px + u32(yy) * u.width + u32(xx)) * CIN;
    acc += g * vec4f(x[q + ic.x], x[q + ic.y], x[q + ic.z], x[q + ic.w]);
  }
  let base = row + (o * 9u + tap) * CIN;
  for (var c = 0u; c < 4u; c++) {
    if (i0 + c < CIN) { partials[base + i0 + c] = acc[c]; }
  }
}
