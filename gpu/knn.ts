/**
 * Exact k-nearest neighbours of 3-D points on the GPU with a uniform grid:
 *
 * 1. one workgroup computes the bounding box and picks cubic cells so that there are about k/2 points per cell
 *    (at most `ceil(2n / k)` cells; flat or thin point sets get fewer, larger cells),
 * 2. points get their cell id and are stably radix-sorted by it (only the bits the cell count needs),
 * 3. an exclusive scan of per-cell counts gives each cell's start in the sorted order,
 * 4. each point searches rings of cells around its own until it holds k neighbours and the k-th distance is
 *    smaller than the distance to any unsearched cell, so the result is exact (not approximate).
 *
 * Everything stays on the GPU (no readback), so the call only records work. Neighbours are sorted by squared
 * distance, ties by index; a point is never its own neighbour, but other points at the same position are (distance
 * 0). When fewer than k other points exist, the missing slots hold index `KNN_NONE` (0xffffffff) and distance
 * +Infinity.
 *
 * The grid spans the box between the 0.2% and 99.8% coordinate quantiles (outliers land in the edge cells, which
 * the search treats as unbounded), so floaters do not inflate the cells. Cost per point is about the number of
 * points in the cells within its k-th distance; a dense clump of more than ~50k points closer together than the
 * cell size (other than exact duplicates, which exit early) degrades towards brute force. On software Vulkan
 * (lavapipe), which stops an invocation after 65,535 loop iterations, that case and n above ~5M give wrong results.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { radixSort } from "./radix_sort.ts";
import { exclusiveScan } from "./scan.ts";
import { Tensor, type TensorPool } from "./tensor.ts";
import gridSrc from "./knn_grid.wgsl" with { type: "text" };
import querySrc from "./knn.wgsl" with { type: "text" };

/** Index written where fewer than k neighbours exist. */
export const KNN_NONE = 0xffffffff;
/** Largest supported k. */
export const KNN_MAX_K = 16;

export interface KnnOptions {
  /** Where temporaries come from; without one they are created and destroyed after the next submit. */
  pool?: TensorPool;
}

export interface KnnResult {
  /** [N, k] u32: neighbour indices, nearest first (ties by index); KNN_NONE when fewer than k exist. */
  indices: Tensor<"u32">;
  /** [N, k] f32: squared distances matching `indices`; +Infinity with KNN_NONE. */
  dist2: Tensor<"f32">;
}

/** Number of grid cells used for `n` points and `k` neighbours (about k/2 points per cell). */
export function knnCellBudget(n: number, k: number): number {
  return Math.max(1, Math.min(1 << 24, Math.ceil((2 * n) / Math.max(k, 2))));
}

/**
 * Records an exact k-nearest-neighbour search over `points` ([N, 3] f32) into `gpu.encoder` and returns new output
 * tensors (the caller owns and destroys them). `k` is 1..16.
 */
export function knn(gpu: Gpu, points: Tensor, k: number, opts: KnnOptions = {}): KnnResult {
  if (!Number.isInteger(k) || k < 1 || k > KNN_MAX_K) {
    throw new Error(`knn: k must be 1..${KNN_MAX_K}, got ${k}`);
  }
  if (points.dtype !== "f32" || points.size % 3 !== 0) {
    throw new Error("knn: points must be an [N, 3] f32 tensor");
  }
  const n = points.size / 3;
  const indices = Tensor.empty(gpu, [n, k], "u32", "knn indices");
  const dist2 = Tensor.empty(gpu, [n, k], "f32", "knn dist2");
  if (n === 0) return { indices, dist2 };
  const pool = opts.pool;
  const temp = (m: number, label: string) =>
    pool ? pool.acquire([m], "u32", label) : Tensor.empty(gpu, [m], "u32", label);
  const maxCells = knnCellBudget(n, k);
  const grid = temp(8, "knn grid");
  const keys = temp(n, "knn cell keys");
  const sorted = temp(n, "knn sorted points");
  const cellStart = temp(maxCells + 1, "knn cell start");
  const u = uniforms(gpu, [n, maxCells]);
  dispatch(gpu, gpu.pipeline(gridSrc, "setup", {}, "knn setup"), {
    bindings: [points, grid, u],
    workgroups: 1,
  });
  dispatch(gpu, gpu.pipeline(gridSrc, "cell_keys", {}, "knn cell_keys"), {
    bindings: [points, grid, u, keys, sorted, cellStart],
    workgroups: Math.ceil(n / 256),
  });
  radixSort(gpu, keys, sorted, { bits: Math.max(1, Math.ceil(Math.log2(maxCells))), pool });
  exclusiveScan(gpu, cellStart, cellStart, { pool });
  dispatch(gpu, gpu.pipeline(querySrc, "main", { K: k }, `knn query k=${k}`), {
    bindings: [points, grid, uniforms(gpu, [n]), sorted, cellStart, indices, dist2],
    workgroups: Math.ceil(n / 64),
  });
  for (const t of [grid, keys, sorted, cellStart]) t.destroy();
  return { indices, dist2 };
}
