/**
 * Stable LSD radix sort of u32 keys with a u32 payload (e.g. original indices for an argsort), in place.
 * Each pass sorts by 4 key bits: a per-tile digit histogram, an exclusive scan of the digit-major histogram (which
 * yields every tile's output offset per digit), and a stable scatter. Only the low `bits` key bits are sorted on,
 * so short keys need fewer passes: `ceil(bits / 4)`.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { exclusiveScan } from "./scan.ts";
import { Tensor, type TensorPool } from "./tensor.ts";
import src from "./radix_sort.wgsl" with { type: "text" };

/** Elements handled by one workgroup per pass. */
export const SORT_TILE = 256 * 8;
/** Key bits consumed per pass. */
export const BITS_PER_PASS = 4;
const RADIX = 1 << BITS_PER_PASS;

export interface RadixSortOptions {
  /** Number of leading elements to sort (default keys.size); the rest are left untouched. */
  count?: number;
  /** Number of low key bits that matter, 1..32 (default 32). Higher bits are ignored for ordering. */
  bits?: number;
  /** Where temporaries come from; without one they are created and destroyed after the next submit. */
  pool?: TensorPool;
  /**
   * A GPU-side element count: only the first min(count, countFrom.tensor[countFrom.index]) elements are sorted,
   * so a count computed on the GPU needs no read-back (`count` is then the capacity; elements between the GPU
   * count and `count` are unspecified afterwards).
   */
  countFrom?: { tensor: Tensor; index: number };
  /**
   * Indirect dispatch arguments (3 u32 at `offset` bytes of a buffer with INDIRECT usage) giving the workgroups
   * per pass, ceil(GPU count / SORT_TILE) as (x, 1, 1); only with `countFrom`.
   */
  indirect?: { buffer: GPUBuffer; offset: number };
}

const noCount = new WeakMap<Gpu, Tensor>();

/** A one-element u32 tensor holding 0xffffffff (no GPU-side count), made once per device. */
function allCount(gpu: Gpu): Tensor {
  let t = noCount.get(gpu);
  if (!t) noCount.set(gpu, t = Tensor.from(gpu, new Uint32Array([0xffffffff]), [1], "radix.noCount"));
  return t;
}

/**
 * Records a stable sort of the first `count` `keys` (u32) by their low `bits` bits, moving `values` (u32) along.
 * The result ends in `keys` and `values`; equal keys keep their input order.
 */
export function radixSort(gpu: Gpu, keys: Tensor, values: Tensor, opts: RadixSortOptions = {}): void {
  const n = opts.count ?? keys.size;
  const bits = opts.bits ?? 32;
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) {
    throw new Error(`radixSort: bits ${bits} not in 1..32`);
  }
  if (!Number.isInteger(n) || n < 0) throw new Error(`radixSort: invalid count ${n}`);
  if (keys.dtype !== "u32" || values.dtype !== "u32") {
    throw new Error("radixSort: keys and values must be u32");
  }
  if (keys.size < n || values.size < n) {
    throw new Error(`radixSort: count ${n} exceeds keys (${keys.size}) or values (${values.size})`);
  }
  if (keys.buffer === values.buffer) throw new Error("radixSort: keys and values must be different tensors");
  if (opts.indirect && !opts.countFrom) throw new Error("radixSort: indirect needs countFrom");
  if (n <= 1) return;
  const pool = opts.pool;
  const nb = Math.ceil(n / SORT_TILE);
  const temp = (m: number, label: string) =>
    pool ? pool.acquire([m], "u32", label) : Tensor.empty(gpu, [m], "u32", label);
  const hist = temp(RADIX * nb, "radix histogram");
  const tmpK = temp(n, "radix keys"), tmpV = temp(n, "radix values");
  const histPipe = gpu.pipeline(src, "histogram", {}, "radix histogram");
  const scatterPipe = gpu.pipeline(src, "scatter", {}, "radix scatter");
  const countT = opts.countFrom?.tensor ?? allCount(gpu);
  const countIndex = opts.countFrom?.index ?? 0;
  let [inK, inV, outK, outV]: Tensor[] = [keys, values, tmpK, tmpV];
  const passes = Math.ceil(bits / BITS_PER_PASS);
  for (let p = 0; p < passes; p++) {
    const shift = p * BITS_PER_PASS;
    const width = Math.min(BITS_PER_PASS, bits - shift);
    const u = uniforms(gpu, [n, shift, (1 << width) - 1, nb, countIndex]);
    if (opts.indirect) hist.zero();
    dispatch(gpu, histPipe, {
      bindings: [inK, hist, u, null, null, null, countT],
      workgroups: nb,
      indirect: opts.indirect,
    });
    exclusiveScan(gpu, hist, hist, { pool });
    dispatch(gpu, scatterPipe, {
      bindings: [inK, hist, u, inV, outK, outV, countT],
      workgroups: nb,
      indirect: opts.indirect,
    });
    [inK, inV, outK, outV] = [outK, outV, inK, inV];
  }
  if (inK !== keys) {
    gpu.encoder.copyBufferToBuffer(inK.buffer, 0, keys.buffer, 0, n * 4);
    gpu.encoder.copyBufferToBuffer(inV.buffer, 0, values.buffer, 0, n * 4);
  }
  hist.destroy();
  tmpK.destroy();
  tmpV.destroy();
}

/** CPU reference: stable sort of (key, value) pairs by `key & mask(bits)`, for the first `count` pairs. */
export function radixSortCpu(
  keys: Uint32Array,
  values: Uint32Array,
  bits = 32,
  count = keys.length,
): { keys: Uint32Array; values: Uint32Array } {
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  const order = Array.from({ length: count }, (_, i) => i);
  // Array.prototype.sort is stable (ES2019), so equal masked keys keep their input order.
  order.sort((a, b) => ((keys[a] & mask) >>> 0) - ((keys[b] & mask) >>> 0));
  return {
    keys: Uint32Array.from(order, (i) => keys[i]),
    values: Uint32Array.from(order, (i) => values[i]),
  };
}
