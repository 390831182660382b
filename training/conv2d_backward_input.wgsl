// 3x3 convolution backward to the input (a transposed convolution), stride 1, zero padding 1; channels padded to
// multiples of 4 (layouts in conv2d_forward.wgsl).
//
// Buffers:
//   dy      [V * H * W, COUT4] vec4f   read   dL/d(layer output)
//   y       [V * H * W, COUT4] vec4f   read   the forward's output (ReLU mask: dz = dy where y > 0; RELU = 0: dz = dy)
//   params  mat4x4f array              read   the layer's weights at mat4 index u.off (conv2d_forward.wgsl)
//   dx      [V * H * W, CIN4] vec4f    write  dL/dx[p, i4] = sum_{tap, g} W[tap, i4, g]^T dz[p - (ky - 1, kx - 1), g]
//                                             (overwritten, not accumulated)
// Uniform U: pixels V * H * W, height H, width W, off (mat4 index of the layer in params).
// Grid: linear (wid.x + wid.y * nwg.x); one invocation per (pixel, group of 4 input channels), index
// p * CIN4 + i4. Loops: 9 taps x COUT4 (<= 8) per invocation.

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  off: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<vec4f>;
@group(0) @binding(1) var<storage, read> y: array<vec4f>;
@group(0) @binding(2) var<storage, read> params: array<mat4x4f>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4f>;
@group(0) @binding(4) var<uniform> u: U;

override CIN4: u32 = 1u;
override COUT4: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= u.pixels * CIN4) { return; }
  let p = idx / CIN4;
  let i4 = idx % CIN4;
  let px = p % u.width;
  let py = (p / u.width) % u.height;
  let img = p - py * u.width - px;
  var acc = vec4f(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(py) - i32(ky) + 1;
    if (yy < 0 || yy >= i32(u.height)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(px) - i32(kx) + 1;
      if (xx < 0 || xx >= i32(u.width)) { continue; }
      let q = (img + u32(yy) * u.width + u32(xx)) * COUT4;
      let wt = u.off + ((ky * 3u + kx) * CIN4 + i4) * COUT4;
      for (var g = 0u; g < COUT4; g++) {
        var dz = dy[q + g];
        if (RELU == 1u) { dz = select(vec4f(0.0), dz, y[q + g] > vec4f(0.0)); }
        acc += dz * params[wt + g];
      }
    }
  }
  dx[p * CIN4 + i4] = acc;
}
