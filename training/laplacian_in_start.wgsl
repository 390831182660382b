// Laplacian graph, step 2: row starts of the transpose (in-edge) adjacency.
// keys holds the edge targets sorted ascending (missing edges carry key n and sit at the end); in_start[p] is
// the first position whose key is >= p (a binary search), so the in-edges of node p are the positions
// in_start[p] .. in_start[p + 1] and in_start[n] is the number of present edges.
//
// Buffers:
//   u         uniform                 n (nodes), m (edges = n * k)
//   keys      [m]      u32 read       sorted edge targets
//   in_start  [n + 1]  u32 read_write first in-edge position per node, plus the end
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per entry of in_start (n + 1).

struct U {
  n: u32,
  m: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> in_start: array<u32>;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let p = (wid.x + wid.y * nwg.x) * WG + li;
  if (p > u.n) {
    return;
  }
  var lo = 0u;
  var hi = u.m;
  while (lo < hi) {
    let mid = lo + (hi - lo) / 2u;
    if (keys[mid] < p) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  in_start[p] = lo;
}
