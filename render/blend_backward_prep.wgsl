// Per-pixel state for the blend backward pass. One invocation per pixel p of [V, H, W].
//
// Buffers:
//   aux      [V, H, W, 4] f32   forward aux (alpha, depth sum, final T, entries walked)
//   dRgb     [V, H, W, 3] f32   upstream dL/dRGB
//   dAlpha   [V, H, W] f32      upstream dL/dalpha (all zero when the caller has none)
//   state    [V, H, W, 8] f32   output: dL/dR, dL/dG, dL/dB, R0, T_final, last, 0, 0 where
//                               R0 = T_final * (dRGB . background) - dAlpha * T_final seeds the running sum of
//                               "upstream-weighted colour behind" (alpha = 1 - T_final contributes the second term).
// Uniform: Frame, count = V * H * W. Grid: linear.

@group(0) @binding(0) var<storage, read> aux: array<f32>;
@group(0) @binding(1) var<storage, read> d_rgb: array<f32>;
@group(0) @binding(2) var<storage, read> d_alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
@group(0) @binding(4) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let p = (wid.x + wid.y * nwg.x) * WG + li;
  if (p >= fr.count) { return; }
  let g = vec3f(d_rgb[3u * p], d_rgb[3u * p + 1u], d_rgb[3u * p + 2u]);
  let T = aux[4u * p + 2u];
  let b = 8u * p;
  state[b] = g.x;
  state[b + 1u] = g.y;
  state[b + 2u] = g.z;
  state[b + 3u] = T * dot(g, fr.bg.xyz) - d_alpha[p] * T;
  state[b + 4u] = T;
  state[b + 5u] = aux[4u * p + 3u];
  state[b + 6u] = 0.0;
  state[b + 7u] = 0.0;
}
