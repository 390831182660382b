// Backward through an activation, elementwise: dz[i] = g[i] * act'(y[i]) with y the saved activation output.
//
// Buffers (f32, flat, tightly packed; element offsets in U):
//   g  [count] read        gradient with respect to the activation output (e.g. dLoss/dOutput rows of a chunk)
//   y  [count] read        saved activation output
//   dz [count] read_write  gradient with respect to the pre-activation
// Uniform block U (4-byte words, see gpu/mlp.ts): count, gOff, yOff, dzOff, beta.
// Override ACT: activation code of gpu/activation.wgsl.
// Grid: linear (wid.x + wid.y * nwg.x) over ceil(count / 256) workgroups.

override ACT: u32 = 0u;

struct U {
  count: u32,
  gOff: u32,
  yOff: u32,
  dzOff: u32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= u.count) {
    return;
  }
  dz[u.dzOff + i] = g[u.gOff + i] * act_grad_from_output(ACT, u.beta, y[u.yOff + i]);
}
