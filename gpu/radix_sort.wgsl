// One pass of a stable LSD radix sort on a 4-bit (or narrower) digit d = (key >> shift) & mask.
//   histogram  per tile of TILE = WG * ITEMS elements, count each digit: hist[d * nblocks + tile]
//   (the caller exclusive-scans hist, which then holds each (digit, tile) pair's first output position)
//   scatter    each element goes to hist[d * nblocks + tile] + (elements of the tile before it with digit d),
//              so equal digits keep their input order (stability)
//
// Buffers:
//   keys_in   [>= n]              u32 read        keys of this pass
//   hist      [16 * nblocks]      u32 read_write  digit-major counts (histogram) / scanned offsets (scatter)
//   u         uniform             n, shift, mask, nblocks, count_index
//   vals_in   [>= n]              u32 read        payload of this pass
//   keys_out  [>= n]              u32 read_write  keys reordered by this pass's digit
//   vals_out  [>= n]              u32 read_write  payload moved with the keys
//   count_buf [>= count_index + 1] u32 read       a GPU-side element count: the pass sorts
//                                                 min(n, count_buf[count_index]) elements (0xffffffff: n)
// With a GPU-side count the grid may be an indirect dispatch of fewer than nblocks workgroups; the caller
// clears hist first, so blocks that do not run count as empty.
// Grid: linear (wid.x + wid.y * nwg.x), one workgroup per tile; thread li owns tile elements
// [li * ITEMS, li * ITEMS + ITEMS).

struct U {
  n: u32,
  shift: u32,
  mask: u32,
  nblocks: u32,
  count_index: u32,
}

@group(0) @binding(0) var<storage, read> keys_in: array<u32>;
@group(0) @binding(1) var<storage, read_write> hist: array<u32>;
@group(0) @binding(2) var<uniform> u: U;
@group(0) @binding(3) var<storage, read> vals_in: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> vals_out: array<u32>;
@group(0) @binding(6) var<storage, read> count_buf: array<u32>;

fn element_count() -> u32 { return min(u.n, count_buf[u.count_index]); }

const WG: u32 = 256u;
const ITEMS: u32 = 8u;
const TILE: u32 = WG * ITEMS;
const RADIX: u32 = 16u;

var<workgroup> counts: array<atomic<u32>, RADIX>;
// Per-thread digit counts, two 16-bit counters per word (word w holds digits 2w and 2w + 1), word-major.
var<workgroup> packed_scan: array<u32, 2048>;  // 8 words * WG
var<workgroup> digit_base: array<u32, RADIX>;
var<workgroup> seg_total: array<u32, WG>;

@compute @workgroup_size(WG)
fn histogram(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  if (li < RADIX) { atomicStore(&counts[li], 0u); }
  workgroupBarrier();
  let base = b * TILE;
  let n = element_count();
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    if (i < n) { atomicAdd(&counts[(keys_in[i] >> u.shift) & u.mask], 1u); }
  }
  workgroupBarrier();
  if (b < u.nblocks && li < RADIX) { hist[li * u.nblocks + b] = atomicLoad(&counts[li]); }
}

@compute @workgroup_size(WG)
fn scatter(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= u.nblocks) { return; }
  let start = b * TILE + li * ITEMS;
  let n = element_count();
  var k: array<u32, ITEMS>;
  var rank: array<u32, ITEMS>;
  var own: array<u32, 8>;
  for (var w = 0u; w < 8u; w++) { own[w] = 0u; }
  // Counting without dynamic indexing of private arrays (which software rasterizers serialize).
  for (var j = 0u; j < ITEMS; j++) {
    let i = start + j;
    var d = RADIX;  // past-the-end elements match no digit
    if (i < n) {
      k[j] = keys_in[i];
      d = (k[j] >> u.shift) & u.mask;
    }
    let s = (d & 1u) * 16u;
    var r = 0u;
    for (var w = 0u; w < 8u; w++) {
      let hit = w == (d >> 1u);
      r = select(r, (own[w] >> s) & 0xffffu, hit);
      own[w] += select(0u, 1u << s, hit);
    }
    rank[j] = r;
  }
  // Exclusive scan over threads of the packed counters (tile totals <= TILE < 2^16, so halves never carry),
  // raking: thread t scans 8 consecutive entries of word t / 32, one thread per word scans the 32 segment
  // totals, then every thread adds its segment's offset. Four barriers instead of a log-step scan's sixteen.
  for (var w = 0u; w < 8u; w++) { packed_scan[w * WG + li] = own[w]; }
  if (li < RADIX) { digit_base[li] = hist[li * u.nblocks + b]; }
  workgroupBarrier();
  let seg = li * 8u;  // word li / 32, threads (li % 32) * 8 .. + 8, since WG = 256
  var run = 0u;
  for (var j = 0u; j < 8u; j++) {
    let x = packed_scan[seg + j];
    packed_scan[seg + j] = run;
    run += x;
  }
  seg_total[li] = run;
  workgroupBarrier();
  if (li < 8u) {
    var acc = 0u;
    for (var j = 0u; j < 32u; j++) {
      let x = seg_total[li * 32u + j];
      seg_total[li * 32u + j] = acc;
      acc += x;
    }
  }
  workgroupBarrier();
  let add = seg_total[li];
  for (var j = 0u; j < 8u; j++) { packed_scan[seg + j] += add; }
  workgroupBarrier();
  for (var j = 0u; j < ITEMS; j++) {
    let i = start + j;
    if (i < n) {
      let d = (k[j] >> u.shift) & u.mask;
      let s = (d & 1u) * 16u;
      let w = d >> 1u;
      let before = (packed_scan[w * WG + li] >> s) & 0xffffu;
      let pos = digit_base[d] + before + rank[j];
      keys_out[pos] = k[j];
      vals_out[pos] = vals_in[i];
    }
  }
}
