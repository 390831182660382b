/**
 * Exclusive prefix sum of u32 arrays on the GPU (reduce-then-scan, multi-level): per-block totals, a recursive
 * scan of the totals, then a per-block scan that adds the block offset. Blocks hold 2,048 elements, so 16M
 * elements take three levels. Sums wrap modulo 2^32 like u32 arithmetic.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { Tensor, type TensorPool } from "./tensor.ts";
import src from "./scan.wgsl" with { type: "text" };

const WG = 256;
/** Elements scanned by one workgroup. */
export const SCAN_BLOCK = WG * 8;

export interface ScanOptions {
  /** Number of leading elements to scan (default: input.size). Elements after it are left untouched. */
  count?: number;
  /** Where temporaries come from; without one they are created and destroyed after the next submit. */
  pool?: TensorPool;
}

function temp(gpu: Gpu, n: number, pool: TensorPool | undefined, label: string): Tensor<"u32"> {
  return pool ? pool.acquire([n], "u32", label) : Tensor.empty(gpu, [n], "u32", label);
}

/**
 * Records `output[i] = input[0] + ... + input[i-1]` (u32, `output[0] = 0`) for the first `count` elements into
 * `gpu.encoder`. `input` and `output` may be the same tensor (in-place scan). Both must be u32 tensors holding at
 * least `count` elements.
 */
export function exclusiveScan(gpu: Gpu, input: Tensor, output: Tensor, opts: ScanOptions = {}): void {
  const n = opts.count ?? input.size;
  if (!Number.isInteger(n) || n < 0) throw new Error(`exclusiveScan: invalid count ${n}`);
  if (input.dtype !== "u32" || output.dtype !== "u32") throw new Error("exclusiveScan: tensors must be u32");
  if (input.size < n || output.size < n) {
    throw new Error(`exclusiveScan: count ${n} exceeds input (${input.size}) or output (${output.size})`);
  }
  if (n === 0) return;
  const inPlace = input.buffer === output.buffer;
  const temps: Tensor[] = [];
  scanLevel(gpu, inPlace ? null : input, output, n, opts.pool, temps);
  for (const t of temps) t.destroy();
}

/** Scans `n` elements of `srcT` (or of `dst` in place when `srcT` is null) into `dst`. */
function scanLevel(
  gpu: Gpu,
  srcT: Tensor | null,
  dst: Tensor,
  n: number,
  pool: TensorPool | undefined,
  temps: Tensor[],
): void {
  const nb = Math.ceil(n / SCAN_BLOCK);
  const sums = temp(gpu, nb, pool, "scan block sums");
  temps.push(sums);
  if (nb > 1) {
    dispatch(gpu, gpu.pipeline(src, "reduce_blocks", {}, "scan reduce_blocks"), {
      bindings: [srcT ?? dst, sums, uniforms(gpu, [n, 0])],
      workgroups: nb,
    });
    scanLevel(gpu, null, sums, nb, pool, temps);
  }
  const u = uniforms(gpu, [n, nb > 1 ? 1 : 0]);
  if (srcT) {
    dispatch(gpu, gpu.pipeline(src, "scan_add", {}, "scan scan_add"), {
      bindings: [dst, sums, u, srcT],
      workgroups: nb,
    });
  } else {
    dispatch(gpu, gpu.pipeline(src, "scan_add_inplace", {}, "scan scan_add_inplace"), {
      bindings: [dst, sums, u],
      workgroups: nb,
    });
  }
}

/** CPU reference: exclusive prefix sum modulo 2^32 of the first `count` elements. */
export function exclusiveScanCpu(input: Uint32Array, count = input.length): Uint32Array {
  const out = new Uint32Array(count);
  let acc = 0;
  for (let i = 0; i < count; i++) {
    out[i] = acc;
    acc = (acc + input[i]) >>> 0;
  }
  return out;
}
