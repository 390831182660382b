// 3x3 convolution backward to the weights and bias, first stage: per-chunk partial sums (no atomics). Channels
// padded to multiples of 4 (layouts in conv2d_forward.wgsl).
//
// Buffers:
//   x         [V * H * W, CIN4] vec4f    read   the forward's input
//   dy        [V * H * W, COUT4] vec4f   read   dL/d(layer output)
//   y         [V * H * W, COUT4] vec4f   read   the forward's output (ReLU mask: dz = dy where y > 0; RELU = 0: dz = dy)
//   partials  [chunks, M] mat4x4f        write  M = 9 CIN4 COUT4 + ceil(COUT4 / 4), the layer's parameter layout; row c
//                                               holds the sums over the pixels [c * u.chunk, (c + 1) * u.chunk):
//                                               dW[tap, i4, g] = sum_p dz[p, g] x[p + (ky - 1, kx - 1), i4]^T (outer
//                                               product: column c = dz * x.c), db[g] = sum_p dz[p, g] (bias columns;
//                                               unused columns 0)
// Uniform U: pixels V * H * W, height H, width W, chunk (pixels per chunk).
// Grid: x = ceil(M / WG), y = chunks; invocation j < 9 CIN4 COUT4 owns the weight block j = (tap * CIN4 + i4) *
// COUT4 + g, the next ceil(COUT4 / 4) own 4 bias groups each. Loops: u.chunk pixels (kept well under 65,535).

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  chunk: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> partials: array<mat4x4f>;
@group(0) @binding(4) var<uniform> u: U;

override CIN4: u32 = 1u;
override COUT4: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

fn dz(p: u32, g: u32) -> vec4f {
  let k = p * COUT4 + g;
  if (RELU == 1u) { return select(vec4f(0.0), dy[k], y[k] > vec4f(0.0)); }
  return dy[k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let nw = 9u * CIN4 * COUT4;
  let m = nw + (COUT4 + 3u) / 4u;
  let j = wid.x * WG + li;
  if (j >= m) { return; }
  let p0 = wid.y * u.chunk;
  let p1 = min(p0 + u.chunk, u.pixels);
  var acc = mat4x4f();
  if (j >= nw) {
    let g0 = (j - nw) * 4u;
    for (var p = p0; p < p1; p++) {
      for (var c = 0u; c < 4u; c++) {
        if (g0 + c < COUT4) { acc[c] += dz(p, g0 + c); }
      }
    }
    partials[wid.y * m + j] = acc;
    return;
  }
  let g = j % COUT4;
  let i4 = (j / COUT4) % CIN4;
  let tap = j / (COUT4 * CIN4);
  let ky = i32(tap / 3u) - 1;
  let kx = i32(tap % 3u) - 1;
  for (var p = p0; p < p1; p++) {
    let px = p % u.width;
    let py = (p / u.width) % u.height;
    let yy = i32(py) + ky;
    let xx = i32(px) + kx;
    if (yy < 0 || yy >= i32(u.height) || xx < 0 || xx >= i32(u.width)) { continue; }
    let d = dz(p, g);
    let xv = x[(p - py * u.width - px + u32(yy) * u.width + u32(xx)) * CIN4 + i4];
    acc += mat4x4f(d * xv.x, d * xv.y, d * xv.z, d * xv.w);
  }
  partials[wid.y * m + j] = acc;
}
