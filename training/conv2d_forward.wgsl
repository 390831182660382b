// 3x3 convolution forward: stride 1, zero padding 1, bias, optional ReLU, channel-last images.
//
// Buffers (all f32, flat):
//   x       [V, H, W, CIN]  read   input images, index ((v * H + y) * W + px) * CIN + i
//   params  [...]           read   this layer's weights [COUT, 3, 3, CIN] at u.off (index u.off + ((o * 3 + ky) * 3
//                                  + kx) * CIN + i), then its bias [COUT] at u.off + COUT * 9 * CIN
//   y       [V, H, W, COUT] write  act(z), z[p, o] = b[o] + sum_{ky, kx, i} w[o, ky, kx, i] x[p + (ky - 1, kx - 1), i]
//                                  (x outside the image is 0; act = ReLU when RELU = 1, identity when 0)
// Uniform U: pixels V * H * W, height H, width W, off (element offset of the layer in params).
// Grid: linear (wid.x + wid.y * nwg.x); one invocation per (pixel, group of 4 output channels), index
// p * ceil(COUT / 4) + g. Loops: 9 taps x CIN (<= 32) per invocation.

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  off: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

override CIN: u32 = 1u;
override COUT: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let g4 = (COUT + 3u) / 4u;
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= u.pixels * g4) { return; }
  let p = idx / g4;
  let o0 = (idx % g4) * 4u;
  let px = p % u.width;
  let py = (p / u.width) % u.height;
  let img = p - py * u.width - px;
  // Output channels past COUT reuse the last one's weights; their results are not stored.
  let oc = min(vec4u(o0, o0 + 1u, o0 + 2u, o0 + 3u), vec4u(COUT - 1u));
  let bias = u.off + COUT * 9u * CIN;
  var acc = vec4f(params[bias + oc.x], params[bias + oc.y], params[bias + oc.z], params[bias + oc.w]);
  let wrow = u.off + oc * 9u * CIN;
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(py) + i32(ky) - 1;
    if (yy < 0 || yy >= i32(u.height)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(px) + i32(kx) - 1;
      if (xx < 0 || xx >= i32(u.width)) { continue; }
      let q = (img + u32(yy) * u.width + u32(xx)) * CIN;
      let wt = wrow + (ky * 3u + kx) * CIN;
      for (var i = 0u; i < CIN; i++) {
        let w4 = vec4f(params[wt.x + i], params[wt.y + i], params[wt.z + i], params[wt.w + i]);
        acc += x[q + i] * w4;
      }
    }
  }
  if (RELU == 1u) { acc = max(acc, vec4f(0.0)); }
  for (var c = 0u; c < 4u; c++) {
    if (o0 + c < COUT) { y[p * COUT + o0 + c] = acc[c]; }
  }
}
