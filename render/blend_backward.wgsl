// Backward of the alpha blending, per-splat with a wavefront over pixel groups. One workgroup of 256 invocations
// per (tile, view); grid [tilesX, tilesY, V].
//
// The tile's list is walked back to front in batches of up to 256 entries; invocation t owns the entry at list
// position hi - 1 - t (t = 0 is the back-most of the batch) and keeps its partial gradients in registers. The
// 256 pixels form 32 groups of 8; at wavefront step s, invocation t processes pixel group s - t, so a pixel group
// sees the entries in back-to-front order while 32 groups are in flight at once. The per-pixel running state
// (transmittance T and the upstream-weighted colour behind, R) lives in workgroup memory and is handed from
// entry to entry through it; one barrier per step. At the end of a batch each entry adds its gradients once into
// the per-(view, Gaussian) buffer with a compare-and-swap loop on atomic<u32> (no float atomics needed).
//
// Per pixel and contributing entry j (alpha_j, colour c_j incl. extra channels, upstream g = dL/d(colour)):
//   T_j = T_{j+1} / (1 - alpha_j),  dL/dc_j += alpha_j T_j g,
//   dL/dalpha_j = T_j (g . c_j) - R / (1 - alpha_j),  R += (g . c_j) alpha_j T_j.
//
// Buffers:
//   proj       [V * N, 16] f32         projected records (gaussian_common.wgsl)
//   pairVals   [P] u32                 entry index i = v * N + n per tile-sorted pair
//   ranges     [V * tiles, 2] u32      [first, end) of each tile's pairs
//   state      [V, H, W, 8] f32        from blend_backward_prep.wgsl
//   dExtraImg  [V, H, W, NC] f32       upstream dL/d(extra channels) (dummy when NC = 0)
//   extras     [N, NC] f32             extra channels (dummy when NC = 0)
//   grad2d     [V * N, 12] f32 bits    += dmean2d (2), dconic (3), dopacity (1), dcolour (3),
//                                      sum of |per-pixel dmean2d| (2), unused (1)
//   dExtras    [N, NC] f32 bits        += dL/d(extra channels) (the caller's gradient tensor)
// Uniform: Frame.

@group(0) @binding(0) var<storage, read> proj: array<f32>;
@group(0) @binding(1) var<storage, read> pair_vals: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<f32>;
@group(0) @binding(4) var<storage, read> d_extra_img: array<f32>;
@group(0) @binding(5) var<storage, read> extras: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad2d: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> d_extras: array<atomic<u32>>;
@group(0) @binding(8) var<uniform> fr: Frame;

const BATCH: u32 = 256u;
const GROUP: u32 = 8u;
const NGROUPS: u32 = 32u;

var<workgroup> s_T: array<f32, 256>;
var<workgroup> s_R: array<f32, 256>;
var<workgroup> s_last: array<u32, 256>;
var<workgroup> s_g: array<vec4f, 256>;
var<workgroup> s_max: atomic<u32>;
var<workgroup> s_max_u: u32;

fn add_grad2d(k: u32, x: f32) {
  if (x == 0.0) { return; }
  var old = atomicLoad(&grad2d[k]);
  loop {
    let r = atomicCompareExchangeWeak(&grad2d[k], old, bitcast<u32>(bitcast<f32>(old) + x));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

fn add_d_extras(k: u32, x: f32) {
  if (x == 0.0) { return; }
  var old = atomicLoad(&d_extras[k]);
  loop {
    let r = atomicCompareExchangeWeak(&d_extras[k], old, bitcast<u32>(bitcast<f32>(old) + x));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  let px = wid.x * TILE + li % TILE;
  let py = wid.y * TILE + li / TILE;
  if (px < fr.width && py < fr.height) {
    let b = 8u * ((v * fr.height + py) * fr.width + px);
    s_g[li] = vec4f(state[b], state[b + 1u], state[b + 2u], 0.0);
    s_R[li] = state[b + 3u];
    s_T[li] = state[b + 4u];
    s_last[li] = u32(state[b + 5u]);
  } else {
    s_g[li] = vec4f(0.0);
    s_R[li] = 0.0;
    s_T[li] = 1.0;
    s_last[li] = 0u;
  }
  atomicMax(&s_max, s_last[li]);
  workgroupBarrier();
  if (li == 0u) { s_max_u = atomicLoad(&s_max); }
  var hi = workgroupUniformLoad(&s_max_u);
  while (hi > 0u) {
    let lo = select(0u, hi - BATCH, hi > BATCH);
    let nb = hi - lo;
    let owns = li < nb;
    let q = hi - 1u - li;
    var i = 0u;
    var n = 0u;
    var xy = vec2f(0.0);
    var conic = vec3f(0.0);
    var o = 0.0;
    var col = vec3f(0.0);
    var ce: array<f32, MAX_EXTRA>;
    var de: array<f32, MAX_EXTRA>;
    if (owns) {
      i = pair_vals[start + q];
      n = i - (i / fr.n) * fr.n;
      let base = i * PROJ_STRIDE;
      xy = vec2f(proj[base], proj[base + 1u]);
      conic = vec3f(proj[base + 2u], proj[base + 3u], proj[base + 4u]);
      o = proj[base + 5u];
      col = vec3f(proj[base + 8u], proj[base + 9u], proj[base + 10u]);
      for (var c = 0u; c < NC; c++) {
        ce[c] = extras[n * NC + c];
        de[c] = 0.0;
      }
    }
    var d_mean = vec2f(0.0);
    var d_abs = vec2f(0.0);
    var d_conic = vec3f(0.0);
    var d_o = 0.0;
    var d_col = vec3f(0.0);
    let steps = nb + NGROUPS - 1u;
    for (var s = 0u; s < steps; s++) {
      if (owns && s >= li && s - li < NGROUPS) {
        let g0 = (s - li) * GROUP;
        for (var k = 0u; k < GROUP; k++) {
          let pl = g0 + k;
          if (q >= s_last[pl]) { continue; }
          let pxl = wid.x * TILE + pl % TILE;
          let pyl = wid.y * TILE + pl / TILE;
          let d = xy - vec2f(f32(pxl), f32(pyl));
          let power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
          if (power > 0.0) { continue; }
          let G = exp(power);
          let a0 = o * G;
          let alpha = min(ALPHA_MAX, a0);
          if (alpha < ALPHA_MIN) { continue; }
          let Tj = s_T[pl] / (1.0 - alpha);
          let w = alpha * Tj;
          let gp = s_g[pl].xyz;
          var gc = dot(gp, col);
          d_col += w * gp;
          if (NC > 0u) {
            let pp = ((v * fr.height + pyl) * fr.width + pxl) * NC;
            for (var c = 0u; c < NC; c++) {
              let ge = d_extra_img[pp + c];
              gc += ge * ce[c];
              de[c] += w * ge;
            }
          }
          let d_alpha = Tj * gc - s_R[pl] / (1.0 - alpha);
          s_R[pl] += gc * w;
          s_T[pl] = Tj;
          if (a0 < ALPHA_MAX) {
            d_o += G * d_alpha;
            let dp = alpha * d_alpha;
            d_conic += dp * vec3f(-0.5 * d.x * d.x, -d.x * d.y, -0.5 * d.y * d.y);
            let gm = -dp * vec2f(conic.x * d.x + conic.y * d.y, conic.y * d.x + conic.z * d.y);
            d_mean += gm;
            d_abs += abs(gm);
          }
        }
      }
      workgroupBarrier();
    }
    if (owns) {
      let gb = i * GRAD2D_STRIDE;
      add_grad2d(gb, d_mean.x);
      add_grad2d(gb + 1u, d_mean.y);
      add_grad2d(gb + 2u, d_conic.x);
      add_grad2d(gb + 3u, d_conic.y);
      add_grad2d(gb + 4u, d_conic.z);
      add_grad2d(gb + 5u, d_o);
      add_grad2d(gb + 6u, d_col.x);
      add_grad2d(gb + 7u, d_col.y);
      add_grad2d(gb + 8u, d_col.z);
      add_grad2d(gb + 9u, d_abs.x);
      add_grad2d(gb + 10u, d_abs.y);
      for (var c = 0u; c < NC; c++) { add_d_extras(n * NC + c, de[c]); }
    }
    hi = lo;
  }
}
