// Exclusive prefix sum (u32, wrapping on overflow) in blocks of BLOCK = WG * ITEMS elements, reduce-then-scan:
//   reduce_blocks      sums[b] = sum of block b of `data`
//   (the caller scans `sums` recursively in place)
//   scan_add           dst[i] = sums[b] + exclusive scan of src within block b   (out of place)
//   scan_add_inplace   the same with src = dst                                    (in place)
//
// Buffers:
//   data / dst  [>= n]       u32 read_write  input of reduce_blocks; output of scan_add(_inplace), tightly packed
//   sums        [>= nblocks] u32 read_write  per-block totals (reduce_blocks) or scanned block offsets (scan_add)
//   u           uniform      n = element count, has_offsets = 0 to use offset 0 for every block (single block)
//   src         [>= n]       u32 read        input of scan_add (out of place only)
// Grid: linear (wid.x + wid.y * nwg.x), one workgroup per block, nblocks = ceil(n / BLOCK).

struct U {
  n: u32,
  has_offsets: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<storage, read_write> sums: array<u32>;
@group(0) @binding(2) var<uniform> u: U;
@group(0) @binding(3) var<storage, read> src: array<u32>;

const WG: u32 = 256u;
const ITEMS: u32 = 8u;
const BLOCK_MAX: u32 = 2048u;  // WG * ITEMS for WG <= 256

var<workgroup> tile: array<u32, BLOCK_MAX>;
var<workgroup> part: array<u32, 256>;
var<workgroup> seg: array<u32, 16>;

// Inclusive scan of one value per thread over the workgroup, result for this thread. Raking: 16 threads each
// scan 16 consecutive values, one thread scans the 16 segment totals, then every thread adds its segment's
// offset (3 barriers; a log-step scan needs 16, which software rasterizers pay dearly for). Needs WG = 256.
fn wg_inclusive(li: u32, v: u32) -> u32 {
  part[li] = v;
  workgroupBarrier();
  if (li < 16u) {
    var acc = 0u;
    for (var j = 0u; j < 16u; j++) {
      acc += part[li * 16u + j];
      part[li * 16u + j] = acc;
    }
  }
  workgroupBarrier();
  if (li == 0u) {
    var acc = 0u;
    for (var j = 0u; j < 16u; j++) {
      seg[j] = acc;
      acc += part[j * 16u + 15u];
    }
  }
  workgroupBarrier();
  let r = part[li] + seg[li / 16u];
  workgroupBarrier();  // `part` is reused by the next call
  return r;
}

@compute @workgroup_size(WG)
fn reduce_blocks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  let block = WG * ITEMS;
  let base = b * block;
  var acc = 0u;
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    if (i < u.n) { acc += dst[i]; }
  }
  let total = wg_inclusive(li, acc);
  if (li == WG - 1u && base < u.n) { sums[b] = total; }
}

// Scans this workgroup's block held in `tile` (coalesced load done by the caller), returns nothing; the
// exclusive results are left in `tile`.
fn scan_tile(li: u32) {
  var v: array<u32, ITEMS>;
  var acc = 0u;
  for (var j = 0u; j < ITEMS; j++) {
    v[j] = tile[li * ITEMS + j];
    acc += v[j];
  }
  let incl = wg_inclusive(li, acc);
  var run = incl - acc;
  for (var j = 0u; j < ITEMS; j++) {
    tile[li * ITEMS + j] = run;
    run += v[j];
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn scan_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  let block = WG * ITEMS;
  let base = b * block;
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    var x = 0u;
    if (i < u.n) { x = src[i]; }
    tile[j * WG + li] = x;
  }
  workgroupBarrier();
  scan_tile(li);
  var off = 0u;
  if (u.has_offsets != 0u && base < u.n) { off = sums[b]; }
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    if (i < u.n) { dst[i] = tile[j * WG + li] + off; }
  }
}

@compute @workgroup_size(WG)
fn scan_add_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  let block = WG * ITEMS;
  let base = b * block;
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    var x = 0u;
    if (i < u.n) { x = dst[i]; }
    tile[j * WG + li] = x;
  }
  workgroupBarrier();
  scan_tile(li);
  var off = 0u;
  if (u.has_offsets != 0u && base < u.n) { off = sums[b]; }
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    if (i < u.n) { dst[i] = tile[j * WG + li] + off; }
  }
}
