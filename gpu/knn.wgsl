// Exact k-nearest-neighbour query on a uniform grid whose points are sorted by cell.
// Each invocation takes one point (in cell order, for coherence) and visits rings of cells around its own cell
// (ring r = cells at Chebyshev cell distance r), keeping the k best (squared distance, index) pairs sorted by
// distance then index. It stops once k are found and the k-th distance is below the distance from the point to the
// outside of the searched box of cells (minus a small slack for rounding), or when the whole grid was searched.
//
// Buffers:
//   points      [n, 3]          f32 read        x, y, z per point, stride 3
//   grid        Grid (8 words)  read            lo, h, dims, ncells (see knn_grid.wgsl)
//   u           uniform         n (the pipeline constant K = k, 1..16)
//   sorted      [n]             u32 read        point indices sorted by cell id (stable)
//   cell_start  [ncells + 1]    u32 read        first position in `sorted` of each cell; cell_start[ncells] = n
//   out_idx     [n, k]          u32 read_write  neighbour indices, nearest first; 0xffffffff when fewer than k exist
//   out_d2      [n, k]          f32 read_write  squared distances; +inf with the sentinel index
// Grid: linear (wid.x + wid.y * nwg.x), one invocation per point.

struct Grid {
  lo: vec3f,
  h: f32,
  dims: vec3u,
  ncells: u32,
}

struct U {
  n: u32,
}

@group(0) @binding(0) var<storage, read> points: array<f32>;
@group(0) @binding(1) var<storage, read> grid: Grid;
@group(0) @binding(2) var<uniform> u: U;
@group(0) @binding(3) var<storage, read> sorted: array<u32>;
@group(0) @binding(4) var<storage, read> cell_start: array<u32>;
@group(0) @binding(5) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(6) var<storage, read_write> out_d2: array<f32>;

const WG: u32 = 64u;
override K: u32 = 16u;  // neighbours per point, 1..16
const NONE: u32 = 0xffffffffu;

fn point(i: u32) -> vec3f {
  return vec3f(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]);
}

var<private> best_d: array<f32, 16>;
var<private> best_i: array<u32, 16>;

// Squared distance (less `slack`) from local coordinate x to cell c's slab along one axis; the first and last
// cells are unbounded outwards because the cell assignment clamps.
fn slab_gap(x: f32, c: i32, dim: i32, h: f32, slack: f32) -> f32 {
  var g = 0.0;
  if (c > 0 && x < f32(c) * h) { g = f32(c) * h - x; }
  if (c < dim - 1 && x > f32(c + 1) * h) { g = x - f32(c + 1) * h; }
  g = max(g - slack, 0.0);
  return g * g;
}

fn visit_cell(cell: u32, self_idx: u32, p: vec3f) {
  let s = cell_start[cell];
  let e = cell_start[cell + 1u];
  for (var j = s; j < e; j++) {
    let q = sorted[j];
    // A cell lists its points by increasing index: once k exact duplicates are held, later ones cannot win a tie.
    if (best_d[K - 1u] == 0.0 && q > best_i[K - 1u]) { break; }
    if (q == self_idx) { continue; }
    let d = point(q) - p;
    let d2 = dot(d, d);
    if (d2 < best_d[K - 1u] || (d2 == best_d[K - 1u] && q < best_i[K - 1u])) {
      // Branch-free insertion with constant indices (K is a pipeline constant), so the lists stay in registers:
      // the carried pair swaps into place and pushes the larger entries one slot down.
      var cd = d2;
      var ci = q;
      for (var t = 0u; t < K; t++) {
        let od = best_d[t];
        let oi = best_i[t];
        let less = cd < od || (cd == od && ci < oi);
        best_d[t] = select(od, cd, less);
        best_i[t] = select(oi, ci, less);
        cd = select(cd, od, less);
        ci = select(ci, oi, less);
      }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let s = (wid.x + wid.y * nwg.x) * WG + li;
  if (s >= u.n) { return; }
  let g = grid;
  let self_idx = sorted[s];
  let p = point(self_idx);
  let pl = p - g.lo;  // local coordinates, as used for the cell assignment
  let dims = vec3i(g.dims);
  let c = vec3i(min(vec3u(max(floor(pl / g.h), vec3f(0.0))), g.dims - 1u));
  let inf = bitcast<f32>(0x7f800000u);
  for (var t = 0u; t < K; t++) {
    best_d[t] = inf;
    best_i[t] = NONE;
  }
  let maxdim = max(dims.x, max(dims.y, dims.z));
  // Rounding allowance for cell boundaries (relative to the grid size and to far-out points' coordinates).
  let apl = abs(pl);
  let slack = g.h * (1e-3 + 1e-6 * f32(maxdim)) + 1e-6 * max(apl.x, max(apl.y, apl.z));
  for (var r = 0; r <= maxdim; r++) {
    let z0 = max(c.z - r, 0);
    let z1 = min(c.z + r, dims.z - 1);
    let y0 = max(c.y - r, 0);
    let y1 = min(c.y + r, dims.y - 1);
    for (var z = z0; z <= z1; z++) {
      let gz = slab_gap(pl.z, z, dims.z, g.h, slack);
      for (var y = y0; y <= y1; y++) {
        let gyz = gz + slab_gap(pl.y, y, dims.y, g.h, slack);
        if (gyz > best_d[K - 1u]) { continue; }
        let face = abs(z - c.z) == r || abs(y - c.y) == r;
        // Inside the ring's shell only the two x ends are new; on its faces the whole x row is.
        var x = c.x - r;
        var step = 2 * r;
        if (face) { step = 1; }
        if (r == 0) { step = 1; }
        for (; x <= c.x + r; x += step) {
          if (x >= 0 && x < dims.x) {
            if (gyz + slab_gap(pl.x, x, dims.x, g.h, slack) <= best_d[K - 1u]) {
              visit_cell(u32((z * dims.y + y) * dims.x + x), self_idx, p);
            }
          }
        }
      }
    }
    // Distance from the point to the nearest unsearched cell (only grid sides not yet reached count).
    var bound = inf;
    if (c.x - r > 0) { bound = min(bound, pl.x - f32(c.x - r) * g.h); }
    if (c.x + r + 1 < dims.x) { bound = min(bound, f32(c.x + r + 1) * g.h - pl.x); }
    if (c.y - r > 0) { bound = min(bound, pl.y - f32(c.y - r) * g.h); }
    if (c.y + r + 1 < dims.y) { bound = min(bound, f32(c.y + r + 1) * g.h - pl.y); }
    if (c.z - r > 0) { bound = min(bound, pl.z - f32(c.z - r) * g.h); }
    if (c.z + r + 1 < dims.z) { bound = min(bound, f32(c.z + r + 1) * g.h - pl.z); }
    if (bound == inf) { break; }
    let b = max(bound - slack, 0.0);
    if (best_i[K - 1u] != NONE && best_d[K - 1u] < b * b) { break; }
  }
  for (var t = 0u; t < K; t++) {
    out_idx[self_idx * K + t] = best_i[t];
    out_d2[self_idx * K + t] = best_d[t];
  }
}
