// Backward of the alpha blending: per-pixel reverse traversal with per-entry reductions in workgroup memory.
// One workgroup of NT = 64 / BLOCKS invocations per (tile, view); grid [tilesX, tilesY, V].
//
// Pixels: the 16x16 tile is 8 blocks of 8x4 pixels (block g at tile offset ((g % 2) * 8, (g / 2) * 4)).
// Invocation li owns, in each of its BLOCKS blocks g = li / 8 + r * NT / 8 (r < BLOCKS), the column of 4 pixels
// x = li % 8, and keeps their backward state (T, R, upstream gradients, last contributor) in vec4 registers, one
// lane per row. The per-block code between the //@EACH_BLOCK and //@END marker lines is repeated by the host for
// r = 0..BLOCKS-1 (the token BLK becomes r), so every block lives in its own variables (no indexed private
// arrays, which software adapters keep in memory).
//
// The tile's list is walked back to front from the largest last-contributor index in batches of up to KB
// entries staged in workgroup memory (mean, conic, opacity, colour, extra channels and the 8-bit mask of the
// blocks each entry's alpha >= 1/255 ellipse can reach, as in blend.wgsl). For each entry (back to front), every
// invocation updates its pixels exactly like the 3DGS backward pass (per pixel and contributing entry j with
// alpha_j, colour c_j incl. extra channels, upstream g = dL/d(colour)):
//   T_j = T_{j+1} / (1 - alpha_j),  dL/dc_j += alpha_j T_j g,
//   dL/dalpha_j = T_j (g . c_j) - R / (1 - alpha_j),  R += (g . c_j) alpha_j T_j
// (R starts at T_final (g . background) - dL/dalpha_pixel T_final; entries at or behind a pixel's last
// contributor and entries with alpha < 1/255 are skipped, as in the forward), sums the entry's gradients over its
// pixels and writes that partial sum (SLOTS vec4f) to workgroup memory. After the batch one invocation per entry
// reduces its NT partials and writes the entry's gradient for this tile as one row of the per-pair buffer, at the
// pair's emit position (plain stores: no atomics; gather_pair_grads.wgsl later sums the rows of each entry, which
// are consecutive). Two barriers per batch.
//
// Buffers:
//   proj       [V * N, 4] vec4f        projected records (gaussian_common.wgsl), read as 4 vec4f per entry
//   pairVals   [P] u32                 entry index i = v * N + n per tile-sorted pair
//   rowBase    [V * N] u32             first emit position of each entry (emit_pairs.wgsl); the pair of entry i
//                                      in tile (tx, ty) is row rowBase[i] + (ty - y0) * (x1 - x0) + (tx - x0)
//   ranges     [V * tiles, 2] u32      [first, end) of each tile's pairs
//   state      [V, H, W, 8] f32        from blend_backward_prep.wgsl
//   dExtraImg  [V, H, W, NC] f32       upstream dL/d(extra channels) (dummy when NC = 0)
//   extras     [N, NC] f32             extra channels (dummy when NC = 0)
//   rows       [P, SLOTS] vec4f        output, per pair (entry in one tile) at its emit position:
//                                      (dmean2d x, y, dconic a, b), (dconic c, dopacity, dcolour r, g),
//                                      (dcolour b, |per-pixel dmean2d| sums x, y, 0), NC4 vec4f of
//                                      dL/d(extra channels) (zero padded); rows of pairs behind every pixel's
//                                      last contributor are not written (left zero)
// Workgroup memory: KB * (3 + NC4) vec4f staging + PART = KB * NT * SLOTS vec4f partial sums, where the partial
// slots of an entry are (dmean x, y, |dmean| x, y), (dconic a, b, c, dopacity), (dcolour rgb, 0) and NC4 groups of
// 4 extra-channel gradients.
// Uniform: Frame.

@group(0) @binding(0) var<storage, read> proj: array<vec4f>;
@group(0) @binding(1) var<storage, read> pair_vals: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> row_base: array<u32>;
@group(0) @binding(4) var<storage, read> state: array<f32>;
@group(0) @binding(5) var<storage, read> d_extra_img: array<f32>;
@group(0) @binding(6) var<storage, read> extras: array<f32>;
@group(0) @binding(7) var<storage, read_write> rows: array<vec4f>;
@group(0) @binding(8) var<uniform> fr: Frame;

override NT: u32 = 8u;           // invocations = 64 / BLOCKS
override KB: u32 = 64u;          // entries per batch (chosen on the host to fit the workgroup memory)
override SLOTS: u32 = 3u;        // partial-sum vec4f slots per entry: 3 + NC4
override EXT_STAGE: u32 = 1u;    // max(1, KB * NC4)
override PART: u32 = 192u;       // KB * NT * SLOTS
var<workgroup> s_a: array<vec4f, KB>;     // mean x, y, conic a, b
var<workgroup> s_b: array<vec4f, KB>;     // conic c, opacity, 0, block mask (bits)
var<workgroup> s_col: array<vec4f, KB>;   // rgb, 0
var<workgroup> s_ext: array<vec4f, EXT_STAGE>;
var<workgroup> s_part: array<vec4f, PART>;  // [KB, NT, SLOTS]
var<workgroup> s_max: atomic<u32>;
var<workgroup> s_max_u: u32;

// Backward state of one invocation's 4 pixels (a column) in one block; vec4 lanes are the rows.
struct Blk {
  T: vec4f,
  R: vec4f,
  gr: vec4f,
  gg: vec4f,
  gb: vec4f,
  last: vec4u,
  py: vec4f,
  px: f32,
  bit: u32,
  ge: array<vec4f, MAX_EXTRA>,   // upstream extra-channel gradients, one vec4 (rows) per channel
}

// One invocation's partial gradient sums for one entry.
struct Acc {
  m: vec4f,    // dmean x, y, |dmean| x, y
  c: vec4f,    // dconic a, b, c, dopacity
  col: vec4f,  // dcolour rgb, 0
  e: array<vec4f, MAX_EXTRA4>,
}

// Loads the backward state of block `blk`'s column of 4 pixels owned by invocation li; returns their largest
// last-contributor count (pixels outside the image get T = 1, zero gradients and last = 0).
fn init_block(b: ptr<function, Blk>, blk: u32, li: u32, wid: vec3u) -> u32 {
  let px = wid.x * TILE + (blk % 2u) * 8u + li % 8u;
  let py0 = wid.y * TILE + (blk / 2u) * 4u;
  (*b).px = f32(px);
  (*b).py = vec4f(f32(py0), f32(py0 + 1u), f32(py0 + 2u), f32(py0 + 3u));
  (*b).bit = blk;
  var mx = 0u;
  for (var q = 0u; q < 4u; q++) {
    let py = py0 + q;
    if (px < fr.width && py < fr.height) {
      let p = (wid.z * fr.height + py) * fr.width + px;
      let s = 8u * p;
      (*b).gr[q] = state[s];
      (*b).gg[q] = state[s + 1u];
      (*b).gb[q] = state[s + 2u];
      (*b).R[q] = state[s + 3u];
      (*b).T[q] = state[s + 4u];
      (*b).last[q] = u32(state[s + 5u]);
      for (var c = 0u; c < NC; c++) { (*b).ge[c][q] = d_extra_img[p * NC + c]; }
    } else {
      (*b).T[q] = 1.0;
    }
    mx = max(mx, (*b).last[q]);
  }
  return mx;
}

// One entry at list position pos over the 4 pixels of a block; adds this block's share of the entry's
// gradients to `acc`.
fn block_backward(b: ptr<function, Blk>, acc: ptr<function, Acc>, a: vec4f, bb: vec4f, col: vec3f, k: u32,
                  pos: u32) {
  if (((bitcast<u32>(bb.w) >> (*b).bit) & 1u) == 0u) { return; }
  let dx = a.x - (*b).px;
  let dy = vec4f(a.y) - (*b).py;
  let power = -0.5 * (a.z * dx * dx + bb.x * dy * dy) - a.w * dx * dy;
  let G = exp(power);
  let a0 = bb.y * G;
  let alpha = min(vec4f(ALPHA_MAX), a0);
  let ok = (vec4u(pos) < (*b).last) & (power <= vec4f(0.0)) & (alpha >= vec4f(ALPHA_MIN));
  if (!any(ok)) { return; }
  let om = 1.0 - alpha;
  let Tj = (*b).T / om;
  let w = select(vec4f(0.0), alpha * Tj, ok);
  var gc = (*b).gr * col.x + (*b).gg * col.y + (*b).gb * col.z;
  (*acc).col += vec4f(dot(w, (*b).gr), dot(w, (*b).gg), dot(w, (*b).gb), 0.0);
  for (var c4 = 0u; c4 < NC4; c4++) {
    let ce = s_ext[k * NC4 + c4];
    var de = vec4f(0.0);
    for (var q = 0u; q < 4u; q++) {
      let c = 4u * c4 + q;
      if (c < NC) {
        gc += (*b).ge[c] * ce[q];
        de[q] = dot(w, (*b).ge[c]);
      }
    }
    (*acc).e[c4] += de;
  }
  let d_alpha = Tj * gc - (*b).R / om;
  (*b).R = select((*b).R, (*b).R + gc * w, ok);
  (*b).T = select((*b).T, Tj, ok);
  let geo = ok & (a0 < vec4f(ALPHA_MAX));
  let dp = select(vec4f(0.0), alpha * d_alpha, geo);
  let one = vec4f(1.0);
  let gx = -dp * (a.z * dx + a.w * dy);
  let gy = -dp * (a.w * dx + bb.x * dy);
  (*acc).m += vec4f(dot(gx, one), dot(gy, one), dot(abs(gx), one), dot(abs(gy), one));
  (*acc).c += vec4f(-0.5 * dx * dx * dot(dp, one), -dx * dot(dp, dy), -0.5 * dot(dp, dy * dy),
                    dot(select(vec4f(0.0), G * d_alpha, geo), one));
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  let origin = vec2f(f32(wid.x * TILE), f32(wid.y * TILE));
  let g0 = li / 8u;
  var my_last = 0u;
//@EACH_BLOCK
  var b_BLK: Blk;
  my_last = max(my_last, init_block(&b_BLK, g0 + BLK * (NT / 8u), li, wid));
//@END
  atomicMax(&s_max, my_last);
  workgroupBarrier();
  if (li == 0u) { s_max_u = atomicLoad(&s_max); }
  var hi = workgroupUniformLoad(&s_max_u);
  while (hi > 0u) {
    let lo = select(0u, hi - KB, hi > KB);
    let cnt = hi - lo;
    for (var e = li; e < cnt; e += NT) {
      let i = pair_vals[start + lo + e];
      let r0 = proj[4u * i];        // mean x, y, conic a, b
      let r1 = proj[4u * i + 1u];   // conic c, opacity, depth, radius
      let r2 = proj[4u * i + 2u];   // colour, packed alpha extent
      s_a[e] = r0;
      s_b[e] = vec4f(r1.xy, 0.0, bitcast<f32>(block_mask(r0.xy, unpack2x16float(bitcast<u32>(r2.w)), origin)));
      s_col[e] = vec4f(r2.xyz, 0.0);
      let n = i - (i / fr.n) * fr.n;
      for (var c4 = 0u; c4 < NC4; c4++) {
        var x = vec4f(0.0);
        for (var q = 0u; q < 4u; q++) {
          let c = 4u * c4 + q;
          if (c < NC) { x[q] = extras[n * NC + c]; }
        }
        s_ext[e * NC4 + c4] = x;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < cnt; kk++) {
      let k = cnt - 1u - kk;
      let pos = lo + k;
      var acc = Acc();
      if (pos < my_last) {
        let a = s_a[k];
        let bb = s_b[k];
        let col = s_col[k].xyz;
//@EACH_BLOCK
        block_backward(&b_BLK, &acc, a, bb, col, k, pos);
//@END
      }
      let pb = (k * NT + li) * SLOTS;
      s_part[pb] = acc.m;
      s_part[pb + 1u] = acc.c;
      s_part[pb + 2u] = acc.col;
      for (var c4 = 0u; c4 < NC4; c4++) { s_part[pb + 3u + c4] = acc.e[c4]; }
    }
    workgroupBarrier();
    // One invocation per entry sums the NT partials and writes the entry's row for this tile (at the pair's
    // emit position, so gather_pair_grads.wgsl can sum an entry's rows without atomics).
    for (var k = li; k < cnt; k += NT) {
      var sm = vec4f(0.0);
      var sc = vec4f(0.0);
      var scol = vec4f(0.0);
      for (var t = 0u; t < NT; t++) {
        let pb = (k * NT + t) * SLOTS;
        sm += s_part[pb];
        sc += s_part[pb + 1u];
        scol += s_part[pb + 2u];
      }
      // Row of this (tile, entry) pair: the entry's first emit position plus the tile's place in its rectangle.
      let i = pair_vals[start + lo + k];
      let rect = vec3u(proj[4u * i + 3u].xyz);   // tile rectangle x0, y0, x1
      let rb = (row_base[i] + (wid.y - rect.y) * (rect.z - rect.x) + (wid.x - rect.x)) * SLOTS;
      rows[rb] = vec4f(sm.xy, sc.xy);
      rows[rb + 1u] = vec4f(sc.zw, scol.xy);
      rows[rb + 2u] = vec4f(scol.z, sm.zw, 0.0);
      for (var c4 = 0u; c4 < NC4; c4++) {
        var se = vec4f(0.0);
        for (var t = 0u; t < NT; t++) { se += s_part[(k * NT + t) * SLOTS + 3u + c4]; }
        rows[rb + 3u + c4] = se;
      }
    }
    hi = lo;
  }
}
