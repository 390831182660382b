// One level of a tree reduction of f32 values: each workgroup combines a block of BLOCK = WG * ITEMS inputs
// pairwise (a pairwise tree over each thread's ITEMS values, then a pairwise tree over the WG threads) and writes
// one value. The caller repeats this on the partial results until one block remains.
//
// Buffers:
//   src  [>= n]                      f32 read        values of this level, tightly packed
//   dst  [>= out_offset + nblocks]   f32 read_write  dst[out_offset + block] = scale * combine(block's values)
//   u    uniform  n, transform (0 = x, 1 = x * x), combine (0 = sum, 1 = max), out_offset, scale (f32)
// Empty blocks (or lanes past n) contribute the identity: 0 for sum, -inf for max.
// Grid: linear (wid.x + wid.y * nwg.x), one workgroup per block, nblocks = ceil(n / BLOCK).

struct U {
  n: u32,
  transform: u32,
  combine: u32,
  out_offset: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> u: U;

const WG: u32 = 256u;
const ITEMS: u32 = 8u;

var<workgroup> part: array<f32, WG>;
var<workgroup> seg: array<f32, 16>;

fn identity() -> f32 {
  if (u.combine == 1u) { return bitcast<f32>(0xff800000u); }
  return 0.0;
}

fn comb(a: f32, b: f32) -> f32 {
  if (u.combine == 1u) { return max(a, b); }
  return a + b;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let b = wid.x + wid.y * nwg.x;
  let base = b * WG * ITEMS;
  var v: array<f32, ITEMS>;
  for (var j = 0u; j < ITEMS; j++) {
    let i = base + j * WG + li;
    var x = identity();
    if (i < u.n) {
      x = src[i];
      if (u.transform == 1u) { x = x * x; }
    }
    v[j] = x;
  }
  // Pairwise over the thread's ITEMS values.
  for (var w = ITEMS / 2u; w > 0u; w = w / 2u) {
    for (var j = 0u; j < w; j++) { v[j] = comb(v[j], v[j + w]); }
  }
  // Pairwise over the threads with few barriers (software rasterizers pay per barrier): 16 threads each reduce
  // 16 partials as a tree, then thread 0 reduces those 16 as a tree.
  part[li] = v[0];
  workgroupBarrier();
  if (li < 16u) {
    var a: array<f32, 16>;
    for (var j = 0u; j < 16u; j++) { a[j] = part[li * 16u + j]; }
    for (var w = 8u; w > 0u; w = w / 2u) {
      for (var j = 0u; j < w; j++) { a[j] = comb(a[j], a[j + w]); }
    }
    seg[li] = a[0];
  }
  workgroupBarrier();
  if (li == 0u) {
    var a: array<f32, 16>;
    for (var j = 0u; j < 16u; j++) { a[j] = seg[j]; }
    for (var w = 8u; w > 0u; w = w / 2u) {
      for (var j = 0u; j < w; j++) { a[j] = comb(a[j], a[j + w]); }
    }
    part[0] = a[0];
  }
  if (li == 0u && (base < u.n || b == 0u)) { dst[u.out_offset + b] = part[0] * u.scale; }
}
