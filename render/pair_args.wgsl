// Sizes the pair stage of a render on the GPU (rasterizer.ts step 3), so no read-back is needed: from the
// total number of (tile, entry) pairs (the last element of the exclusive scan of the tile counts) and the
// capacity the pair buffers were allocated with, writes the pair info and the indirect dispatch arguments of
// the pair sort and the tile ranges. One invocation.
//
// Buffers:
//   offsets [count + 1] u32     exclusive scan of the depth-ordered tile counts; offsets[count] = total pairs
//   info    [4] u32             output: total pairs, pairs used = min(total, capacity), overflow flag
//                               (total > capacity), capacity
//   args    [8] u32             output, indirect dispatch arguments (INDIRECT usage):
//                               0..2 = pair sort workgroups (ceil(used / sort_tile), 1, 1),
//                               4..6 = tile-range workgroups, ceil(used / range_wg) split over x and y so
//                               that x <= max_dim (the kernels linearize wid.x + wid.y * nwg.x)
// Uniform: count (= V * N), capacity, sort_tile, range_wg, max_dim.

struct U {
  count: u32,
  capacity: u32,
  sort_tile: u32,
  range_wg: u32,
  max_dim: u32,
}

@group(0) @binding(0) var<storage, read> offsets: array<u32>;
@group(0) @binding(1) var<storage, read_write> info: array<u32>;
@group(0) @binding(2) var<storage, read_write> args: array<u32>;
@group(0) @binding(3) var<uniform> u: U;

@compute @workgroup_size(1)
fn main() {
  let total = offsets[u.count];
  let used = min(total, u.capacity);
  info[0] = total;
  info[1] = used;
  info[2] = select(0u, 1u, total > u.capacity);
  info[3] = u.capacity;
  args[0] = (used + u.sort_tile - 1u) / u.sort_tile;
  args[1] = 1u;
  args[2] = 1u;
  args[3] = 0u;
  let wgs = (used + u.range_wg - 1u) / u.range_wg;
  let y = max(1u, (wgs + u.max_dim - 1u) / u.max_dim);
  args[4] = (wgs + y - 1u) / y;
  args[5] = y;
  args[6] = 1u;
  args[7] = 0u;
}
