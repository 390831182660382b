// Shared declarations of the posing kernels (prepended to each pose_*.wgsl by pose.ts).
//
// Uniform block `Pose` (16 words): n Gaussians, f feature dim, d expression dim, k SH coefficients per channel,
// centre (cx, cy, cz) and extent of the G input normalization, pos_scale (world units per unit of G's position
// output), regularizer weights w_pos w_rot w_scale w_opacity w_colour, has_dxf (1 when dx_F is bound), through
// (1 when G's input gradient reaches the canonical positions).
//
// G output row layout [N, 14] f32: dpos 0..2, dq 3..6 (w, x, y, z), ds 7..9, do 10, dcol 11..13.

struct Pose {
  n: u32,
  f: u32,
  d: u32,
  k: u32,
  cx: f32,
  cy: f32,
  cz: f32,
  extent: f32,
  pos_scale: f32,
  w_pos: f32,
  w_rot: f32,
  w_scale: f32,
  w_opacity: f32,
  w_colour: f32,
  has_dxf: u32,
  through: u32,
}

const GO: u32 = 14u;
const SH_C0: f32 = 0.28209479177387814;

override WG: u32 = 128u;
