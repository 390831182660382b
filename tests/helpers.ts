/** Shared test helpers: the one GPU device of each test file and numeric comparisons. */
import assert from "node:assert/strict";
import { type Gpu, sharedGpu } from "../gpu/device.ts";

let acquired: Promise<Gpu> | null = null;

/**
 * The test file's device (acquired once per file: `deno test` runs each file in its own isolate). It is
 * destroyed explicitly when the file's tests end, so its GPU memory and driver objects are released in order
 * while the isolate is alive instead of by finalizers during isolate teardown.
 */
export function testGpu(): Promise<Gpu> {
  if (!acquired) {
    acquired = sharedGpu();
    let live: Gpu | null = null;
    acquired.then((g) => (live = g), () => (acquired = null));
    // Unload listeners run synchronously, so the device is captured once it resolves.
    globalThis.addEventListener("unload", () => live?.destroy());
  }
  return acquired;
}

/** Largest |a[i] - b[i]| over the arrays (which must have equal length). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "length mismatch");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| element-wise; the message names the worst element.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { atol?: number; rtol?: number; what?: string } = {},
): void {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-5;
  assert.equal(actual.length, expected.length, `${opts.what ?? "array"}: length mismatch`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    const d = Math.abs(actual[i] - expected[i]);
    const excess = Number.isNaN(d) ? Infinity : d - tol;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${opts.what ?? "array"}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${atol}, rtol ${rtol})`,
    );
  }
}
