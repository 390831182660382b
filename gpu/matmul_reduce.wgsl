// Row-chunk sums with the matmul epilogue: the second half of split-K matmul and the bias gradient (column sums).
//
//   out[outOff + c * W + i] = epilogue( sum over r in [c * rowsPer, min(R, (c + 1) * rowsPer)) of x[xOff + r * W + i] )
//
// Buffers (f32, row-major, tightly packed):
//   x    [R, W] read        rows to sum (split-K partials [S, M * N], or a gradient [B, N])
//   out  [chunks, W] read_write; with one chunk and EPILOGUE the output is C [M, N] (W = M * N) of gpu/matmul.wgsl
//   bias [N] read           (only read when HAS_BIAS; column = i % N)
//   y    [W] read           (only read when DACT != 0; saved activation output, see gpu/activation.wgsl)
// Uniform block U (4-byte words, see gpu/matmul.ts): R, W, N, rowsPer, xOff, outOff, biasOff, yOff, beta.
// Grid: (ceil(W / 64), chunks); one invocation per output element, summing its rows sequentially (deterministic).
// Without EPILOGUE the raw sums are stored (ACCUMULATE still adds the old value).

override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override EPILOGUE: bool = false;
override ACT: u32 = 0u;
override DACT: u32 = 0u;

struct U {
  R: u32,
  W: u32,
  N: u32,
  rowsPer: u32,
  xOff: u32,
  outOff: u32,
  biasOff: u32,
  yOff: u32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let chunk = gid.y;
  if (i >= u.W) {
    return;
  }
  let r0 = chunk * u.rowsPer;
  let r1 = min(u.R, r0 + u.rowsPer);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    s += x[u.xOff + r * u.W + i];
  }
  let at = u.outOff + chunk * u.W + i;
  if (ACCUMULATE) {
    s += out[at];
  }
  if (EPILOGUE) {
    if (HAS_BIAS) {
      s += bias[u.biasOff + i % u.N];
    }
    s = act_apply(ACT, u.beta, s);
    if (DACT != 0u) {
      s *= act_grad_from_output(DACT, u.beta, y[u.yOff + i]);
    }
  }
  out[at] = s;
}
