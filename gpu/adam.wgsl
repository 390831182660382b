// Adam / AdamW update with bias correction, one invocation per parameter element.
//
// Buffers (all f32, flat, same element layout; the kernel touches elements [offset, offset + count)):
//   params [P] read_write   parameters, updated in place
//   grads  [P] read         gradients of the loss
//   m      [P] read_write   first-moment estimate
//   v      [P] read_write   second-moment estimate
//   gate   [>= 2] u32 read   the update gate (training/update_gate.wgsl): gate[0] = 0 skips the update (nothing
//                            changes), gate[1] = steps skipped so far on the GPU
//   bias   [max_k + 1] vec2f read  bias corrections (1 / (1 - beta1^t), 1 / (1 - beta2^t)) for t = t0 - k,
//                            k = 0..max_k, where k = gate[1] - known_skips are the skips the CPU has not yet
//                            seen (so a skipped step never advances t, as if Adam had not run)
// Uniform block U (16-byte words, see gpu/adam.ts): count, offset, lr, beta1, beta2, eps,
//   weight decay, known_skips, max_k, decoupled flag (1 = AdamW, 0 = L2 into the gradient).
// Ungated: gate = [1, 0], known_skips = max_k = 0, bias = [(bc1, bc2) of t].
// Grid: linear (wid.x + wid.y * nwg.x) over ceil(count / WG) workgroups.

struct U {
  count: u32,
  offset: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  known_skips: u32,
  max_k: u32,
  decoupled: u32,
}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
@group(0) @binding(5) var<storage, read> gate: array<u32>;
@group(0) @binding(6) var<storage, read> bias: array<vec2f>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + li;
  if (j >= u.count || gate[0] == 0u) { return; }
  let bc = bias[min(gate[1] - u.known_skips, u.max_k)];
  let i = j + u.offset;
  var p = params[i];
  var g = grads[i];
  if (u.decoupled == 0u) { g = g + u.weight_decay * p; }
  let mi = u.beta1 * m[i] + (1.0 - u.beta1) * g;
  let vi = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi * bc.x;
  let vhat = vi * bc.y;
  if (u.decoupled != 0u) { p = p - u.lr * u.weight_decay * p; }
  params[i] = p - u.lr * mhat / (sqrt(vhat) + u.eps);
}
