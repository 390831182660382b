import assert from "node:assert/strict";
import type { Activation } from "../gpu/activation.ts";
import { columnSum, matmul } from "../gpu/matmul.ts";
import { matmulCpu } from "../gpu/matmul_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assertClose, testGpu } from "./helpers.ts";

// Inputs are uniform in [-1, 1]; f32 accumulation over k <= 4000 terms stays well inside this tolerance, while
// any indexing or edge-tile mistake produces errors of order 0.1 or more.
const TOL = { atol: 2e-4, rtol: 1e-4 };

const LAYOUTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

Deno.test("matmul: all layouts match the CPU on sizes straddling tile edges (1, primes, 255-257, non-square)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11);
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [1, 257, 3],
    [255, 256, 257],
    [257, 255, 64],
    [37, 61, 13],
    [127, 3, 509],
    [64, 128, 8],
    // narrow outputs (n <= 16) use narrower, taller tiles
    [200, 13, 70],
    [65, 30, 9],
    [130, 9, 33],
    // multiples of 4 (vec4 loads) that are not tile multiples, and mixed vec4 / scalar operands
    [132, 68, 260],
    [36, 260, 12],
    [70, 36, 44],
    [4, 4, 4],
  ];
  for (const [m, n, k] of sizes) {
    for (const [transA, transB] of LAYOUTS) {
      if (transA && transB && m > 200) continue;
      const a = rng.floats(m * k), b = rng.floats(k * n);
      const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tc = Tensor.empty(gpu, [m * n]);
      matmul(gpu, { a: ta, b: tb, c: tc, m, n, k, transA, transB });
      const what = `[${m}x${k}]·[${k}x${n}] transA=${transA} transB=${transB}`;
      assertClose(await tc.read(), matmulCpu(a, b, m, n, k, { transA, transB }), { ...TOL, what });
      for (const t of [ta, tb, tc]) t.destroy();
    }
  }
});

Deno.test("matmul: bias, accumulate and every activation in the fused epilogue", async () => {
  const gpu = await testGpu();
  const rng = new Rng(12);
  const [m, n, k] = [67, 130, 45];
  const acts: Activation[] = [
    { kind: "identity" },
    { kind: "relu" },
    { kind: "softplus", beta: 100 },
    { kind: "softplus", beta: 1 },
    { kind: "tanh" },
    { kind: "sigmoid" },
  ];
  for (const activation of acts) {
    for (const transB of [false, true]) {
      const a = rng.floats(m * k), b = rng.floats(k * n), bias = rng.floats(n), old = rng.floats(m * n);
      const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tbias = Tensor.from(gpu, bias);
      const tc = Tensor.from(gpu, old);
      matmul(gpu, { a: ta, b: tb, c: tc, m, n, k, transB, bias: tbias, accumulate: true, activation });
      const expect = matmulCpu(a, b, m, n, k, { transB, bias, accumulate: old, activation });
      assertClose(await tc.read(), expect, { ...TOL, what: `${activation.kind} transB=${transB}` });
      for (const t of [ta, tb, tc, tbias]) t.destroy();
    }
  }
});

Deno.test("matmul: gradOf multiplies by the activation derivative taken from the saved output", async () => {
  const gpu = await testGpu();
  const rng = new Rng(13);
  const [m, n, k] = [70, 33, 19];
  const acts: Activation[] = [
    { kind: "relu" },
    { kind: "softplus", beta: 10 },
    { kind: "tanh" },
    { kind: "sigmoid" },
  ];
  for (const act of acts) {
    const a = rng.floats(m * k), b = rng.floats(n * k);
    const z = rng.floats(m * n, -3, 3);
    const yv = matmulCpu(z, new Float32Array([1]), m * n, 1, 1, { activation: act });
    const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tc = Tensor.empty(gpu, [m * n]);
    const ty = Tensor.from(gpu, new Float32Array(yv));
    matmul(gpu, { a: ta, b: tb, c: tc, m, n, k, transB: true, gradOf: { activation: act, output: ty } });
    const prod = matmulCpu(a, b, m, n, k, { transB: true });
    const expect = prod.map((v, i) => {
      // derivative at the pre-activation z (the kernel only sees the f32 output y)
      const zi = z[i];
      const d = act.kind === "relu"
        ? (zi > 0 ? 1 : 0)
        : act.kind === "tanh"
        ? 1 - Math.tanh(zi) ** 2
        : act.kind === "sigmoid"
        ? (1 / (1 + Math.exp(-zi))) * (1 - 1 / (1 + Math.exp(-zi)))
        : 1 / (1 + Math.exp(-10 * zi));
      return v * d;
    });
    assertClose(await tc.read(), expect, { atol: 5e-4, rtol: 1e-3, what: `gradOf ${act.kind}` });
    for (const t of [ta, tb, tc, ty]) t.destroy();
  }
});

Deno.test("matmul: split-K (forced and automatic) with bias and accumulate equals the CPU", async () => {
  const gpu = await testGpu();
  const rng = new Rng(14);
  for (
    const [m, n, k, splitK, transA] of [
      [9, 70, 1000, 3, false],
      [5, 7, 4000, "auto", true],
      [64, 64, 2053, "auto", true],
    ] as const
  ) {
    const a = rng.floats(m * k), b = rng.floats(k * n), bias = rng.floats(n), old = rng.floats(m * n);
    const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tbias = Tensor.from(gpu, bias);
    const tc = Tensor.from(gpu, old);
    matmul(gpu, { a: ta, b: tb, c: tc, m, n, k, transA, bias: tbias, accumulate: true, splitK });
    const expect = matmulCpu(a, b, m, n, k, { transA, bias, accumulate: old });
    assertClose(await tc.read(), expect, { atol: 1e-3, rtol: 1e-4, what: `split ${splitK} k=${k}` });
    for (const t of [ta, tb, tc, tbias]) t.destroy();
  }
});

Deno.test("matmul: matrices at unaligned element offsets inside larger tensors; neighbours untouched", async () => {
  const gpu = await testGpu();
  const rng = new Rng(15);
  const [m, n, k] = [33, 17, 29];
  const a = rng.floats(m * k + 20), b = rng.floats(k * n + 300), bias = rng.floats(n + 5);
  const c0 = rng.floats(m * n + 90);
  const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tbias = Tensor.from(gpu, bias);
  const tc = Tensor.from(gpu, c0);
  matmul(gpu, {
    a: { tensor: ta, offset: 13 },
    b: { tensor: tb, offset: 271 },
    c: { tensor: tc, offset: 70 },
    bias: { tensor: tbias, offset: 3 },
    m,
    n,
    k,
  });
  const got = await tc.read();
  const expect = matmulCpu(a.subarray(13), b.subarray(271), m, n, k, { bias: bias.subarray(3) });
  assertClose(got.subarray(70, 70 + m * n), expect, { ...TOL, what: "offset product" });
  assert.deepEqual(got.subarray(0, 70), c0.subarray(0, 70), "elements before C changed");
  assert.deepEqual(got.subarray(70 + m * n), c0.subarray(70 + m * n), "elements after C changed");
  for (const t of [ta, tb, tc, tbias]) t.destroy();
});

Deno.test("matmul: vec4 loads from matrices at offsets that are multiples of 4 elements", async () => {
  const gpu = await testGpu();
  const rng = new Rng(17);
  const [m, n, k] = [68, 36, 20];
  for (const [transA, transB] of LAYOUTS) {
    const a = rng.floats(m * k + 16), b = rng.floats(k * n + 300), c0 = rng.floats(m * n + 80);
    const ta = Tensor.from(gpu, a), tb = Tensor.from(gpu, b), tc = Tensor.from(gpu, c0);
    matmul(gpu, {
      a: { tensor: ta, offset: 16 },
      b: { tensor: tb, offset: 276 },
      c: { tensor: tc, offset: 68 },
      m,
      n,
      k,
      transA,
      transB,
    });
    const got = await tc.read();
    const expect = matmulCpu(a.subarray(16), b.subarray(276), m, n, k, { transA, transB });
    assertClose(got.subarray(68, 68 + m * n), expect, {
      ...TOL,
      what: `aligned offsets tA=${transA} tB=${transB}`,
    });
    for (const t of [ta, tb, tc]) t.destroy();
  }
});

Deno.test("columnSum: sums rows (one and several chunks), overwrite and accumulate", async () => {
  const gpu = await testGpu();
  const rng = new Rng(16);
  for (const [rows, cols, accumulate] of [[1, 5, false], [1000, 70, true], [257, 3, false]] as const) {
    const x = rng.floats(rows * cols), old = rng.floats(cols);
    const tx = Tensor.from(gpu, x), to = Tensor.from(gpu, old);
    columnSum(gpu, { x: tx, rows, cols, out: to, accumulate });
    const expect = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      let s = accumulate ? old[j] : 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + j];
      expect[j] = s;
    }
    assertClose(await to.read(), expect, { atol: 1e-4, rtol: 1e-5, what: `columnSum ${rows}x${cols}` });
    tx.destroy();
    to.destroy();
  }
});
