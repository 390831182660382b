import assert from "node:assert/strict";
import { exclusiveScan, exclusiveScanCpu } from "../gpu/scan.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { testGpu } from "./helpers.ts";

function firstMismatch(a: Uint32Array, b: Uint32Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function assertEqualU32(actual: Uint32Array, expected: Uint32Array, what: string): void {
  const i = firstMismatch(actual, expected);
  if (i >= 0) assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

Deno.test("scan: exclusive prefix sum matches the CPU reference across block boundaries", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11);
  const sizes = [1, 2, 255, 256, 257, 1000, 2047, 2048, 2049, 4096, 7919, 65537, 2048 * 2048 + 3];
  for (const n of sizes) {
    const data = rng.uints(n, 1000);
    const input = Tensor.from(gpu, data), output = Tensor.empty(gpu, [n], "u32");
    exclusiveScan(gpu, input, output);
    assertEqualU32(await output.read() as Uint32Array, exclusiveScanCpu(data), `n=${n}`);
    assertEqualU32(await input.read() as Uint32Array, data, `n=${n} input untouched`);
    input.destroy();
    output.destroy();
  }
});

Deno.test("scan: in place, with count < size, with a pool, and wrapping modulo 2^32", async () => {
  const gpu = await testGpu();
  const rng = new Rng(12);
  const pool = new TensorPool(gpu);
  for (const n of [3, 2049, 100003]) {
    const data = rng.uints(n); // full 32-bit values: the running sum wraps many times
    const t = Tensor.from(gpu, data);
    exclusiveScan(gpu, t, t, { pool });
    assertEqualU32(await t.read() as Uint32Array, exclusiveScanCpu(data), `in place n=${n}`);
    t.destroy();
  }
  const n = 5000, count = 4099;
  const data = rng.uints(n, 50);
  const input = Tensor.from(gpu, data), output = Tensor.from(gpu, new Uint32Array(n).fill(7));
  exclusiveScan(gpu, input, output, { count, pool });
  const got = await output.read() as Uint32Array;
  assertEqualU32(got.subarray(0, count), exclusiveScanCpu(data, count), "count < size");
  assert.ok(got.subarray(count).every((v) => v === 7), "elements past count are untouched");
  pool.clear();
  await gpu.sync();
});
