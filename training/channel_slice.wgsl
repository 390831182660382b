// Copies (or adds) a range of channels between channel-last images: concatenation of the rasterizer's RGB and
// extra channels into the refinement network's input, the residual add, and the split of its input gradient.
//
// Buffers (all f32, flat):
//   src  [P, u.srcC]  read         channel c of pixel p at p * srcC + c
//   dst  [P, u.dstC]  read_write   dst[p * dstC + dstOff + c] = (u.add ? dst[...] : 0) + src[p * srcC + srcOff + c]
//                                  for c < u.n; other channels untouched
// Uniform U: pixels P, srcC, srcOff, dstC, dstOff, n, add (0 or 1).
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per (pixel, channel < n).

struct U {
  pixels: u32,
  srcC: u32,
  srcOff: u32,
  dstC: u32,
  dstOff: u32,
  n: u32,
  add: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + li;
  if (k >= u.pixels * u.n) { return; }
  let p = k / u.n;
  let c = k % u.n;
  let d = p * u.dstC + u.dstOff + c;
  var v = src[p * u.srcC + u.srcOff + c];
  if (u.add == 1u) { v += dst[d]; }
  dst[d] = v;
}
