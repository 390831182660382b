// Per-tile ranges of the tile-sorted pair list: ranges[2 * key] = first pair, ranges[2 * key + 1] = one past
// the last (both 0 for a tile with no pairs; the buffer is zeroed before this kernel).
//
// Buffers: pairKeys [P] u32 (sorted), ranges [V * tilesX * tilesY, 2] u32 (output), info [4] u32 (pair_args.wgsl:
// info[1] = pairs used, computed on the GPU).
// Uniform: Frame, count = P (the capacity). Grid: linear, usually the indirect grid of pair_args.wgsl.

@group(0) @binding(0) var<storage, read> pair_keys: array<u32>;
@group(0) @binding(1) var<storage, read_write> ranges: array<u32>;
@group(0) @binding(2) var<uniform> fr: Frame;
@group(0) @binding(3) var<storage, read> info: array<u32>;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + li;
  let count = min(fr.count, info[1]);
  if (j >= count) { return; }
  let k = pair_keys[j];
  if (j == 0u || pair_keys[j - 1u] != k) { ranges[2u * k] = j; }
  if (j + 1u == count || pair_keys[j + 1u] != k) { ranges[2u * k + 1u] = j + 1u; }
}
