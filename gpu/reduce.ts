/**
 * Reductions of f32 tensors to one value (sum, mean, max, sum of squares) with a multi-level tree: workgroups
 * write partial results for blocks of 2,048 values, and the same kernel reduces the partials until one remains.
 * Every level combines pairwise, so a sum's rounding error grows like log(n), not n: arrays of 10M+ values keep
 * about 6-7 significant digits.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { Tensor } from "./tensor.ts";
import src from "./reduce.wgsl" with { type: "text" };

/** Values combined by one workgroup. */
export const REDUCE_BLOCK = 256 * 8;

export type ReduceOp = "sum" | "mean" | "max" | "sumsq";

export interface ReduceOptions {
  /** Number of leading elements to reduce (default input.size). */
  count?: number;
  /** Element of `out` that receives the result (default 0). */
  outOffset?: number;
}

/**
 * Records `out[outOffset] = op(input[0 .. count))` into `gpu.encoder`. For an empty range: sum and sumsq give 0,
 * max gives -Infinity, mean gives NaN.
 */
export function reduce(gpu: Gpu, input: Tensor, op: ReduceOp, out: Tensor, opts: ReduceOptions = {}): void {
  const n = opts.count ?? input.size;
  const outOffset = opts.outOffset ?? 0;
  if (input.dtype !== "f32" || out.dtype !== "f32") throw new Error("reduce: tensors must be f32");
  if (!Number.isInteger(n) || n < 0 || n > input.size) {
    throw new Error(`reduce: count ${n} invalid for input of ${input.size}`);
  }
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset >= out.size) {
    throw new Error(`reduce: outOffset ${outOffset} outside out (${out.size} elements)`);
  }
  const pipe = gpu.pipeline(src, "main", {}, "reduce");
  const combine = op === "max" ? 1 : 0;
  let cur: Tensor = input;
  let m = n;
  let transform = op === "sumsq" ? 1 : 0;
  const temps: Tensor[] = [];
  for (;;) {
    const nb = Math.max(1, Math.ceil(m / REDUCE_BLOCK));
    const last = nb === 1;
    const dst = last ? out : Tensor.empty(gpu, [nb], "f32", "reduce partials");
    const scale = last && op === "mean" ? 1 / n : 1;
    dispatch(gpu, pipe, {
      bindings: [cur, dst, uniforms(gpu, [m, transform, combine, last ? outOffset : 0, { f32: scale }])],
      workgroups: nb,
    });
    if (last) break;
    temps.push(dst);
    cur = dst;
    m = nb;
    transform = 0;
  }
  for (const t of temps) t.destroy();
}

/** Reduces `input` and reads the result back (submits pending work). */
export async function reduceToNumber(gpu: Gpu, input: Tensor, op: ReduceOp): Promise<number> {
  const out = Tensor.empty(gpu, [1], "f32", "reduce result");
  reduce(gpu, input, op, out);
  const v = (await out.read())[0];
  out.destroy();
  return v;
}

/** CPU reference in float64 over the first `count` values. */
export function reduceCpu(input: ArrayLike<number>, op: ReduceOp, count = input.length): number {
  if (op === "max") {
    let m = -Infinity;
    for (let i = 0; i < count; i++) m = Math.max(m, input[i]);
    return m;
  }
  let s = 0;
  for (let i = 0; i < count; i++) s += op === "sumsq" ? input[i] * input[i] : input[i];
  return op === "mean" ? s / count : s;
}
