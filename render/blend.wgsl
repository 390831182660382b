// Forward alpha blending: one workgroup of 64 invocations per (tile, view); grid [tilesX, tilesY, V].
//
// Pixel layout: invocation li belongs to SIMD-friendly group g = li / 8 (8 consecutive invocations), which owns
// the 8x4 pixel block at tile offset ((g % 2) * 8, (g / 2) * 4); invocation li owns the column of 4 pixels
// x = (g % 2) * 8 + li % 8, y = (g / 2) * 4 + 0..3 and keeps their state in vec4 registers (one lane per row).
// Each staged entry is loaded once per invocation and applied to its 4 pixels, which amortizes the workgroup
// memory loads (on software adapters a load costs more than the blend arithmetic). Entries are staged in
// workgroup memory in batches of BATCH (<= 256, chosen on the host so the staging fits the workgroup memory
// limit) with a conservative 8-bit mask of the pixel blocks their alpha >= 1/255 ellipse can reach, so a group
// skips entries that cannot touch its block without evaluating them (results are unchanged: those entries fail
// the alpha test anyway). alpha = min(0.99, opacity * exp(power)); entries with alpha < 1/255 (or power > 0)
// are skipped; a pixel stops before an entry that would take its transmittance below 1e-4; the workgroup stops
// after the batch in which all of its pixels stopped.
//
// Buffers:
//   proj     [V * N, 16] f32      projected records (gaussian_common.wgsl)
//   pairVals [P] u32              entry index i = v * N + n, tile-sorted, depth order inside a tile
//   ranges   [V * tiles, 2] u32   [first, end) of each tile's pairs
//   extras   [N, NC] f32          extra channels per Gaussian (dummy when NC = 0)
//   rgb      [V, H, W, 3] f32     output: colour + T * background
//   outExtra [V, H, W, NC] f32    output: extra channels (background 0; dummy when NC = 0)
//   aux      [V, H, W, 4] f32     output: alpha, sum of weight * depth, final T, list entries walked (last)
// Workgroup staging per entry: 3 vec4f (mean, conic, opacity, depth, mask bits, colour) + ceil(NC / 4) vec4f.
// Uniform: Frame.
@group(0) @binding(0) var<storage, read> proj: array<f32>;
@group(0) @binding(1) var<storage, read> pair_vals: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> extras: array<f32>;
@group(0) @binding(4) var<storage, read_write> rgb: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_extra: array<f32>;
@group(0) @binding(6) var<storage, read_write> aux: array<f32>;
@group(0) @binding(7) var<uniform> fr: Frame;

override BATCH: u32 = 256u;
override EXT_STAGE: u32 = 1u;
var<workgroup> s_a: array<vec4f, BATCH>;     // mean x, y, conic a, b
var<workgroup> s_b: array<vec4f, BATCH>;     // conic c, opacity, depth, block mask (bits)
var<workgroup> s_col: array<vec4f, BATCH>;   // rgb, 0
var<workgroup> s_ext: array<vec4f, EXT_STAGE>;
var<workgroup> s_done: atomic<u32>;
var<workgroup> s_done_u: u32;

// Bits g = 0..7 of the 8x4 pixel blocks of the tile at `origin` that the entry's alpha >= ALPHA_MIN region
// (power >= ln(ALPHA_MIN / o), an ellipse) can reach: its bounding box, widened by 0.1% + 0.01 px for rounding.
fn block_mask(m: vec2f, conic: vec3f, o: f32, origin: vec2f) -> u32 {
  let t = 2.0 * log(o / ALPHA_MIN);
  if (!(t >= 0.0)) { return 0u; }
  let det = conic.x * conic.z - conic.y * conic.y;
  let hx = sqrt(t * conic.z / det) * 1.001 + 0.01;
  let hy = sqrt(t * conic.x / det) * 1.001 + 0.01;
  var mask = 0u;
  for (var g = 0u; g < 8u; g++) {
    let bx = origin.x + f32((g % 2u) * 8u);
    let by = origin.y + f32((g / 2u) * 4u);
    if (m.x + hx >= bx && m.x - hx <= bx + 7.0 && m.y + hy >= by && m.y - hy <= by + 3.0) { mask |= 1u << g; }
  }
  return mask;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let g = li / 8u;
  let px = wid.x * TILE + (g % 2u) * 8u + li % 8u;
  let py0 = wid.y * TILE + (g / 2u) * 4u;
  let rows = vec4u(py0, py0 + 1u, py0 + 2u, py0 + 3u);
  let inside = vec4<bool>(px < fr.width) & (rows < vec4u(fr.height));
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  let end = ranges[2u * tile + 1u];
  let origin = vec2f(f32(wid.x * TILE), f32(wid.y * TILE));
  let pxf = f32(px);
  let pyf = vec4f(rows);
  var T = vec4f(1.0);
  var cr = vec4f(0.0);
  var cg = vec4f(0.0);
  var cb = vec4f(0.0);
  var dep = vec4f(0.0);
  var ext: array<array<vec4f, MAX_EXTRA4>, 4>;
  var done = !inside;
  var counted = false;
  var last = vec4u(0u);
  var b0 = start;
  while (b0 < end) {
    for (var e = li; e < BATCH; e += 64u) {
      let j = b0 + e;
      if (j < end) {
        let i = pair_vals[j];
        let base = i * PROJ_STRIDE;
        let m = vec2f(proj[base], proj[base + 1u]);
        let co = vec3f(proj[base + 2u], proj[base + 3u], proj[base + 4u]);
        let o = proj[base + 5u];
        s_a[e] = vec4f(m, co.x, co.y);
        s_b[e] = vec4f(co.z, o, proj[base + 6u], bitcast<f32>(block_mask(m, co, o, origin)));
        s_col[e] = vec4f(proj[base + 8u], proj[base + 9u], proj[base + 10u], 0.0);
        let n = i - (i / fr.n) * fr.n;
        for (var c4 = 0u; c4 < NC4; c4++) {
          var x = vec4f(0.0);
          for (var q = 0u; q < 4u; q++) {
            let c = 4u * c4 + q;
            if (c < NC) { x[q] = extras[n * NC + c]; }
          }
          s_ext[e * NC4 + c4] = x;
        }
      }
    }
    workgroupBarrier();
    let cnt = min(BATCH, end - b0);
    if (!all(done)) {
      for (var k = 0u; k < cnt; k++) {
        let bb = s_b[k];
        if (((bitcast<u32>(bb.w) >> g) & 1u) == 0u) { continue; }
        let a = s_a[k];
        let dx = a.x - pxf;
        let dy = vec4f(a.y) - pyf;
        let power = -0.5 * (a.z * dx * dx + bb.x * dy * dy) - a.w * dx * dy;
        let alpha = min(vec4f(ALPHA_MAX), bb.y * exp(power));
        let ok = !done & (power <= vec4f(0.0)) & (alpha >= vec4f(ALPHA_MIN));
        if (!any(ok)) { continue; }
        let nt = T * (1.0 - alpha);
        let stop = ok & (nt < vec4f(T_MIN));
        done = done | stop;
        let take = ok & !stop;
        let w = select(vec4f(0.0), alpha * T, take);
        let c = s_col[k];
        cr += w * c.x;
        cg += w * c.y;
        cb += w * c.z;
        dep += w * bb.z;
        for (var c4 = 0u; c4 < NC4; c4++) {
          let xe = s_ext[k * NC4 + c4];
          ext[0][c4] += w.x * xe;
          ext[1][c4] += w.y * xe;
          ext[2][c4] += w.z * xe;
          ext[3][c4] += w.w * xe;
        }
        T = select(T, nt, take);
        last = select(last, vec4u(b0 - start + k + 1u), take);
        if (all(done)) { break; }
      }
    }
    if (all(done) && !counted) {
      atomicAdd(&s_done, 1u);
      counted = true;
    }
    workgroupBarrier();
    if (li == 0u) { s_done_u = atomicLoad(&s_done); }
    if (workgroupUniformLoad(&s_done_u) == 64u) { break; }
    b0 += BATCH;
  }
  for (var q = 0u; q < 4u; q++) {
    if (!inside[q]) { continue; }
    let p = (v * fr.height + rows[q]) * fr.width + px;
    rgb[3u * p] = cr[q] + T[q] * fr.bg.x;
    rgb[3u * p + 1u] = cg[q] + T[q] * fr.bg.y;
    rgb[3u * p + 2u] = cb[q] + T[q] * fr.bg.z;
    for (var c = 0u; c < NC; c++) { out_extra[p * NC + c] = ext[q][c / 4u][c % 4u]; }
    aux[4u * p] = 1.0 - T[q];
    aux[4u * p + 1u] = dep[q];
    aux[4u * p + 2u] = T[q];
    aux[4u * p + 3u] = f32(last[q]);
  }
}
