// SSIM step 1: the five per-pixel quantities whose local (Gaussian-window) means SSIM needs.
//
// Buffers:
//   pred   [V, H, W, C] f32 read    rendered images, channel-last (index ((v * H + y) * W + x) * C + c)
//   target [V, H, W, C] f32 read    ground truth, same layout
//   q      [V, 5, C, H, W] f32 write planes x, y, x*x, y*y, x*y (plane (v * 5 + k) * C + c, row-major H x W)
// Uniform U: views V, height H, width W, channels C.
// Grid: linear, one invocation per pixel-channel (V * H * W * C).

struct U { views: u32, height: u32, width: u32, channels: u32 }

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> target_img: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  let hw = u.height * u.width;
  if (i >= u.views * hw * u.channels) { return; }
  let c = i % u.channels;
  let pix = (i / u.channels) % hw;
  let v = i / (u.channels * hw);
  let x = pred[i];
  let y = target_img[i];
  let base = (v * 5u * u.channels + c) * hw + pix;
  let stride = u.channels * hw;
  q[base] = x;
  q[base + stride] = y;
  q[base + 2u * stride] = x * x;
  q[base + 3u * stride] = y * y;
  q[base + 4u * stride] = x * y;
}
