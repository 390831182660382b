// Forward alpha blending: one workgroup of NT = 64 / BLOCKS invocations per (tile, view); grid [tilesX, tilesY, V].
//
// Pixels: the 16x16 tile is 8 blocks of 8x4 pixels (block g at tile offset ((g % 2) * 8, (g / 2) * 4)).
// Invocation li owns, in each of its BLOCKS blocks g = li / 8 + r * NT / 8 (r < BLOCKS), the column of 4 pixels
// x = li % 8 and keeps their state in vec4 registers (one lane per row). The per-block code between the
// //@EACH_BLOCK and //@END marker lines is repeated by the host for r = 0..BLOCKS-1 (the token BLK becomes r).
// Each staged entry is loaded once per invocation and applied to all of its pixels, which amortizes the
// workgroup memory loads (on software adapters a load costs more than the blend arithmetic; the default there is
// one 8-wide SIMD group per tile owning all 8 blocks). Entries are staged in workgroup memory in batches of BATCH
// (<= 256, chosen on the host so the staging fits the workgroup memory limit) with a conservative 8-bit mask of
// the blocks their alpha >= 1/255 ellipse can reach (block_mask in gaussian_common.wgsl, from the half-widths
// packed into the projected record), so a block skips entries that cannot touch it without
// evaluating them (results are unchanged: those entries fail the alpha test anyway).
// alpha = min(0.99, opacity * exp(power)); entries with alpha < 1/255 (or power > 0) are skipped; a pixel stops
// before an entry that would take its transmittance below 1e-4; an invocation stops when all of its pixels
// stopped, the workgroup after the batch in which all invocations stopped.
//
// Buffers:
//   proj     [V * N, 4] vec4f     projected records (gaussian_common.wgsl), read as 4 vec4f per entry
//   pairVals [P] u32              entry index i = v * N + n, tile-sorted, depth order inside a tile
//   ranges   [V * tiles, 2] u32   [first, end) of each tile's pairs
//   extras   [N, NC] f32          extra channels per Gaussian (dummy when NC = 0)
//   rgb      [V, H, W, 3] f32     output: colour + T * background
//   outExtra [V, H, W, NC] f32    output: extra channels (background 0; dummy when NC = 0)
//   aux      [V, H, W, 4] f32     output: alpha, sum of weight * depth, final T, list entries walked (last)
// Workgroup staging per entry: 3 vec4f (mean, conic, opacity, depth, mask bits, colour) + ceil(NC / 4) vec4f.
// Uniform: Frame.

@group(0) @binding(0) var<storage, read> proj: array<vec4f>;
@group(0) @binding(1) var<storage, read> pair_vals: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> extras: array<f32>;
@group(0) @binding(4) var<storage, read_write> rgb: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_extra: array<f32>;
@group(0) @binding(6) var<storage, read_write> aux: array<f32>;
@group(0) @binding(7) var<uniform> fr: Frame;

override BATCH: u32 = 256u;
override EXT_STAGE: u32 = 1u;
override NT: u32 = 8u;           // invocations = 64 / BLOCKS
var<workgroup> s_a: array<vec4f, BATCH>;     // mean x, y, conic a, b
var<workgroup> s_b: array<vec4f, BATCH>;     // conic c, opacity, depth, block mask (bits)
var<workgroup> s_col: array<vec4f, BATCH>;   // rgb, 0
var<workgroup> s_ext: array<vec4f, EXT_STAGE>;
var<workgroup> s_done: atomic<u32>;
var<workgroup> s_done_u: u32;

// Blend state of one invocation's 4 pixels (a column) in one block; vec4 lanes are the rows.
struct Blk {
  T: vec4f,
  cr: vec4f,
  cg: vec4f,
  cb: vec4f,
  dep: vec4f,
  last: vec4u,
  done: vec4<bool>,
  py: vec4f,
  px: f32,
  bit: u32,
  ext: array<vec4f, MAX_EXTRA>,   // extra channels, one vec4 (rows) per channel
}

fn init_block(b: ptr<function, Blk>, blk: u32, li: u32, wid: vec3u) {
  let px = wid.x * TILE + (blk % 2u) * 8u + li % 8u;
  let py0 = wid.y * TILE + (blk / 2u) * 4u;
  (*b).px = f32(px);
  let rows = vec4u(py0, py0 + 1u, py0 + 2u, py0 + 3u);
  (*b).py = vec4f(rows);
  (*b).bit = blk;
  (*b).T = vec4f(1.0);
  (*b).done = !(vec4<bool>(px < fr.width) & (rows < vec4u(fr.height)));
}

// Blends the staged entry k (list position pos) into the block's pixels.
fn block_forward(b: ptr<function, Blk>, a: vec4f, bb: vec4f, k: u32, pos: u32) {
  if (((bitcast<u32>(bb.w) >> (*b).bit) & 1u) == 0u || all((*b).done)) { return; }
  let dx = a.x - (*b).px;
  let dy = vec4f(a.y) - (*b).py;
  let power = -0.5 * (a.z * dx * dx + bb.x * dy * dy) - a.w * dx * dy;
  let alpha = min(vec4f(ALPHA_MAX), bb.y * exp(power));
  let ok = !(*b).done & (power <= vec4f(0.0)) & (alpha >= vec4f(ALPHA_MIN));
  if (!any(ok)) { return; }
  let T = (*b).T;
  let nt = T * (1.0 - alpha);
  let stop = ok & (nt < vec4f(T_MIN));
  (*b).done = (*b).done | stop;
  let take = ok & !stop;
  let w = select(vec4f(0.0), alpha * T, take);
  let c = s_col[k];
  (*b).cr += w * c.x;
  (*b).cg += w * c.y;
  (*b).cb += w * c.z;
  (*b).dep += w * bb.z;
  for (var c4 = 0u; c4 < NC4; c4++) {
    let xe = s_ext[k * NC4 + c4];
    for (var q = 0u; q < 4u; q++) {
      if (4u * c4 + q < NC) { (*b).ext[4u * c4 + q] += w * xe[q]; }
    }
  }
  (*b).T = select(T, nt, take);
  (*b).last = select((*b).last, vec4u(pos + 1u), take);
}

// Writes the block's pixels inside the image.
fn store_block(b: ptr<function, Blk>, v: u32) {
  let px = u32((*b).px);
  for (var q = 0u; q < 4u; q++) {
    let py = u32((*b).py[q]);
    if (px >= fr.width || py >= fr.height) { continue; }
    let p = (v * fr.height + py) * fr.width + px;
    let T = (*b).T[q];
    rgb[3u * p] = (*b).cr[q] + T * fr.bg.x;
    rgb[3u * p + 1u] = (*b).cg[q] + T * fr.bg.y;
    rgb[3u * p + 2u] = (*b).cb[q] + T * fr.bg.z;
    for (var c = 0u; c < NC; c++) { out_extra[p * NC + c] = (*b).ext[c][q]; }
    aux[4u * p] = 1.0 - T;
    aux[4u * p + 1u] = (*b).dep[q];
    aux[4u * p + 2u] = T;
    aux[4u * p + 3u] = f32((*b).last[q]);
  }
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  let end = ranges[2u * tile + 1u];
  let origin = vec2f(f32(wid.x * TILE), f32(wid.y * TILE));
  let g0 = li / 8u;
  var fin = true;
//@EACH_BLOCK
  var b_BLK: Blk;
  init_block(&b_BLK, g0 + BLK * (NT / 8u), li, wid);
  fin = fin && all(b_BLK.done);
//@END
  var counted = false;
  var b0 = start;
  while (b0 < end) {
    for (var e = li; e < BATCH; e += NT) {
      let j = b0 + e;
      if (j < end) {
        let i = pair_vals[j];
        let r0 = proj[4u * i];        // mean x, y, conic a, b
        let r1 = proj[4u * i + 1u];   // conic c, opacity, depth, radius
        let r2 = proj[4u * i + 2u];   // colour, packed alpha extent
        s_a[e] = r0;
        s_b[e] = vec4f(r1.xyz, bitcast<f32>(block_mask(r0.xy, unpack2x16float(bitcast<u32>(r2.w)), origin)));
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
    }
    workgroupBarrier();
    let cnt = min(BATCH, end - b0);
    for (var k = 0u; k < cnt && !fin; k++) {
      let a = s_a[k];
      let bb = s_b[k];
      let pos = b0 - start + k;
      fin = true;
//@EACH_BLOCK
      block_forward(&b_BLK, a, bb, k, pos);
      fin = fin && all(b_BLK.done);
//@END
    }
    if (fin && !counted) {
      atomicAdd(&s_done, 1u);
      counted = true;
    }
    workgroupBarrier();
    if (li == 0u) { s_done_u = atomicLoad(&s_done); }
    if (workgroupUniformLoad(&s_done_u) == NT) { break; }
    b0 += BATCH;
  }
//@EACH_BLOCK
  store_block(&b_BLK, v);
//@END
}
