// Uniform grid for the k-nearest-neighbour search.
//   setup      (one workgroup) bounding box of the points, then cubic cells of side h with at most max_cells
//              cells in total: dims = floor(extent / h) + 1 per axis, h grown by 1.25x until the product fits.
//   cell_keys  keys[i] = linear cell of point i (x fastest), vals[i] = i, counts[cell] += 1 (atomic)
//
// Buffers:
//   points  [n, 3]            f32 read        x, y, z per point, stride 3
//   grid    Grid (8 words)    read_write      lo (min corner), h (cell side), dims (cells per axis), ncells
//   u       uniform           n, max_cells (>= 1)
//   keys    [n]               u32 read_write  cell id per point (cell_keys)
//   vals    [n]               u32 read_write  point index (cell_keys)
//   counts  [max_cells + 1]   u32 atomic      points per cell, zero on entry (cell_keys)
// Cell of a point p: c = min(floor((p - lo) / h), dims - 1) per axis, id = (c.z * dims.y + c.y) * dims.x + c.x.
// Grid: setup is one workgroup; cell_keys is linear (wid.x + wid.y * nwg.x), one invocation per point.

struct Grid {
  lo: vec3f,
  h: f32,
  dims: vec3u,
  ncells: u32,
}

struct U {
  n: u32,
  max_cells: u32,
}

@group(0) @binding(0) var<storage, read> points: array<f32>;
@group(0) @binding(1) var<storage, read_write> grid: Grid;
@group(0) @binding(2) var<uniform> u: U;
@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> vals: array<u32>;
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;

const WG: u32 = 256u;

var<workgroup> lo_s: array<vec3f, WG>;
var<workgroup> hi_s: array<vec3f, WG>;

fn point(i: u32) -> vec3f {
  return vec3f(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]);
}

@compute @workgroup_size(WG)
fn setup(@builtin(local_invocation_index) li: u32) {
  let big = 3.0e38;
  var lo = vec3f(big);
  var hi = vec3f(-big);
  for (var i = li; i < u.n; i += WG) {
    let p = point(i);
    lo = min(lo, p);
    hi = max(hi, p);
  }
  lo_s[li] = lo;
  hi_s[li] = hi;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (li < w) {
      lo_s[li] = min(lo_s[li], lo_s[li + w]);
      hi_s[li] = max(hi_s[li], hi_s[li + w]);
    }
    workgroupBarrier();
  }
  if (li != 0u) { return; }
  let lo0 = lo_s[0];
  let e = max(hi_s[0] - lo0, vec3f(0.0));
  let m = max(e.x, max(e.y, e.z));
  var h = 1.0;
  var dims = vec3u(1u);
  if (m > 0.0) {
    // Start from cubes that would tile the (slightly thickened) box with max_cells cells, then grow until the
    // cell count fits (flat or thin point sets need a few steps).
    let ee = max(e, vec3f(m * 1e-3));
    h = pow(ee.x * ee.y * ee.z / f32(u.max_cells), 1.0 / 3.0);
    h = max(h, m * 1e-7);
    for (var it = 0u; it < 200u; it++) {
      let d = floor(e / h) + 1.0;
      if (d.x * d.y * d.z <= f32(u.max_cells)) { break; }
      h = h * 1.25;
    }
    dims = vec3u(floor(e / h)) + 1u;
    // f32 rounding of the product test could let one cell too many through; shrink the longest axis if so.
    while (dims.x * dims.y * dims.z > u.max_cells && max(dims.x, max(dims.y, dims.z)) > 1u) {
      if (dims.x >= dims.y && dims.x >= dims.z) { dims.x -= 1u; }
      else if (dims.y >= dims.z) { dims.y -= 1u; }
      else { dims.z -= 1u; }
    }
  }
  grid.lo = lo0;
  grid.h = h;
  grid.dims = dims;
  grid.ncells = dims.x * dims.y * dims.z;
}

@compute @workgroup_size(WG)
fn cell_keys(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= u.n) { return; }
  let g = grid;
  let c = min(vec3u(max(floor((point(i) - g.lo) / g.h), vec3f(0.0))), g.dims - 1u);
  let id = (c.z * g.dims.y + c.y) * g.dims.x + c.x;
  keys[i] = id;
  vals[i] = i;
  atomicAdd(&counts[id], 1u);
}
