// 3x3 convolution forward: stride 1, zero padding 1, bias, optional ReLU, channel-last images with channels padded
// to multiples of 4 (pad channels hold 0).
//
// Buffers:
//   x       [V, H, W, 4 CIN4] f32 as vec4f [V * H * W, CIN4]   read   input, vec4 index p * CIN4 + i4
//   params  mat4x4f array                                      read   the layer at mat4 index u.off:
//             weights [3, 3, CIN4, COUT4] mat4x4f (index u.off + (tap * CIN4 + i4) * COUT4 + g, tap = ky * 3 + kx;
//             column c = input channel 4 i4 + c, row r = output channel 4 g + r), then the bias [COUT4] vec4f as
//             the columns of ceil(COUT4 / 4) mat4x4f (bias group g is column g % 4 of mat4 u.off + 9 CIN4 COUT4 + g / 4)
//   y       [V, H, W, 4 COUT4] as vec4f [V * H * W, COUT4]     write  act(b + sum_tap W_tap x[p + (ky - 1, kx - 1)])
//                                                                     (x outside the image is 0; act = ReLU when
//                                                                     RELU = 1, identity when 0)
// Uniform U: pixels V * H * W, height H, width W, off (mat4 index of the layer in params).
// Grid: linear (wid.x + wid.y * nwg.x); one invocation per (pixel, group of 4 output channels), index
// p * COUT4 + g. Loops: 9 taps x CIN4 (<= 8) per invocation.

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  off: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> params: array<mat4x4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;
@group(0) @binding(3) var<uniform> u: U;

override CIN4: u32 = 1u;
override COUT4: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= u.pixels * COUT4) { return; }
  let p = idx / COUT4;
  let g = idx % COUT4;
  let px = p % u.width;
  let py = (p / u.width) % u.height;
  let img = p - py * u.width - px;
  var acc = params[u.off + 9u * CIN4 * COUT4 + g / 4u][g % 4u];
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(py) + i32(ky) - 1;
    if (yy < 0 || yy >= i32(u.height)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(px) + i32(kx) - 1;
      if (xx < 0 || xx >= i32(u.width)) { continue; }
      let q = (img + u32(yy) * u.width + u32(xx)) * CIN4;
      let wt = u.off + (ky * 3u + kx) * CIN4 * COUT4 + g;
      for (var i4 = 0u; i4 < CIN4; i4++) {
        acc += params[wt + i4 * COUT4] * x[q + i4];
      }
    }
  }
  if (RELU == 1u) { acc = max(acc, vec4f(0.0)); }
  y[p * COUT4 + g] = acc;
}
