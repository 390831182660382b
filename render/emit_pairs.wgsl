// Emits one (tile key, entry) pair per tile touched by each projected entry, in depth order, and the first emit
// position of each entry. One invocation per depth-sorted position j; the pairs of entry i = order[j] take the
// emit positions rowBase[i] + (ty - y0) * (x1 - x0) + (tx - x0) (its tile rectangle in row-major order), which
// the backward uses as the rows of its per-pair gradient buffer.
//
// Buffers:
//   proj     [V * N, 16] f32   projected records (tile rectangle at 12..15)
//   order    [V * N] u32       entry index i = v * N + n at depth-sorted position j
//   counts   [V * N + 1] u32   tile counts in depth order (count[j] = tiles of order[j]; last is 0)
//   offsets  [V * N + 1] u32   exclusive prefix sum of counts; offsets[V * N] = number of pairs
//   pairKeys [P] u32           output: v * tilesX * tilesY + ty * tilesX + tx (P = the capacity: pairs at
//                              emit positions >= P are dropped; the render is then flagged as overflowed)
//   pairVals [P] u32           output: entry index i
//   rowBase  [V * N] u32       output: first emit position of each visible entry (untouched for culled ones)
// Uniform: Frame, count = V * N. Grid: linear.

@group(0) @binding(0) var<storage, read> proj: array<f32>;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> pair_keys: array<u32>;
@group(0) @binding(5) var<storage, read_write> pair_vals: array<u32>;
@group(0) @binding(6) var<storage, read_write> row_base: array<u32>;
@group(0) @binding(7) var<uniform> fr: Frame;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + li;
  if (j >= fr.count || counts[j] == 0u) { return; }
  let i = order[j];
  let v = i / fr.n;
  let b = i * PROJ_STRIDE;
  let x0 = u32(proj[b + 12u]);
  let y0 = u32(proj[b + 13u]);
  let x1 = u32(proj[b + 14u]);
  let y1 = u32(proj[b + 15u]);
  var o = offsets[j];
  row_base[i] = o;
  let view_base = v * fr.tiles_x * fr.tiles_y;
  let cap = arrayLength(&pair_keys);
  for (var ty = y0; ty < y1; ty++) {
    for (var tx = x0; tx < x1; tx++) {
      if (o < cap) {
        pair_keys[o] = view_base + ty * fr.tiles_x + tx;
        pair_vals[o] = i;
      }
      o++;
    }
  }
}
