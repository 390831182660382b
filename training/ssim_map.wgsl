// SSIM step 2: the SSIM value per pixel-channel and its partial derivatives with respect to the local means
// mu_x = G*x, E[x^2] = G*(x^2), E[xy] = G*(xy) (y, the target, is constant).
//
//   S = (2 mu_x mu_y + C1)(2 (E[xy] - mu_x mu_y) + C2) / ((mu_x^2 + mu_y^2 + C1)(E[x^2] - mu_x^2 + E[y^2] - mu_y^2 + C2))
//
// Buffers:
//   m     [V, 5, C, H, W] f32 read    blurred planes of ssim_prep (mu_x, mu_y, E[x^2], E[y^2], E[xy])
//   ssim  [V, C, H, W]    f32 write   S per pixel-channel (plane v * C + c)
//   dmap  [V, 3, C, H, W] f32 write   dS/dmu_x, dS/dE[x^2], dS/dE[xy] (plane (v * 3 + k) * C + c)
// Uniform U: views V, height H, width W, channels C, C1, C2.
// Grid: linear, one invocation per pixel-channel (V * C * H * W).

struct U { views: u32, height: u32, width: u32, channels: u32, c1: f32, c2: f32 }

@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read_write> ssim: array<f32>;
@group(0) @binding(2) var<storage, read_write> dmap: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  let hw = u.height * u.width;
  let cs = u.channels * hw;
  if (i >= u.views * cs) { return; }
  let v = i / cs;
  let r = i % cs; // c * hw + pix
  let b = v * 5u * cs + r;
  let mx = m[b];
  let my = m[b + cs];
  let exx = m[b + 2u * cs];
  let eyy = m[b + 3u * cs];
  let exy = m[b + 4u * cs];
  let n1 = 2.0 * mx * my + u.c1;
  let n2 = 2.0 * (exy - mx * my) + u.c2;
  let d1 = mx * mx + my * my + u.c1;
  let d2 = (exx - mx * mx) + (eyy - my * my) + u.c2;
  let num = n1 * n2;
  let den = d1 * d2;
  let s = num / den;
  ssim[i] = s;
  // Quotient rule on num/den for each mean, the other means held fixed.
  let dnum_dmx = 2.0 * my * n2 - 2.0 * my * n1;
  let dden_dmx = 2.0 * mx * d2 - 2.0 * mx * d1;
  let inv_den = 1.0 / den;
  let o = v * 3u * cs + r;
  dmap[o] = (dnum_dmx - s * dden_dmx) * inv_den;
  dmap[o + cs] = -s * d1 * inv_den;
  dmap[o + 2u * cs] = 2.0 * n1 * inv_den;
}
