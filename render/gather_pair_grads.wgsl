// Sums the per-pair gradient rows of the blend backward into per-(view, Gaussian) gradients: one invocation per
// Gaussian n, looping over the views of the batch (one writer per output element, no atomics). The pairs of a
// visible entry i = v * N + n are the consecutive rows rowBase[i] .. rowBase[i] + (x1 - x0) (y1 - y0) (its tile
// rectangle, emit_pairs.wgsl).
//
// Buffers:
//   rowBase  [V * N] u32            first row of each entry
//   proj     [V * N, 16] f32        projected records (radius at 7 > 0 when visible, tile rectangle at 12..15)
//   rows     [P, SLOTS] vec4f       per-pair gradients (blend_backward.wgsl), SLOTS = 3 + NC4
//   grad2d   [V * N, 12] f32        output (every element written): dmean2d (2), dconic (3), dopacity (1),
//                                   dcolour (3), sum of |per-pixel dmean2d| (2), 0
//   dExtras  [N, NC] f32            += dL/d(extra channels), summed over views (dummy when NC = 0)
// Uniform: Frame, count = N. Grid: linear.

@group(0) @binding(0) var<storage, read> row_base: array<u32>;
@group(0) @binding(1) var<storage, read> proj: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> grad2d: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_extras: array<f32>;
@group(0) @binding(5) var<uniform> fr: Frame;

override WG: u32 = 128u;
override SLOTS: u32 = 3u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n = (wid.x + wid.y * nwg.x) * WG + li;
  if (n >= fr.count) { return; }
  var de = array<vec4f, MAX_EXTRA4>();
  for (var v = 0u; v < fr.views; v++) {
    let i = v * fr.n + n;
    let pb = i * PROJ_STRIDE;
    var count = 0u;
    if (proj[pb + 7u] > 0.0) {
      count = (u32(proj[pb + 14u]) - u32(proj[pb + 12u])) * (u32(proj[pb + 15u]) - u32(proj[pb + 13u]));
    }
    var a = vec4f(0.0);   // dmean2d x, y, dconic a, b
    var b = vec4f(0.0);   // dconic c, dopacity, dcolour r, g
    var c = vec4f(0.0);   // dcolour b, |dmean2d| sums x, y, 0
    let r0 = select(0u, row_base[i], count > 0u);
    for (var r = r0; r < r0 + count; r++) {
      let rb = r * SLOTS;
      a += rows[rb];
      b += rows[rb + 1u];
      c += rows[rb + 2u];
      for (var c4 = 0u; c4 < NC4; c4++) { de[c4] += rows[rb + 3u + c4]; }
    }
    let gb = i * GRAD2D_STRIDE;
    grad2d[gb] = a.x;
    grad2d[gb + 1u] = a.y;
    grad2d[gb + 2u] = a.z;
    grad2d[gb + 3u] = a.w;
    grad2d[gb + 4u] = b.x;
    grad2d[gb + 5u] = b.y;
    grad2d[gb + 6u] = b.z;
    grad2d[gb + 7u] = b.w;
    grad2d[gb + 8u] = c.x;
    grad2d[gb + 9u] = c.y;
    grad2d[gb + 10u] = c.z;
    grad2d[gb + 11u] = 0.0;
  }
  for (var k = 0u; k < NC; k++) { d_extras[n * NC + k] += de[k / 4u][k % 4u]; }
}
