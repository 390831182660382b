// Shared declarations of the Gaussian rasterizer kernels (prepended to each kernel's source by
// render/rasterizer_pipelines.ts; this file alone is not a complete shader).
//
// Conventions:
// - Cameras are OpenCV: x right, y down, z forward, world-to-camera rotation rows rot0..rot2 with the
//   translation in .w. Pixel (px, py) has its centre at image coordinates (px + 0.5, py + 0.5), so the 2D mean
//   is stored in "pixel-centre" coordinates mean2d = (fx * x / z + cx - 0.5, fy * y / z + cy - 0.5).
// - The projected record of (view v, Gaussian n) lives at proj[(v * N + n) * PROJ_STRIDE + k]:
//     0, 1   mean2d x, y (pixel-centre coordinates)
//     2, 3, 4 conic (inverse 2D covariance) a, b, c: power = -0.5 (a dx^2 + c dy^2) - b dx dy
//     5      opacity (sigmoid of the logit)
//     6      view-space depth z
//     7      pixel radius (3 sigma of the dilated covariance); 0 for a culled entry
//     8, 9, 10 colour from SH for this view (clamped at 0)
//     11     pack2x16float of the half-widths (x, y) of the bounding box of the region where alpha >= 1/255,
//            widened for rounding (see alpha_extent; -60000 when the opacity is below 1/255)
//     12..15 binned tile rectangle x0, y0, x1, y1 (exclusive upper bounds; integers stored as f32): the tiles of
//            the 3-sigma rectangle that the alpha >= 1/255 box also reaches (pair_rect); possibly empty
// - The per-pixel auxiliary output aux[(v * H + y) * W + x) * 4 + k]: alpha, alpha-weighted depth sum,
//   final transmittance, number of tile-list entries walked up to the last contributor (as f32, exact < 2^24).

const PROJ_STRIDE: u32 = 16u;
const GRAD2D_STRIDE: u32 = 12u;
const MAX_VIEWS: u32 = 32u;
const MAX_EXTRA: u32 = 32u; // rewritten by the host to max(1, extra channels) of the pipeline
const MAX_EXTRA4: u32 = (MAX_EXTRA + 3u) / 4u;
const TILE: u32 = 16u;
const DILATION: f32 = 0.3;
const ALPHA_MAX: f32 = 0.99;
const ALPHA_MIN: f32 = 0.00392156862745098; // 1 / 255
const T_MIN: f32 = 0.0001;
const F16_MAX: f32 = 65504.0;

struct Cam {
  rot0: vec4f,  // row 0 of world-to-camera R, .w = t.x
  rot1: vec4f,
  rot2: vec4f,
  pos: vec4f,   // camera centre in world space, .w = near plane distance
  intr: vec4f,  // fx, fy, cx, cy
  lim: vec4f,   // clamp range of x/z (lo, hi) and y/z (lo, hi) used by the EWA Jacobian
}

struct Frame {
  n: u32,        // Gaussians
  views: u32,
  width: u32,
  height: u32,
  tiles_x: u32,
  tiles_y: u32,
  count: u32,    // kernel-specific element count
  pad: u32,
  bg: vec4f,     // background colour (rgb) for the colour channels; extra channels have background 0
  cams: array<Cam, MAX_VIEWS>,
}

override SH_K: u32 = 1u;   // (degree + 1)^2 SH coefficients per colour channel
override NC: u32 = 0u;     // extra channels
override NC4: u32 = 0u;    // ceil(NC / 4): extra channels in vec4 groups

fn is_finite(x: f32) -> bool {
  // NaN fails the comparison, infinities exceed the bound.
  return abs(x) <= 3.0e38;
}

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// Rotation matrix (rows) of the unit quaternion q = (w, x, y, z).
fn quat_to_rot(q: vec4f) -> mat3x3f {
  let w = q.x; let x = q.y; let y = q.z; let z = q.w;
  // mat3x3f takes columns; build rows then transpose.
  return transpose(mat3x3f(
    vec3f(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)),
    vec3f(2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)),
    vec3f(2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y))));
}

// Real SH basis (3DGS constants and sign convention) for a unit direction, coefficient k < 16.
fn sh_basis(k: u32, d: vec3f) -> f32 {
  let x = d.x; let y = d.y; let z = d.z;
  let xx = x * x; let yy = y * y; let zz = z * z;
  switch k {
    case 0u: { return 0.28209479177387814; }
    case 1u: { return -0.4886025119029199 * y; }
    case 2u: { return 0.4886025119029199 * z; }
    case 3u: { return -0.4886025119029199 * x; }
    case 4u: { return 1.0925484305920792 * x * y; }
    case 5u: { return -1.0925484305920792 * y * z; }
    case 6u: { return 0.31539156525252005 * (2.0 * zz - xx - yy); }
    case 7u: { return -1.0925484305920792 * x * z; }
    case 8u: { return 0.5462742152960396 * (xx - yy); }
    case 9u: { return -0.5900435899266435 * y * (3.0 * xx - yy); }
    case 10u: { return 2.890611442640554 * x * y * z; }
    case 11u: { return -0.4570457994644658 * y * (4.0 * zz - xx - yy); }
    case 12u: { return 0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy); }
    case 13u: { return -0.4570457994644658 * x * (4.0 * zz - xx - yy); }
    case 14u: { return 1.445305721320277 * z * (xx - yy); }
    default: { return -0.5900435899266435 * x * (xx - 3.0 * yy); }
  }
}

// Gradient of sh_basis(k, d) with respect to d.
fn sh_basis_grad(k: u32, d: vec3f) -> vec3f {
  let x = d.x; let y = d.y; let z = d.z;
  let xx = x * x; let yy = y * y; let zz = z * z;
  switch k {
    case 0u: { return vec3f(0.0); }
    case 1u: { return vec3f(0.0, -0.4886025119029199, 0.0); }
    case 2u: { return vec3f(0.0, 0.0, 0.4886025119029199); }
    case 3u: { return vec3f(-0.4886025119029199, 0.0, 0.0); }
    case 4u: { return 1.0925484305920792 * vec3f(y, x, 0.0); }
    case 5u: { return -1.0925484305920792 * vec3f(0.0, z, y); }
    case 6u: { return 0.31539156525252005 * vec3f(-2.0 * x, -2.0 * y, 4.0 * z); }
    case 7u: { return -1.0925484305920792 * vec3f(z, 0.0, x); }
    case 8u: { return 0.5462742152960396 * vec3f(2.0 * x, -2.0 * y, 0.0); }
    case 9u: { return -0.5900435899266435 * vec3f(6.0 * x * y, 3.0 * xx - 3.0 * yy, 0.0); }
    case 10u: { return 2.890611442640554 * vec3f(y * z, x * z, x * y); }
    case 11u: { return -0.4570457994644658 * vec3f(-2.0 * x * y, 4.0 * zz - xx - 3.0 * yy, 8.0 * y * z); }
    case 12u: { return 0.3731763325901154 * vec3f(-6.0 * x * z, -6.0 * y * z, 6.0 * zz - 3.0 * xx - 3.0 * yy); }
    case 13u: { return -0.4570457994644658 * vec3f(4.0 * zz - 3.0 * xx - yy, -2.0 * x * y, 8.0 * x * z); }
    case 14u: { return 1.445305721320277 * vec3f(2.0 * x * z, -2.0 * y * z, xx - yy); }
    default: { return -0.5900435899266435 * vec3f(3.0 * xx - 3.0 * yy, -6.0 * x * y, 0.0); }
  }
}

fn cam_rot(c: Cam) -> mat3x3f {
  return transpose(mat3x3f(c.rot0.xyz, c.rot1.xyz, c.rot2.xyz));
}

// Everything the forward projection derives for one (view, Gaussian); ok = false means culled (reason in
// `reason`: 1 non-finite, 2 behind the near plane, 3 outside the image or degenerate).
struct Projected {
  ok: bool,
  reason: u32,
  t: vec3f,        // camera-space mean
  txc: f32,        // clamped x and y used by the Jacobian
  tyc: f32,
  clamp_x: bool,
  clamp_y: bool,
  M: mat3x3f,      // J * W as the first two rows (third row zero)
  R: mat3x3f,      // rotation of the normalized quaternion
  s: vec3f,        // scales
  cov: vec3f,      // dilated 2D covariance a, b, c
  mean2d: vec2f,
  conic: vec3f,
  radius: f32,
  rect: vec4f,     // x0, y0, x1, y1 tiles
}

fn project_gaussian(c: Cam, mean: vec3f, qraw: vec4f, log_scale: vec3f, width: u32, height: u32,
                    tiles_x: u32, tiles_y: u32) -> Projected {
  var p: Projected;
  p.ok = false;
  p.reason = 1u;
  let qn2 = dot(qraw, qraw);
  let fin = is_finite(mean.x) && is_finite(mean.y) && is_finite(mean.z) && is_finite(qn2) &&
    is_finite(log_scale.x) && is_finite(log_scale.y) && is_finite(log_scale.z) && qn2 > 1e-30;
  if (!fin) { return p; }
  let W = cam_rot(c);
  let t = W * mean + vec3f(c.rot0.w, c.rot1.w, c.rot2.w);
  p.t = t;
  p.reason = 2u;
  if (!(t.z > c.pos.w)) { return p; }
  p.reason = 3u;
  let fx = c.intr.x; let fy = c.intr.y;
  let u = t.x / t.z; let v = t.y / t.z;
  let uc = clamp(u, c.lim.x, c.lim.y);
  let vc = clamp(v, c.lim.z, c.lim.w);
  p.clamp_x = uc != u;
  p.clamp_y = vc != v;
  p.txc = uc * t.z;
  p.tyc = vc * t.z;
  let iz = 1.0 / t.z;
  // J = [[fx/z, 0, -fx xc / z^2], [0, fy/z, -fy yc / z^2]] as rows; M = J W.
  let j0 = vec3f(fx * iz, 0.0, -fx * p.txc * iz * iz);
  let j1 = vec3f(0.0, fy * iz, -fy * p.tyc * iz * iz);
  let m0 = j0 * W;   // row vector times matrix = row of J W
  let m1 = j1 * W;
  p.M = transpose(mat3x3f(m0, m1, vec3f(0.0)));
  let q = qraw * inverseSqrt(qn2);
  p.R = quat_to_rot(q);
  p.s = exp(log_scale);
  // L = R S (columns of R scaled); Sigma3 = L L^T; Sigma2 = M Sigma3 M^T.
  let L = p.R * mat3x3f(vec3f(p.s.x, 0.0, 0.0), vec3f(0.0, p.s.y, 0.0), vec3f(0.0, 0.0, p.s.z));
  let a0 = m0 * L;   // row of M L
  let a1 = m1 * L;
  let ca = dot(a0, a0) + DILATION;
  let cb = dot(a0, a1);
  let cc = dot(a1, a1) + DILATION;
  p.cov = vec3f(ca, cb, cc);
  let det = ca * cc - cb * cb;
  if (!(det > 0.0) || !is_finite(det) || !is_finite(ca) || !is_finite(cc)) { return p; }
  p.conic = vec3f(cc / det, -cb / det, ca / det);
  p.mean2d = vec2f(fx * u + c.intr.z - 0.5, fy * v + c.intr.w - 0.5);
  let mid = 0.5 * (ca + cc);
  let lam = mid + sqrt(max(0.1, mid * mid - det));
  p.radius = ceil(3.0 * sqrt(lam));
  let x0 = clamp(floor((p.mean2d.x - p.radius) / f32(TILE)), 0.0, f32(tiles_x));
  let y0 = clamp(floor((p.mean2d.y - p.radius) / f32(TILE)), 0.0, f32(tiles_y));
  let x1 = clamp(floor((p.mean2d.x + p.radius) / f32(TILE)) + 1.0, 0.0, f32(tiles_x));
  let y1 = clamp(floor((p.mean2d.y + p.radius) / f32(TILE)) + 1.0, 0.0, f32(tiles_y));
  p.rect = vec4f(x0, y0, x1, y1);
  if (!(x1 > x0) || !(y1 > y0) || !is_finite(p.mean2d.x) || !is_finite(p.mean2d.y)) { return p; }
  p.ok = true;
  p.reason = 0u;
  return p;
}

// Half-widths of the axis-aligned bounding box of the ellipse where o * exp(power) >= ALPHA_MIN, i.e.
// power >= ln(ALPHA_MIN / o), widened by 0.1% + 0.01 px so rounding (including the f16 packing in the projected
// record) never makes it too small; -60000 (no block reachable) when o < ALPHA_MIN; capped at F16_MAX, which
// block_mask reads as "every block".
fn alpha_extent(conic: vec3f, o: f32) -> vec2f {
  let t = 2.0 * log(o / ALPHA_MIN);
  if (!(t >= 0.0)) { return vec2f(-60000.0); }
  let det = conic.x * conic.z - conic.y * conic.y;
  return min(sqrt(t * vec2f(conic.z, conic.x) / det) * 1.001 + 0.01, vec2f(F16_MAX));
}

// The tiles an entry is binned to: its 3-sigma tile rectangle `rect` (x0, y0, x1, y1) cut to the tiles that the
// box of half-widths `half` around the 2D mean `m` (alpha_extent) reaches; empty (x1 <= x0 or y1 <= y0, stored
// as x1 = x0) when they do not meet. Tiles outside it have alpha < 1/255 at every pixel, so the render is the same
// as with the full rectangle, with fewer pairs to sort and walk. Mirrored by pairRect in rasterize_cpu.ts.
fn pair_rect(rect: vec4f, m: vec2f, half: vec2f) -> vec4f {
  let lo = max(rect.xy, floor((m - half) / f32(TILE)));
  let hi = min(rect.zw, floor((m + half) / f32(TILE)) + 1.0);
  if (any(hi <= lo)) { return vec4f(rect.xy, rect.xy); }
  return vec4f(lo, hi);
}

// Bits g = 0..7 of the 8x4 pixel blocks (block g at tile offset ((g % 2) * 8, (g / 2) * 4)) of the tile at
// `origin` that the box of half-widths `half` around the 2D mean `m` touches. The forward and backward blends skip
// an entry in blocks whose bit is clear; a set bit is only a hint (the alpha test still decides).
fn block_mask(m: vec2f, half: vec2f, origin: vec2f) -> u32 {
  if (any(half >= vec2f(F16_MAX))) { return 0xffu; }
  var mask = 0u;
  for (var g = 0u; g < 8u; g++) {
    let b = origin + vec2f(f32((g % 2u) * 8u), f32((g / 2u) * 4u));
    if (all(m + half >= b) && all(m - half <= b + vec2f(7.0, 3.0))) { mask |= 1u << g; }
  }
  return mask;
}

// Unit view direction from the camera centre to the mean.
fn view_dir(c: Cam, mean: vec3f) -> vec3f {
  return normalize(mean - c.pos.xyz);
}
