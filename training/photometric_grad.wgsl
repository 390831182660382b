// Photometric loss gradient: L = w_l1 * mean|x - y| + w_ssim * (1 - mean SSIM(x, y)), mean over V*H*W*C.
// dL/dx = w_l1 * sign(x - y) / N - w_ssim / N * (G*dS/dmu_x + 2 x G*dS/dE[x^2] + y G*dS/dE[xy]).
// Also writes |x - y| per element so the loss value can be reduced.
//
// Buffers:
//   pred   [V, H, W, C] f32 read    x, channel-last
//   target [V, H, W, C] f32 read    y
//   bd     [V, 3, C, H, W] f32 read the three dS maps of ssim_map after the (self-adjoint) Gaussian blur
//   grad   [V, H, W, C] f32 write   dL/dx (overwritten)
//   absd   [V, H, W, C] f32 write   |x - y|
// Uniform U: views V, height H, width W, channels C, w_l1 / N, w_ssim / N.
// Grid: linear, one invocation per element (V * H * W * C).

struct U { views: u32, height: u32, width: u32, channels: u32, l1_scale: f32, ssim_scale: f32 }

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> target_img: array<f32>;
@group(0) @binding(2) var<storage, read> bd: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> absd: array<f32>;
@group(0) @binding(5) var<uniform> u: U;

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
  let cs = u.channels * hw;
  let b = v * 3u * cs + c * hw + pix;
  let x = pred[i];
  let y = target_img[i];
  let dssim = bd[b] + 2.0 * x * bd[b + cs] + y * bd[b + 2u * cs];
  let d = x - y;
  grad[i] = u.l1_scale * sign(d) - u.ssim_scale * dssim;
  absd[i] = abs(d);
}
