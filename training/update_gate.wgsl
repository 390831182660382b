// The update gate of a streamed training step (update_gate.ts): decides on the GPU whether the step's update
// applies, so the CPU never waits for the loss, and writes the step's record into a ring the CPU reads a few
// steps late. One invocation, after the loss, the Laplacian terms and the render's pair sizing were recorded.
//
// Buffers:
//   values [nv + 1] f32    step_values.ts: mean L1, mean SSIM, regularizer sum, sums of the canonical tensors
//                          (nv = 9 values are checked), then the cycle residual (copied later, not checked)
//   lap    [2] f32         the Laplacian feature and dynamics losses
//   pairs  [4] u32         the render's pair info (render/pair_args.wgsl): total, used, overflow flag, capacity
//   state  [4] u32         read_write: 0 apply flag of this step, 1 steps skipped so far, 2 halted (sticky: set by
//                          an overflow, cleared only by the CPU, which then redoes the overflowed step), 3 unused
//   ring   [R, 20] u32     read_write, row `slot`: 0 step, 1 applied, 2 this render overflowed, 3 halted,
//                          4 total pairs, 5 pair capacity, 6 skips so far, 7..15 values[0..9) (f32 bits),
//                          16, 17 lap (f32 bits), 18 cycle (written by a copy after F's backward), 19 unused
// Uniform: step, slot, nv.
// A step applies when every checked value is finite, its render did not overflow and the gate is not halted;
// otherwise the skip count grows and Adam and the density statistics leave everything as it was.

struct U {
  step: u32,
  slot: u32,
  nv: u32,
}

@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read> lap: array<f32>;
@group(0) @binding(2) var<storage, read> pairs: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> ring: array<u32>;
@group(0) @binding(5) var<uniform> u: U;

const ROW: u32 = 20u;

// Exponent all ones: infinite or NaN (a bit test, so fast-math compilers cannot fold it away).
fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(1)
fn main() {
  var finite = !non_finite(lap[0]) && !non_finite(lap[1]);
  for (var i = 0u; i < u.nv; i++) {
    finite = finite && !non_finite(values[i]);
  }
  let overflow = pairs[2] != 0u;
  let halted = state[2] != 0u || overflow;
  let applied = finite && !halted;
  state[0] = select(0u, 1u, applied);
  state[1] = state[1] + select(1u, 0u, applied);
  state[2] = select(0u, 1u, halted);
  let r = u.slot * ROW;
  ring[r] = u.step;
  ring[r + 1u] = state[0];
  ring[r + 2u] = select(0u, 1u, overflow);
  ring[r + 3u] = state[2];
  ring[r + 4u] = pairs[0];
  ring[r + 5u] = pairs[3];
  ring[r + 6u] = state[1];
  for (var i = 0u; i < 9u; i++) {
    ring[r + 7u + i] = select(0u, bitcast<u32>(values[i]), i < u.nv);
  }
  ring[r + 16u] = bitcast<u32>(lap[0]);
  ring[r + 17u] = bitcast<u32>(lap[1]);
  ring[r + 18u] = 0u;
  ring[r + 19u] = 0u;
}
