// Laplacian graph, step 1: the edge list of a kNN graph keyed by target, and each node's inverse out-degree.
// One invocation per node i: for each slot s of its k neighbours, edge e = i * k + s gets
//   keys[e] = j (the neighbour), or n for a missing neighbour (0xffffffff), so missing edges sort last,
//   vals[e] = i (the source),
// and inv_deg[i] = 1 / (number of present neighbours of i), or 0 when it has none.
// A stable sort of (keys, vals) by key then groups the edges by target with sources ascending (the transpose).
//
// Buffers:
//   u        uniform                 n (nodes), k (neighbours per node)
//   nbr      [n, k]   u32 read       neighbour indices from knn, stride k; 0xffffffff = missing
//   keys     [n * k]  u32 read_write edge target (n for missing)
//   vals     [n * k]  u32 read_write edge source
//   inv_deg  [n]      f32 read_write 1 / present out-degree (0 when none)
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per node.

struct U {
  n: u32,
  k: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> nbr: array<u32>;
@group(0) @binding(2) var<storage, read_write> keys: array<u32>;
@group(0) @binding(3) var<storage, read_write> vals: array<u32>;
@group(0) @binding(4) var<storage, read_write> inv_deg: array<f32>;

override WG: u32 = 128u;
const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= u.n) {
    return;
  }
  var deg = 0u;
  for (var s = 0u; s < u.k; s++) {
    let e = i * u.k + s;
    let j = nbr[e];
    let present = j != NONE && j < u.n;
    keys[e] = select(u.n, j, present);
    vals[e] = i;
    deg += select(0u, 1u, present);
  }
  inv_deg[i] = select(0.0, 1.0 / f32(deg), deg > 0u);
}
