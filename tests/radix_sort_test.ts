import assert from "node:assert/strict";
import { radixSort, radixSortCpu } from "../gpu/radix_sort.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { testGpu } from "./helpers.ts";

function assertEqualU32(actual: Uint32Array, expected: Uint32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Checks sortedness by the masked key and that values (original indices) form a stable permutation. */
function assertStableSorted(
  keysIn: Uint32Array,
  keys: Uint32Array,
  vals: Uint32Array,
  bits: number,
  what: string,
) {
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  const seen = new Uint8Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = vals[i];
    assert.ok(v < keys.length && !seen[v], `${what}: values are not a permutation at ${i}`);
    seen[v] = 1;
    assert.equal(keys[i], keysIn[v], `${what}: key ${i} did not move with its value`);
    if (i > 0) {
      const a = (keys[i - 1] & mask) >>> 0, b = (keys[i] & mask) >>> 0;
      assert.ok(a <= b, `${what}: not sorted at ${i} (${a} > ${b})`);
      if (a === b) assert.ok(vals[i - 1] < v, `${what}: equal keys out of input order at ${i}`);
    }
  }
}

async function sortCase(n: number, bits: number, keyBound: number, seed: number, pool?: TensorPool) {
  const gpu = await testGpu();
  const rng = new Rng(seed);
  const keysIn = rng.uints(n, keyBound);
  const idx = Uint32Array.from({ length: n }, (_, i) => i);
  const k = Tensor.from(gpu, keysIn), v = Tensor.from(gpu, idx);
  radixSort(gpu, k, v, { bits, pool });
  const keys = await k.read() as Uint32Array, vals = await v.read() as Uint32Array;
  const what = `n=${n} bits=${bits} bound=${keyBound}`;
  assertStableSorted(keysIn, keys, vals, bits, what);
  const ref = radixSortCpu(keysIn, idx, bits);
  assertEqualU32(keys, ref.keys, `${what} keys`);
  assertEqualU32(vals, ref.values, `${what} values`);
  k.destroy();
  v.destroy();
}

Deno.test("radix sort: stable, matches the CPU reference across tile boundaries (32 bits)", async () => {
  for (const n of [1, 2, 255, 256, 257, 2047, 2048, 2049, 7919, 40009]) await sortCase(n, 32, 2 ** 32, n);
});

Deno.test("radix sort: few distinct keys (many ties) and short keys (bits 4, 13, 1)", async () => {
  await sortCase(10007, 4, 16, 1);
  await sortCase(10007, 4, 2 ** 32, 2); // higher bits are ignored, so ties are decided by input order
  await sortCase(30011, 13, 2 ** 13, 3);
  await sortCase(30011, 13, 2 ** 32, 4);
  await sortCase(4099, 1, 2 ** 32, 5);
  await sortCase(20000, 32, 7, 6);
});

Deno.test("radix sort: count < size leaves the tail alone; pool temporaries; odd pass count copies back", async () => {
  const gpu = await testGpu();
  const pool = new TensorPool(gpu);
  const rng = new Rng(21);
  const n = 9000, count = 6001;
  const keysIn = rng.uints(n, 1 << 20);
  const idx = Uint32Array.from({ length: n }, (_, i) => i);
  const k = Tensor.from(gpu, keysIn), v = Tensor.from(gpu, idx);
  radixSort(gpu, k, v, { count, bits: 20, pool }); // 5 passes: result must be copied back from the temporaries
  const keys = await k.read() as Uint32Array, vals = await v.read() as Uint32Array;
  const ref = radixSortCpu(keysIn, idx, 20, count);
  assertEqualU32(keys.subarray(0, count), ref.keys, "keys");
  assertEqualU32(vals.subarray(0, count), ref.values, "values");
  assertEqualU32(keys.subarray(count), keysIn.subarray(count), "key tail");
  assertEqualU32(vals.subarray(count), idx.subarray(count), "value tail");
  await sortCase(12345, 9, 2 ** 32, 22, pool);
  pool.clear();
  await gpu.sync();
});

Deno.test("radix sort: 2M keys, 24 bits", async () => {
  await sortCase(2_000_003, 24, 2 ** 32, 31);
});
