// Second stage of the convolution's weight gradient: sums the per-chunk partial rows into the gradient tensor.
//
// Buffers:
//   partials [chunks, M] vec4f  read   per-chunk sums (conv2d_backward_weights.wgsl; M counted in vec4f here)
//   grads    vec4f array        write  grads[u.off + j] = sum_c partials[c, j] for j < M (overwritten)
// Uniform U: m (row length M in vec4f), chunks, off (vec4f index of the layer in grads).
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per j; loops over the chunks (<= 1024).

struct U {
  m: u32,
  chunks: u32,
  off: u32,
}

@group(0) @binding(0) var<storage, read> partials: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> grads: array<vec4f>;
@group(0) @binding(2) var<uniform> u: U;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + li;
  if (j >= u.m) { return; }
  var s = vec4f(0.0);
  for (var c = 0u; c < u.chunks; c++) { s += partials[c * u.m + j]; }
  grads[u.off + j] = s;
}
