// Uniform grid for the k-nearest-neighbour search.
//   setup      (one workgroup) per axis, the box between the 0.2% and 99.8% quantiles of the points (from a
//              256-bin histogram over the bounding box clipped to mean +- 4 standard deviations), then cubic
//              cells of side h with at most max_cells cells in total: dims = floor(extent / h) + 1 per axis,
//              h grown by 1.25x until the product fits. Points outside the box go to the edge cells.
//              Loops over all points three times per invocation: software Vulkan (lavapipe) stops any
//              invocation after 65,535 loop iterations, so there n must stay below about 5M.
//   cell_keys  keys[i] = linear cell of point i (x fastest), vals[i] = i, counts[cell] += 1 (atomic)
//
// Buffers:
//   points  [n, 3]            f32 read        x, y, z per point, stride 3
//   grid    Grid (8 words)    read_write      lo (min corner), h (cell side), dims (cells per axis), ncells
//   u       uniform           n, max_cells (>= 1)
//   keys    [n]               u32 read_write  cell id per point (cell_keys)
//   vals    [n]               u32 read_write  point index (cell_keys)
//   counts  [max_cells + 1]   u32 atomic      points per cell, zero on entry (cell_keys)
// Cell of a point p: c = clamp(floor((p - lo) / h), 0, dims - 1) per axis, id = (c.z * dims.y + c.y) * dims.x + c.x.
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
var<workgroup> sum_s: array<vec3f, WG>;
const BINS: u32 = 256u;
var<workgroup> hist: array<atomic<u32>, 768>;  // 3 * BINS
var<workgroup> box_lo: array<f32, 3>;
var<workgroup> box_hi: array<f32, 3>;

fn point(i: u32) -> vec3f {
  return vec3f(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]);
}

@compute @workgroup_size(WG)
fn setup(@builtin(local_invocation_index) li: u32) {
  let big = 3.0e38;
  var lo = vec3f(big);
  var hi = vec3f(-big);
  var sum = vec3f(0.0);
  for (var i = li; i < u.n; i += WG) {
    let p = point(i);
    lo = min(lo, p);
    hi = max(hi, p);
    sum += p;
  }
  lo_s[li] = lo;
  hi_s[li] = hi;
  sum_s[li] = sum;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (li < w) {
      lo_s[li] = min(lo_s[li], lo_s[li + w]);
      hi_s[li] = max(hi_s[li], hi_s[li + w]);
      sum_s[li] += sum_s[li + w];
    }
    workgroupBarrier();
  }
  // Second pass: spread around the mean (two passes avoid the cancellation of sum(p^2) - n mean^2).
  let mean = sum_s[0] / f32(u.n);
  workgroupBarrier();
  var sq = vec3f(0.0);
  for (var i = li; i < u.n; i += WG) {
    let d = point(i) - mean;
    sq += d * d;
  }
  sum_s[li] = sq;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (li < w) { sum_s[li] += sum_s[li + w]; }
    workgroupBarrier();
  }
  // Third pass: per-axis histogram over the bounding box clipped to mean +- 4 standard deviations, to find the
  // 0.2% and 99.8% quantiles. The grid spans the box between those quantiles, so far outliers (floaters) and heavy
  // tails do not make the cells so large that the bulk of the points shares a handful of them. Points outside fall
  // into the edge cells, which the search treats as unbounded outwards, so the result stays exact.
  let sd = sqrt(sum_s[0] / f32(u.n));
  let a = max(lo_s[0], mean - 4.0 * sd);
  let b = max(min(hi_s[0], mean + 4.0 * sd), a);
  let bins = f32(BINS);
  let scale = select(vec3f(0.0), bins / (b - a), b > a);
  for (var i = li; i < u.n; i += WG) {
    let t = vec3u(clamp((point(i) - a) * scale, vec3f(0.0), vec3f(bins - 1.0)));
    atomicAdd(&hist[t.x], 1u);
    atomicAdd(&hist[BINS + t.y], 1u);
    atomicAdd(&hist[2u * BINS + t.z], 1u);
  }
  workgroupBarrier();
  if (li < 3u) {
    let tail = u.n / 500u;
    let w = (b[li] - a[li]) / bins;
    var lo_bin = 0u;
    var acc = 0u;
    for (var j = 0u; j < BINS; j++) {
      acc += atomicLoad(&hist[li * BINS + j]);
      if (acc > tail) { lo_bin = j; break; }
    }
    var hi_bin = BINS - 1u;
    acc = 0u;
    for (var j = BINS - 1u; j > 0u; j--) {
      acc += atomicLoad(&hist[li * BINS + j]);
      if (acc > tail) { hi_bin = j; break; }
    }
    box_lo[li] = max(lo_s[0][li], a[li] + f32(lo_bin) * w);
    box_hi[li] = max(min(hi_s[0][li], a[li] + f32(hi_bin + 1u) * w), box_lo[li]);
  }
  workgroupBarrier();
  if (li != 0u) { return; }
  let lo0 = vec3f(box_lo[0], box_lo[1], box_lo[2]);
  let e = max(vec3f(box_hi[0], box_hi[1], box_hi[2]) - lo0, vec3f(0.0));
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
