// Backward of the alpha blending, per-splat with a wavefront over pixel groups. One workgroup of NT = 256 / SPT
// invocations per (tile, view); grid [tilesX, tilesY, V].
//
// The tile's list is walked back to front in batches of up to 256 entries. Invocation t owns the SPT consecutive
// entries at list positions hi - 1 - (t * SPT + r), r = 0..SPT-1 (back-most first), and keeps their partial
// gradients in registers. The 256 pixels form NT groups of SPT pixels; at wavefront step s, invocation t
// processes pixel group s - t for all of its entries, so every pixel sees the entries strictly back to front
// while up to NT groups are in flight. The per-pixel running state (transmittance T and the upstream-weighted
// colour behind, R) lives in workgroup memory and is handed on through it: one barrier per step, 256 / SPT +
// NT - 1 steps per full batch. At the end of a batch each entry adds its gradients once into the
// per-(view, Gaussian) buffer with a compare-and-swap loop on atomic<u32> (no float atomics needed).
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
const MAX_SPT: u32 = 8u;
override SPT: u32 = 4u;          // entries per invocation (1, 2, 4 or 8)
override NT: u32 = 64u;          // invocations = BATCH / SPT = pixel groups

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

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  for (var pl = li; pl < 256u; pl += NT) {
    let px = wid.x * TILE + pl % TILE;
    let py = wid.y * TILE + pl / TILE;
    if (px < fr.width && py < fr.height) {
      let b = 8u * ((v * fr.height + py) * fr.width + px);
      s_g[pl] = vec4f(state[b], state[b + 1u], state[b + 2u], 0.0);
      s_R[pl] = state[b + 3u];
      s_T[pl] = state[b + 4u];
      s_last[pl] = u32(state[b + 5u]);
    } else {
      s_g[pl] = vec4f(0.0);
      s_R[pl] = 0.0;
      s_T[pl] = 1.0;
      s_last[pl] = 0u;
    }
    atomicMax(&s_max, s_last[pl]);
  }
  workgroupBarrier();
  if (li == 0u) { s_max_u = atomicLoad(&s_max); }
  var hi = workgroupUniformLoad(&s_max_u);
  while (hi > 0u) {
    let lo = select(0u, hi - BATCH, hi > BATCH);
    let nb = hi - lo;
    let first = li * SPT;
    var mine = 0u;
    if (first < nb) { mine = min(SPT, nb - first); }
    // Loop-local arrays carry explicit zero initializers: some compilers hoist a plain `var x: T;` out of the
    // loop and zero it only once, which would leak one batch's gradients into the next.
    var xy = array<vec2f, MAX_SPT>();
    var cov = array<vec4f, MAX_SPT>();   // conic a, b, c, opacity
    var col = array<vec3f, MAX_SPT>();
    var ids = array<u32, MAX_SPT>();
    var d_mean = array<vec2f, MAX_SPT>();
    var d_abs = array<vec2f, MAX_SPT>();
    var d_cov = array<vec4f, MAX_SPT>(); // conic a, b, c, opacity
    var d_col = array<vec3f, MAX_SPT>();
    var ce = array<vec4f, MAX_SPT * MAX_EXTRA4>();   // extra channels in zero-padded groups of 4
    var de = array<vec4f, MAX_SPT * MAX_EXTRA4>();
    for (var r = 0u; r < mine; r++) {
      let i = pair_vals[start + hi - 1u - first - r];
      ids[r] = i;
      let n = i - (i / fr.n) * fr.n;
      let base = i * PROJ_STRIDE;
      xy[r] = vec2f(proj[base], proj[base + 1u]);
      cov[r] = vec4f(proj[base + 2u], proj[base + 3u], proj[base + 4u], proj[base + 5u]);
      col[r] = vec3f(proj[base + 8u], proj[base + 9u], proj[base + 10u]);
      for (var c4 = 0u; c4 < NC4; c4++) {
        var e = vec4f(0.0);
        for (var q = 0u; q < 4u; q++) {
          if (4u * c4 + q < NC) { e[q] = extras[n * NC + 4u * c4 + q]; }
        }
        ce[r * MAX_EXTRA4 + c4] = e;
      }
    }
    let workers = (nb + SPT - 1u) / SPT;
    let steps = workers + NT - 1u;
    for (var s = 0u; s < steps; s++) {
      if (mine > 0u && s >= li && s - li < NT) {
        for (var k = 0u; k < SPT; k++) {
          let pl = (s - li) * SPT + k;
          let last = s_last[pl];
          if (hi - first - mine >= last) { continue; } // all of this thread's entries are behind the last
          let pxl = wid.x * TILE + pl % TILE;
          let pyl = wid.y * TILE + pl / TILE;
          let pix = vec2f(f32(pxl), f32(pyl));
          var T = s_T[pl];
          var R = s_R[pl];
          let gp = s_g[pl].xyz;
          let pp = ((v * fr.height + pyl) * fr.width + pxl) * NC;
          var ge = array<vec4f, MAX_EXTRA4>();
          for (var c4 = 0u; c4 < NC4; c4++) {
            var e = vec4f(0.0);
            for (var q = 0u; q < 4u; q++) {
              if (4u * c4 + q < NC) { e[q] = d_extra_img[pp + 4u * c4 + q]; }
            }
            ge[c4] = e;
          }
          // Constant trip count (MAX_SPT = SPT, substituted by the host) so the per-entry arrays stay in registers.
          for (var r = 0u; r < MAX_SPT; r++) {
            if (r >= mine || hi - 1u - first - r >= last) { continue; }
            let d = xy[r] - pix;
            let cv = cov[r];
            let power = -0.5 * (cv.x * d.x * d.x + cv.z * d.y * d.y) - cv.y * d.x * d.y;
            if (power > 0.0) { continue; }
            let G = exp(power);
            let a0 = cv.w * G;
            let alpha = min(ALPHA_MAX, a0);
            if (alpha < ALPHA_MIN) { continue; }
            let Tj = T / (1.0 - alpha);
            let w = alpha * Tj;
            var gc = dot(gp, col[r]);
            d_col[r] += w * gp;
            for (var c4 = 0u; c4 < NC4; c4++) {
              gc += dot(ge[c4], ce[r * MAX_EXTRA4 + c4]);
              de[r * MAX_EXTRA4 + c4] += w * ge[c4];
            }
            let d_alpha = Tj * gc - R / (1.0 - alpha);
            R += gc * w;
            T = Tj;
            if (a0 < ALPHA_MAX) {
              let dp = alpha * d_alpha;
              d_cov[r] += vec4f(dp * vec3f(-0.5 * d.x * d.x, -d.x * d.y, -0.5 * d.y * d.y), G * d_alpha);
              let gm = -dp * vec2f(cv.x * d.x + cv.y * d.y, cv.y * d.x + cv.z * d.y);
              d_mean[r] += gm;
              d_abs[r] += abs(gm);
            }
          }
          s_T[pl] = T;
          s_R[pl] = R;
        }
      }
      workgroupBarrier();
    }
    for (var r = 0u; r < mine; r++) {
      let i = ids[r];
      let gb = i * GRAD2D_STRIDE;
      add_grad2d(gb, d_mean[r].x);
      add_grad2d(gb + 1u, d_mean[r].y);
      add_grad2d(gb + 2u, d_cov[r].x);
      add_grad2d(gb + 3u, d_cov[r].y);
      add_grad2d(gb + 4u, d_cov[r].z);
      add_grad2d(gb + 5u, d_cov[r].w);
      add_grad2d(gb + 6u, d_col[r].x);
      add_grad2d(gb + 7u, d_col[r].y);
      add_grad2d(gb + 8u, d_col[r].z);
      add_grad2d(gb + 9u, d_abs[r].x);
      add_grad2d(gb + 10u, d_abs[r].y);
      let n = i - (i / fr.n) * fr.n;
      for (var c = 0u; c < NC; c++) { add_d_extras(n * NC + c, de[r * MAX_EXTRA4 + c / 4u][c % 4u]); }
    }
    hi = lo;
  }
}
