// Forward alpha blending: one 16x16 workgroup per (tile, view); grid [tilesX, tilesY, V]. Each invocation owns
// one pixel and walks the tile's depth-ordered list front to back; entries are staged in workgroup memory in
// batches of BATCH (<= 256, chosen on the host so the staging fits the workgroup memory limit). alpha = min(0.99, opacity * exp(power)); entries with alpha < 1/255 (or power > 0) are
// skipped; the walk stops before an entry that would take the transmittance below 1e-4.
//
// Buffers:
//   proj     [V * N, 16] f32      projected records (gaussian_common.wgsl)
//   pairVals [P] u32              entry index i = v * N + n, tile-sorted, depth order inside a tile
//   ranges   [V * tiles, 2] u32   [first, end) of each tile's pairs
//   extras   [N, NC] f32          extra channels per Gaussian (dummy when NC = 0)
//   rgb      [V, H, W, 3] f32     output: colour + T * background
//   outExtra [V, H, W, NC] f32    output: extra channels (background 0; dummy when NC = 0)
//   aux      [V, H, W, 4] f32     output: alpha, sum of weight * depth, final T, list entries walked (last)
// Uniform: Frame.

@group(0) @binding(0) var<storage, read> proj: array<f32>;
@group(0) @binding(1) var<storage, read> pair_vals: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> extras: array<f32>;
@group(0) @binding(4) var<storage, read_write> rgb: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_extra: array<f32>;
@group(0) @binding(6) var<storage, read_write> aux: array<f32>;
@group(0) @binding(7) var<uniform> fr: Frame;

override BATCH: u32 = 256u;      // entries staged per round
override EXT_STAGE: u32 = 1u;    // max(1, BATCH * ceil(NC / 4))
var<workgroup> s_xy: array<vec2f, BATCH>;
var<workgroup> s_conic_o: array<vec4f, BATCH>;
var<workgroup> s_col: array<vec4f, BATCH>; // rgb, depth
var<workgroup> s_ext: array<vec4f, EXT_STAGE>; // extra channels in groups of 4 (zero padded)
var<workgroup> s_done: atomic<u32>;   // invocations whose pixel is finished
var<workgroup> s_done_u: u32;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let v = wid.z;
  let px = wid.x * TILE + lid.x;
  let py = wid.y * TILE + lid.y;
  let inside = px < fr.width && py < fr.height;
  let tile = (v * fr.tiles_y + wid.y) * fr.tiles_x + wid.x;
  let start = ranges[2u * tile];
  let end = ranges[2u * tile + 1u];
  let pix = vec2f(f32(px), f32(py));
  var T = 1.0;
  var col = vec3f(0.0);
  var dep = 0.0;
  var ext: array<vec4f, MAX_EXTRA4>;
  var done = !inside;
  var counted = false;
  var last = 0u;
  var b0 = start;
  while (b0 < end) {
    let j = b0 + li;
    if (li < BATCH && j < end) {
      let i = pair_vals[j];
      let base = i * PROJ_STRIDE;
      s_xy[li] = vec2f(proj[base], proj[base + 1u]);
      s_conic_o[li] = vec4f(proj[base + 2u], proj[base + 3u], proj[base + 4u], proj[base + 5u]);
      s_col[li] = vec4f(proj[base + 8u], proj[base + 9u], proj[base + 10u], proj[base + 6u]);
      let n = i - (i / fr.n) * fr.n;
      for (var c4 = 0u; c4 < NC4; c4++) {
        var e = vec4f(0.0);
        for (var q = 0u; q < 4u; q++) {
          let c = 4u * c4 + q;
          if (c < NC) { e[q] = extras[n * NC + c]; }
        }
        s_ext[li * NC4 + c4] = e;
      }
    }
    workgroupBarrier();
    let cnt = min(BATCH, end - b0);
    for (var k = 0u; k < cnt && !done; k++) {
      let d = s_xy[k] - pix;
      let co = s_conic_o[k];
      let power = -0.5 * (co.x * d.x * d.x + co.z * d.y * d.y) - co.y * d.x * d.y;
      if (power > 0.0) { continue; }
      let alpha = min(ALPHA_MAX, co.w * exp(power));
      if (alpha < ALPHA_MIN) { continue; }
      let nt = T * (1.0 - alpha);
      if (nt < T_MIN) { done = true; break; }
      let w = alpha * T;
      col += w * s_col[k].xyz;
      dep += w * s_col[k].w;
      for (var c4 = 0u; c4 < NC4; c4++) { ext[c4] += w * s_ext[k * NC4 + c4]; }
      T = nt;
      last = b0 - start + k + 1u;
    }
    if (done && !counted) {
      atomicAdd(&s_done, 1u);
      counted = true;
    }
    workgroupBarrier();
    // Stop the whole workgroup once every pixel is saturated (or outside the image).
    if (li == 0u) { s_done_u = atomicLoad(&s_done); }
    if (workgroupUniformLoad(&s_done_u) == 256u) { break; }
    b0 += BATCH;
  }
  if (inside) {
    let p = (v * fr.height + py) * fr.width + px;
    let out = col + T * fr.bg.xyz;
    rgb[3u * p] = out.x;
    rgb[3u * p + 1u] = out.y;
    rgb[3u * p + 2u] = out.z;
    for (var c = 0u; c < NC; c++) { out_extra[p * NC + c] = ext[c / 4u][c % 4u]; }
    aux[4u * p] = 1.0 - T;
    aux[4u * p + 1u] = dep;
    aux[4u * p + 2u] = T;
    aux[4u * p + 3u] = f32(last);
  }
}
