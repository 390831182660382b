/**
 * Tiled f32 matrix multiply on the GPU: C = op(A) · op(B) for the layouts backprop needs (A·B, Aᵀ·B, A·Bᵀ, and
 * Aᵀ·Bᵀ), with an optional fused epilogue (accumulate into C, add a bias row, apply an activation, or multiply by
 * an activation's derivative), split-K for long reductions, and column sums (bias gradients).
 *
 * Matrices are row-major and tightly packed; each is a tensor plus an element offset, so layers stored in one
 * flat parameter tensor can be used in place. Buffers are bound as ranges around the used elements, so a matrix
 * inside a tensor larger than `maxStorageBufferBindingSize` works as long as the used range itself fits.
 */
import { type Activation, ACTIVATION_CODE, ACTIVATION_WGSL, activationBeta } from "./activation.ts";
import type { Gpu } from "./device.ts";
import { type Binding, dispatch, uniforms } from "./dispatch.ts";
import { Tensor } from "./tensor.ts";
import mainSrc from "./matmul.wgsl" with { type: "text" };
import reduceSrc from "./matmul_reduce.wgsl" with { type: "text" };

/**
 * Expands the `//@ACC`, `//@FMA` and `//@STORE` lines of matmul.wgsl into the 16 x 16 register tile: 64 vec4
 * accumulators c{r}_{p} (row r = 4 q + lane, column group p), 4 + 4 vec4 operand loads and 256 fma per k step.
 */
function expandRegisterTile(src: string): string {
  const lanes = ["x", "y", "z", "w"];
  const acc: string[] = [], fma: string[] = [], store: string[] = [];
  for (let q = 0; q < 4; q++) fma.push(`      let a${q} = As[k * ha + ${q}u * WY + lid.y];`);
  for (let p = 0; p < 4; p++) fma.push(`      let b${p} = Bs[k * hb + ${p}u * WX + lid.x];`);
  for (let r = 0; r < 16; r++) {
    const q = r >> 2, lane = r & 3;
    for (let p = 0; p < 4; p++) {
      const c = `c${r}_${p}`;
      acc.push(`  var ${c} = vec4<f32>(0.0);`);
      fma.push(`      ${c} = fma(vec4<f32>(a${q}.${lanes[lane]}), b${p}, ${c});`);
      store.push(`      case ${r * 4 + p}u: {\n        v = ${c};\n      }`);
    }
  }
  const out = src.replace(/^ *\/\/@ACC$/m, acc.join("\n")).replace(/^ *\/\/@FMA$/m, fma.join("\n"))
    .replace(/^ *\/\/@STORE$/m, storeLoop(store));
  if (/^ *\/\/@/m.test(out)) throw new Error("matmul.wgsl: unexpanded register-tile marker");
  return out;
}

/**
 * The epilogue as one loop over the 64 accumulators (a switch picks each one), so the epilogue code is compiled
 * once instead of 64 times; row r = i / 4, column group p = i % 4.
 */
function storeLoop(cases: string[]): string {
  return [
    "  for (var i = 0u; i < 64u; i++) {",
    "    var v = vec4<f32>(0.0);",
    "    switch i {",
    ...cases,
    "      default: {",
    "      }",
    "    }",
    "    let r = i / 4u;",
    "    store4(m0 + (r / 4u) * 4u * WY + 4u * lid.y + r % 4u, n0 + (i % 4u) * 4u * WX + 4u * lid.x, v, wid.z);",
    "  }",
  ].join("\n");
}

const MATMUL_WGSL = ACTIVATION_WGSL + expandRegisterTile(mainSrc);
const REDUCE_WGSL = ACTIVATION_WGSL + reduceSrc;

/** A matrix inside a tensor: elements start at `offset` (default 0). */
export interface MatRef {
  tensor: Tensor;
  offset?: number;
}
/** A tensor (offset 0) or a tensor plus element offset. */
export type MatArg = Tensor | MatRef;

export interface MatmulArgs {
  /** op(A) is [m, k]: A is stored [m, k], or [k, m] when `transA`. */
  a: MatArg;
  /** op(B) is [k, n]: B is stored [k, n], or [n, k] when `transB`. */
  b: MatArg;
  /** Output [m, n]. */
  c: MatArg;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** Adds the old contents of C (C += op(A)·op(B)). */
  accumulate?: boolean;
  /** Bias [n] added to every row. */
  bias?: MatArg;
  /** Activation applied to the result (after accumulate and bias). */
  activation?: Activation;
  /**
   * Multiplies the result by the derivative of `activation`, evaluated through that activation's saved output
   * `output` [m, n] (backward through an activation). Not combinable with `activation`.
   */
  gradOf?: { activation: Activation; output: MatArg };
  /** Number of k-splits; "auto" (default) splits long reductions over few output tiles. */
  splitK?: number | "auto";
}

/** A matrix bound as a buffer range plus the element offset of its first element inside that range. */
export interface Bound {
  binding: Binding;
  /** Element offset of the matrix inside the bound range. */
  offset: number;
}

const dummies = new WeakMap<Gpu, Tensor>();
const scratches = new WeakMap<Gpu, Tensor>();

function tensorOf(m: MatArg): Tensor {
  return m instanceof Tensor ? m : m.tensor;
}

/**
 * Binds elements [offset, offset + count) of `m` as a range aligned to the device's offset alignment; throws a
 * clear error when the range is over the storage binding limit.
 */
export function bindRange(gpu: Gpu, m: MatArg, count: number, what: string): Bound {
  const t = tensorOf(m);
  const offset = m instanceof Tensor ? 0 : m.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset + count > t.size) {
    throw new Error(
      `matmul: ${what} needs elements [${offset}, ${offset + count}) but ${t.label} has ${t.size}`,
    );
  }
  if (t.dtype !== "f32") throw new Error(`matmul: ${what} (${t.label}) must be f32, is ${t.dtype}`);
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const startByte = Math.floor((offset * 4) / align) * align;
  const endByte = Math.max(startByte + 4, (offset + count) * 4);
  const size = endByte - startByte;
  if (size > gpu.limits.maxStorageBufferBindingSize) {
    throw new Error(
      `matmul: ${what} spans ${size} bytes, over the device's storage binding limit ` +
        `${gpu.limits.maxStorageBufferBindingSize}; split the work into smaller chunks`,
    );
  }
  return { binding: { buffer: t.buffer, offset: startByte, size }, offset: offset - startByte / 4 };
}

/** The bound range seen as whole vec4s (the range rounded down to 16 bytes), or the dummy when under 16 bytes. */
function vec4View(gpu: Gpu, b: Bound): Binding {
  const r = b.binding;
  if (r instanceof Tensor || r instanceof GPUBuffer || r.size === undefined || r.size < 16) return dummy(gpu);
  return { buffer: r.buffer, offset: r.offset, size: Math.floor(r.size / 16) * 16 };
}

function dummy(gpu: Gpu): Tensor {
  let d = dummies.get(gpu);
  if (!d) {
    d = Tensor.empty(gpu, [4], "f32", "matmul.unused");
    dummies.set(gpu, d);
  }
  return d;
}

/** A scratch tensor of at least `n` elements, reused between calls (work is ordered, so reuse is safe). */
function scratch(gpu: Gpu, n: number): Tensor {
  let s = scratches.get(gpu);
  if (!s || s.size < n) {
    s?.destroy();
    s = Tensor.empty(gpu, [Math.max(n, 1 << 16)], "f32", "matmul.scratch");
    scratches.set(gpu, s);
  }
  return s;
}

const BK = 8;

/**
 * Workgroup shape for an output of width n: each invocation computes 16 x 16 outputs, so the tile is 16 WY rows
 * by 16 WX columns. Narrower outputs (a 3-wide output layer, width-64 layers) get narrower, taller tiles instead
 * of mostly empty ones; only three shapes exist, to keep the number of compiled pipelines small.
 */
export function tileShape(n: number): { WX: number; WY: number; BM: number; BN: number } {
  const WX = n > 64 ? 8 : n > 16 ? 4 : 1;
  const WY = WX === 8 ? 8 : WX === 4 ? 8 : 16;
  return { WX, WY, BM: 16 * WY, BN: 16 * WX };
}

function checkDims(a: MatmulArgs): void {
  for (const [name, v] of [["m", a.m], ["n", a.n], ["k", a.k]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`matmul: ${name} must be a non-negative integer, got ${v}`);
    }
  }
  if (a.activation && a.gradOf) throw new Error("matmul: activation and gradOf cannot be combined");
}

/** The split count used for a product of this shape (1 = no split). */
export function chooseSplitK(m: number, n: number, k: number): number {
  const { BM, BN } = tileShape(n);
  const tiles = Math.ceil(m / BM) * Math.ceil(n / BN);
  if (tiles >= 64 || k < 1024) return 1;
  return Math.max(1, Math.min(Math.ceil(64 / tiles), Math.floor(k / 512), 256));
}

/** Records C = epilogue(op(A) · op(B)) into the shared encoder. */
export function matmul(gpu: Gpu, args: MatmulArgs): void {
  checkDims(args);
  const { m, n, k } = args;
  if (m === 0 || n === 0) return;
  const { WX, WY, BM, BN } = tileShape(n);
  const gridX = Math.ceil(n / BN), gridY = Math.ceil(m / BM);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (gridY > maxDim || gridX > maxDim) {
    throw new Error(
      `matmul: [${m}, ${n}] output needs more than ${maxDim} workgroups per dimension; chunk it`,
    );
  }
  let splits = args.splitK === undefined || args.splitK === "auto" ? chooseSplitK(m, n, k) : args.splitK;
  if (!Number.isInteger(splits) || splits < 1) throw new Error(`matmul: splitK must be a positive integer`);
  const kPerSplit = Math.max(BK, Math.ceil(Math.ceil(k / splits) / BK) * BK);
  splits = Math.max(1, Math.ceil(k / kPerSplit));

  const act = args.activation ?? args.gradOf?.activation ?? { kind: "identity" };
  const beta = activationBeta(act);
  const A = bindRange(gpu, args.a, m * k, "A");
  const B = bindRange(gpu, args.b, k * n, "B");
  const bias = args.bias ? bindRange(gpu, args.bias, n, "bias") : { binding: dummy(gpu), offset: 0 };
  const y = args.gradOf ? bindRange(gpu, args.gradOf.output, m * n, "gradOf.output") : {
    binding: dummy(gpu),
    offset: 0,
  };
  const epilogue = {
    HAS_BIAS: args.bias ? 1 : 0,
    ACCUMULATE: args.accumulate ? 1 : 0,
    ACT: args.activation ? ACTIVATION_CODE[act.kind] : 0,
    DACT: args.gradOf ? ACTIVATION_CODE[act.kind] : 0,
  };
  // vec4 loads when every contiguous row of the stored matrix is a whole number of vec4s and it starts on one
  // (bound ranges start at multiples of 256 bytes, so the in-range offset has the same remainder).
  const vecA = (args.transA ? m : k) % 4 === 0 && A.offset % 4 === 0;
  const vecB = (args.transB ? k : n) % 4 === 0 && B.offset % 4 === 0;
  const flags = {
    WX,
    WY,
    BK,
    TRANS_A: args.transA ? 1 : 0,
    TRANS_B: args.transB ? 1 : 0,
    VEC_A: vecA ? 1 : 0,
    VEC_B: vecB ? 1 : 0,
  };
  const A4 = vecA ? vec4View(gpu, A) : dummy(gpu);
  const B4 = vecB ? vec4View(gpu, B) : dummy(gpu);
  const label = `matmul${args.transA ? "_tA" : ""}${args.transB ? "_tB" : ""}`;

  if (splits === 1) {
    const C = bindRange(gpu, args.c, m * n, "C");
    const pipe = gpu.pipeline(MATMUL_WGSL, "main", { ...flags, ...epilogue, SPLIT: 0 }, label);
    dispatch(gpu, pipe, {
      bindings: [
        A.binding,
        B.binding,
        C.binding,
        bias.binding,
        y.binding,
        uniforms(gpu, [m, n, k, A.offset, B.offset, C.offset, bias.offset, y.offset, kPerSplit, {
          f32: beta,
        }]),
        A4,
        B4,
      ],
      workgroups: [gridX, gridY, splits],
    });
    return;
  }
  // Split-K: raw partial products [splits, m, n] into scratch, then a deterministic sum with the epilogue.
  const part = scratch(gpu, splits * m * n);
  const pipe = gpu.pipeline(
    MATMUL_WGSL,
    "main",
    { ...flags, HAS_BIAS: 0, ACCUMULATE: 0, ACT: 0, DACT: 0, SPLIT: 1 },
    `${label}_split`,
  );
  const d = dummy(gpu);
  dispatch(gpu, pipe, {
    bindings: [
      A.binding,
      B.binding,
      part,
      d,
      d,
      uniforms(gpu, [m, n, k, A.offset, B.offset, 0, 0, 0, kPerSplit, {
        f32: 1,
      }]),
      A4,
      B4,
    ],
    workgroups: [gridX, gridY, splits],
  });
  sumRows(gpu, { x: part, rows: splits, width: m * n, out: args.c, ...epilogue, n, bias, y, beta });
}

interface SumRowsArgs {
  x: MatArg;
  rows: number;
  width: number;
  out: MatArg;
  n: number;
  HAS_BIAS: number;
  ACCUMULATE: number;
  ACT: number;
  DACT: number;
  bias: Bound;
  y: Bound;
  beta: number;
}

/** Records out[i] = epilogue(sum_r x[r, i]) in one pass (rows summed sequentially per output element). */
function sumRows(gpu: Gpu, s: SumRowsArgs): void {
  const X = bindRange(gpu, s.x, s.rows * s.width, "rows");
  const O = bindRange(gpu, s.out, s.width, "output");
  const pipe = gpu.pipeline(
    REDUCE_WGSL,
    "main",
    { HAS_BIAS: s.HAS_BIAS, ACCUMULATE: s.ACCUMULATE, ACT: s.ACT, DACT: s.DACT, EPILOGUE: 1 },
    "matmul_reduce",
  );
  dispatch(gpu, pipe, {
    bindings: [
      X.binding,
      O.binding,
      s.bias.binding,
      s.y.binding,
      uniforms(gpu, [s.rows, s.width, s.n, s.rows, X.offset, O.offset, s.bias.offset, s.y.offset, {
        f32: s.beta,
      }]),
    ],
    workgroups: [Math.ceil(s.width / 64), 1, 1],
  });
}

/**
 * Records out[n] (+)= sum over rows of x[rows, n] — the bias gradient of a layer from its output gradient.
 * Deterministic: fixed row chunks are summed, then the chunk sums.
 */
export function columnSum(
  gpu: Gpu,
  args: { x: MatArg; rows: number; cols: number; out: MatArg; accumulate?: boolean },
): void {
  const { rows, cols } = args;
  if (cols === 0) return;
  const d: Bound = { binding: dummy(gpu), offset: 0 };
  const common = { n: cols, HAS_BIAS: 0, ACT: 0, DACT: 0, bias: d, y: d, beta: 1 };
  const rowsPer = 256;
  const chunks = Math.ceil(rows / rowsPer);
  if (chunks <= 1) {
    sumRows(gpu, {
      ...common,
      x: args.x,
      rows,
      width: cols,
      out: args.out,
      ACCUMULATE: args.accumulate ? 1 : 0,
    });
    return;
  }
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (chunks > maxDim) throw new Error(`columnSum: ${rows} rows exceed ${maxDim * rowsPer}; chunk them`);
  const part = scratch(gpu, chunks * cols);
  const X = bindRange(gpu, args.x, rows * cols, "rows");
  const pipe = gpu.pipeline(
    REDUCE_WGSL,
    "main",
    { HAS_BIAS: 0, ACCUMULATE: 0, ACT: 0, DACT: 0, EPILOGUE: 0 },
    "column_sum",
  );
  dispatch(gpu, pipe, {
    bindings: [
      X.binding,
      part,
      d.binding,
      d.binding,
      uniforms(gpu, [rows, cols, cols, rowsPer, X.offset, 0, 0, 0, {
        f32: 1,
      }]),
    ],
    workgroups: [Math.ceil(cols / 64), chunks, 1],
  });
  sumRows(gpu, {
    ...common,
    x: part,
    rows: chunks,
    width: cols,
    out: args.out,
    ACCUMULATE: args.accumulate ? 1 : 0,
  });
}
