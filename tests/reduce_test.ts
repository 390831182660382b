import assert from "node:assert/strict";
import { reduce, reduceCpu, type ReduceOp, reduceToNumber } from "../gpu/reduce.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { testGpu } from "./helpers.ts";

// Tolerance: |gpu - float64| <= REL * sum(|x_i|) (for max: exact). Pairwise f32 summation errs by about
// eps * log2(n) * sum|x|, so 2e-6 holds with margin to 10M+; a sequential f32 loop misses it on the
// 3M case below (relative error 1.5e-5), so the test tells the two apart.
const REL = 2e-6;

function check(got: number, data: Float32Array, op: ReduceOp, count: number, what: string): void {
  const want = reduceCpu(data, op, count);
  if (op === "max") {
    assert.equal(got, want, `${what}: max`);
    return;
  }
  let scale = op === "sumsq" ? reduceCpu(data, "sumsq", count) : 0;
  if (op !== "sumsq") { for (let i = 0; i < count; i++) scale += Math.abs(data[i]); }
  if (op === "mean") scale /= count;
  const tol = REL * scale + 1e-30;
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${op} is ${got}, float64 gives ${want} (tol ${tol})`);
}

Deno.test("reduce: sum, mean, max, sumsq match float64 across block boundaries", async () => {
  const gpu = await testGpu();
  const rng = new Rng(5);
  for (const n of [1, 2, 255, 256, 257, 2047, 2048, 2049, 7919, 2048 * 2048 + 1]) {
    const data = rng.floats(n, -3, 2);
    const t = Tensor.from(gpu, data);
    const out = Tensor.empty(gpu, [4]);
    const ops: ReduceOp[] = ["sum", "mean", "max", "sumsq"];
    ops.forEach((op, i) => reduce(gpu, t, op, out, { outOffset: i }));
    const got = await out.read();
    ops.forEach((op, i) => check(got[i], data, op, n, `n=${n}`));
    t.destroy();
    out.destroy();
  }
});

Deno.test("reduce: 3M positive values keep relative accuracy; count < size; reduceToNumber", async () => {
  const gpu = await testGpu();
  const rng = new Rng(6);
  const n = 3_000_017;
  const data = rng.floats(n, 0, 1);
  const t = Tensor.from(gpu, data);
  const sum = await reduceToNumber(gpu, t, "sum");
  check(sum, data, "sum", n, "3M");
  const want = reduceCpu(data, "sum");
  assert.ok(Math.abs(sum - want) / want < REL, "relative error of a positive sum");
  check(await reduceToNumber(gpu, t, "sumsq"), data, "sumsq", n, "3M");
  const out = Tensor.empty(gpu, [1]);
  reduce(gpu, t, "max", out, { count: 1000 });
  assert.equal((await out.read())[0], reduceCpu(data, "max", 1000), "max of the first 1000");
  reduce(gpu, t, "mean", out, { count: 4097 });
  check((await out.read())[0], data, "mean", 4097, "mean of the first 4097");
  t.destroy();
  out.destroy();
});

Deno.test("reduce: empty range gives the identities (0, -inf, NaN for mean)", async () => {
  const gpu = await testGpu();
  const t = Tensor.from(gpu, new Float32Array([5, 6]));
  const out = Tensor.empty(gpu, [3]);
  reduce(gpu, t, "sum", out, { count: 0, outOffset: 0 });
  reduce(gpu, t, "max", out, { count: 0, outOffset: 1 });
  reduce(gpu, t, "mean", out, { count: 0, outOffset: 2 });
  const got = await out.read();
  assert.equal(got[0], 0);
  assert.equal(got[1], -Infinity);
  assert.ok(Number.isNaN(got[2]));
});
