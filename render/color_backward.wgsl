// Backward of the SH colour: one invocation per Gaussian n, looping over the views of the batch (so every
// gradient element has one writer and no atomics are needed). Adds into the caller's gradient tensors.
//
// Buffers:
//   means   [N, 3] f32            world-space centres
//   sh      [N, SH_K, 3] f32      SH coefficients
//   grad2d  [V * N, 12] f32       per-(view, Gaussian) gradients from blend_backward.wgsl (colour at 6..8)
//   dMeans  [N, 3] f32            += gradient through the view direction
//   dSh     [N, SH_K, 3] f32      += basis * dL/dcolour (zero where the colour was clamped at 0)
// Uniform: Frame, count = N. Grid: linear.

@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> sh: array<f32>;
@group(0) @binding(2) var<storage, read> grad2d: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_means: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_sh: array<f32>;
@group(0) @binding(5) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= fr.count) { return; }
  let mean = vec3f(means[3u * n], means[3u * n + 1u], means[3u * n + 2u]);
  var dm = vec3f(0.0);
  for (var v = 0u; v < fr.views; v++) {
    let gb = (v * fr.n + n) * GRAD2D_STRIDE;
    var dc = vec3f(grad2d[gb + 6u], grad2d[gb + 7u], grad2d[gb + 8u]);
    if (all(dc == vec3f(0.0))) { continue; }
    let c = fr.cams[v];
    let dvec = mean - c.pos.xyz;
    let len = length(dvec);
    let dir = dvec / len;
    var raw = vec3f(0.5);
    for (var k = 0u; k < SH_K; k++) {
      let b = (n * SH_K + k) * 3u;
      raw += sh_basis(k, dir) * vec3f(sh[b], sh[b + 1u], sh[b + 2u]);
    }
    dc = select(vec3f(0.0), dc, raw > vec3f(0.0));
    var ddir = vec3f(0.0);
    for (var k = 0u; k < SH_K; k++) {
      let b = (n * SH_K + k) * 3u;
      let bk = sh_basis(k, dir);
      d_sh[b] += bk * dc.x;
      d_sh[b + 1u] += bk * dc.y;
      d_sh[b + 2u] += bk * dc.z;
      ddir += sh_basis_grad(k, dir) * dot(vec3f(sh[b], sh[b + 1u], sh[b + 2u]), dc);
    }
    dm += (ddir - dir * dot(dir, ddir)) / len;
  }
  d_means[3u * n] += dm.x;
  d_means[3u * n + 1u] += dm.y;
  d_means[3u * n + 2u] += dm.z;
}
