// Separable 1-D convolution along x or y of a stack of planar images, with zero padding outside the image.
//
// Buffers:
//   src    [P, H, W] f32 read    P planes, row-major (index (p * H + y) * W + x)
//   dst    [P, H, W] f32 write   same layout
//   taps   [2R+1]    f32 read    kernel weights, taps[R] is the centre; dst(x) = sum_k taps[k] * src(x + k - R)
// Uniform U: planes P, height H, width W, radius R, axis (0 = along x, 1 = along y).
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per output element (P * H * W).

struct U {
  planes: u32,
  height: u32,
  width: u32,
  radius: u32,
  axis: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> taps: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  let plane_size = u.height * u.width;
  if (i >= u.planes * plane_size) { return; }
  let x = i % u.width;
  let y = (i / u.width) % u.height;
  let r = i32(u.radius);
  var acc = 0.0;
  if (u.axis == 0u) {
    let row = i - x;
    for (var k = -r; k <= r; k++) {
      let xx = i32(x) + k;
      if (xx >= 0 && xx < i32(u.width)) { acc += taps[u32(k + r)] * src[row + u32(xx)]; }
    }
  } else {
    let col = i - y * u.width;
    for (var k = -r; k <= r; k++) {
      let yy = i32(y) + k;
      if (yy >= 0 && yy < i32(u.height)) { acc += taps[u32(k + r)] * src[col + u32(yy) * u.width]; }
    }
  }
  dst[i] = acc;
}
