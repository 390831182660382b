// Forward projection: one invocation per (view v, Gaussian n), linear index i = v * N + n.
//
// Buffers (f32 unless noted, row-major, tightly packed):
//   means     [N, 3]            world-space centres
//   quats     [N, 4]            rotation quaternions (w, x, y, z), normalized here
//   logScales [N, 3]            log of the per-axis standard deviations
//   opacity   [N]               opacity logits (sigmoid applied here)
//   sh        [N, SH_K, 3]      SH coefficients, index (n * SH_K + k) * 3 + c
//   proj      [V * N, 16]       output record, layout in gaussian_common.wgsl; radius 0 when culled
//   counts    [V * N] u32       output: number of tiles touched (0 when culled)
//   reasons   [V * N] u32       output: cull reason (0 visible, 1 non-finite, 2 behind near plane, 3 off-image)
// Uniform: Frame (gaussian_common.wgsl), count = V * N.
// Grid: linear (wid.x + wid.y * nwg.x) workgroups of WG invocations.

@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> quats: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> opacity: array<f32>;
@group(0) @binding(4) var<storage, read> sh: array<f32>;
@group(0) @binding(5) var<storage, read_write> proj: array<f32>;
@group(0) @binding(6) var<storage, read_write> counts: array<u32>;
@group(0) @binding(7) var<storage, read_write> reasons: array<u32>;
@group(0) @binding(8) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= fr.count) { return; }
  let v = i / fr.n;
  let n = i - v * fr.n;
  let c = fr.cams[v];
  let mean = vec3f(means[3u * n], means[3u * n + 1u], means[3u * n + 2u]);
  let q = vec4f(quats[4u * n], quats[4u * n + 1u], quats[4u * n + 2u], quats[4u * n + 3u]);
  let ls = vec3f(log_scales[3u * n], log_scales[3u * n + 1u], log_scales[3u * n + 2u]);
  var p = project_gaussian(c, mean, q, ls, fr.width, fr.height, fr.tiles_x, fr.tiles_y);
  let o = sigmoid(opacity[n]);
  var col = vec3f(0.0);
  if (p.ok) {
    let d = view_dir(c, mean);
    for (var k = 0u; k < SH_K; k++) {
      let b = sh_basis(k, d);
      let base = (n * SH_K + k) * 3u;
      col += b * vec3f(sh[base], sh[base + 1u], sh[base + 2u]);
    }
    // Checked before the clamp: max() may turn NaN into 0.
    if (!is_finite(opacity[n]) || !is_finite(col.x) || !is_finite(col.y) || !is_finite(col.z)) {
      p.ok = false;
      p.reason = 1u;
    }
    col = max(col + vec3f(0.5), vec3f(0.0));
  }
  let base = i * PROJ_STRIDE;
  for (var k = 0u; k < PROJ_STRIDE; k++) { proj[base + k] = 0.0; }
  if (p.ok) {
    proj[base] = p.mean2d.x;
    proj[base + 1u] = p.mean2d.y;
    proj[base + 2u] = p.conic.x;
    proj[base + 3u] = p.conic.y;
    proj[base + 4u] = p.conic.z;
    proj[base + 5u] = o;
    proj[base + 6u] = p.t.z;
    proj[base + 7u] = p.radius;
    proj[base + 8u] = col.x;
    proj[base + 9u] = col.y;
    proj[base + 10u] = col.z;
    let ext = alpha_extent(p.conic, o);
    proj[base + 11u] = bitcast<f32>(pack2x16float(ext));
    // Tiles binned: the 3-sigma rectangle cut to the tiles the alpha >= 1/255 box reaches (no pixel of the
    // other tiles could take the entry); may be empty for a visible entry (then it has no pairs).
    let rect = pair_rect(p.rect, p.mean2d, ext);
    proj[base + 12u] = rect.x;
    proj[base + 13u] = rect.y;
    proj[base + 14u] = rect.z;
    proj[base + 15u] = rect.w;
    counts[i] = u32(rect.z - rect.x) * u32(rect.w - rect.y);
  } else {
    counts[i] = 0u;
  }
  reasons[i] = p.reason;
}
