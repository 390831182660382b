// Backward of the opacity sigmoid and the density-control statistics: one invocation per Gaussian n, looping
// over the views of the batch.
//
// Buffers:
//   opacity  [N] f32           opacity logits
//   grad2d   [V * N, 12] f32   per-(view, Gaussian) gradients (dmean2d 0..1, dopacity 5, |dmean2d| sums 9..10)
//   proj     [V * N, 16] f32   projected records (radius at 7 is > 0 for a visible entry)
//   dOpacity [N] f32           += dL/dlogit = dL/dopacity * s (1 - s)
//   densify  [N, 4] f32        += |dmean2d|, |sum of |per-pixel dmean2d||, views visible, 0; the 2D gradients
//                              are taken with respect to NDC (pixel gradient * (W/2, H/2)) as in 3DGS, so its
//                              densification threshold (2e-4) applies unchanged
// Uniform: Frame, count = N. Grid: linear.

@group(0) @binding(0) var<storage, read> opacity: array<f32>;
@group(0) @binding(1) var<storage, read> grad2d: array<f32>;
@group(0) @binding(2) var<storage, read> proj: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_opacity: array<f32>;
@group(0) @binding(4) var<storage, read_write> densify: array<f32>;
@group(0) @binding(5) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= fr.count) { return; }
  let s = sigmoid(opacity[n]);
  let ndc = 0.5 * vec2f(f32(fr.width), f32(fr.height));
  var d_o = 0.0;
  var acc = vec3f(0.0);
  for (var v = 0u; v < fr.views; v++) {
    let i = v * fr.n + n;
    let gb = i * GRAD2D_STRIDE;
    if (!(proj[i * PROJ_STRIDE + 7u] > 0.0)) { continue; }
    d_o += grad2d[gb + 5u];
    let g = vec2f(grad2d[gb], grad2d[gb + 1u]) * ndc;
    let ga = vec2f(grad2d[gb + 9u], grad2d[gb + 10u]) * ndc;
    acc += vec3f(length(g), length(ga), 1.0);
  }
  if (acc.z == 0.0) { return; }
  d_opacity[n] += d_o * s * (1.0 - s);
  densify[4u * n] += acc.x;
  densify[4u * n + 1u] += acc.y;
  densify[4u * n + 2u] += acc.z;
}
