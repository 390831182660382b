// 3x3 convolution backward to the input (a transposed convolution), stride 1, zero padding 1.
//
// Buffers (all f32, flat):
//   dy      [V, H, W, COUT] read   dL/d(layer output)
//   y       [V, H, W, COUT] read   the forward's output act(z) (ReLU mask: dz = dy where y > 0; RELU = 0: dz = dy)
//   params  [...]           read   weights [COUT, 3, 3, CIN] at u.off (layout in conv2d_forward.wgsl)
//   dx      [V, H, W, CIN]  write  dL/dx[p, i] = sum_{ky, kx, o} w[o, ky, kx, i] dz[p - (ky - 1, kx - 1), o]
//                                  (overwritten, not accumulated)
// Uniform U: pixels V * H * W, height H, width W, off (element offset of the layer in params).
// Grid: linear (wid.x + wid.y * nwg.x); one invocation per (pixel, group of 4 input channels), index
// p * ceil(CIN / 4) + g. Loops: 9 taps x COUT (<= 32) per invocation.

struct U {
  pixels: u32,
  height: u32,
  width: u32,
  off: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> u: U;

override CIN: u32 = 1u;
override COUT: u32 = 1u;
override RELU: u32 = 1u;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let g4 = (CIN + 3u) / 4u;
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= u.pixels * g4) { return; }
  let p = idx / g4;
  let i0 = (idx % g4) * 4u;
  let px = p % u.width;
  let py = (p / u.width) % u.height;
  let img = p - py * u.width - px;
  // Input channels past CIN reuse the last one's weights; their results are not stored.
  let ic = min(vec4u(i0, i0 + 1u, i0 + 2u, i0 + 3u), vec4u(CIN - 1u));
  var acc = vec4f(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(py) - i32(ky) + 1;
    if (yy < 0 || yy >= i32(u.height)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(px) - i32(kx) + 1;
      if (xx < 0 || xx >= i32(u.width)) { continue; }
      let q = (img + u32(yy) * u.width + u32(xx)) * COUT;
      let tap = u.off + (ky * 3u + kx) * CIN;
      for (var o = 0u; o < COUT; o++) {
        var g = dy[q + o];
        if (RELU == 1u && y[q + o] <= 0.0) { g = 0.0; }
        let wt = tap + o * 9u * CIN + ic;
        acc += g * vec4f(params[wt.x], params[wt.y], params[wt.z], params[wt.w]);
      }
    }
  }
  for (var c = 0u; c < 4u; c++) {
    if (i0 + c < CIN) { dx[p * CIN + i0 + c] = acc[c]; }
  }
}
