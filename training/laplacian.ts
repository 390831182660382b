/**
 * Laplacian smoothness regularizers on a kNN graph of canonical positions (NPGA, arXiv 2405.19331): applied to
 * the per-Gaussian latent features and to the dynamics predicted by the detail network G, so neighbouring
 * Gaussians get similar features and move coherently, and no primitive floats free of its neighbourhood.
 *
 * Formulation (the uniform Laplacian, as in DESIGN.md section 1.4): for values X [N, C] and the graph's present
 * out-neighbours N(i) of node i,
 *
 *     r_i = X_i - mean_{j in N(i)} X_j        (r_i = 0 for a node without neighbours)
 *     L   = (w / N) * sum_i ||r_i||^2          (mean over nodes, sum over the C columns)
 *     dL/dX_p = (2 w / N) * (r_p - sum_{i : p in N(i)} r_i / |N(i)|)
 *
 * The kNN graph is not symmetric, so the gradient has a term over p's in-edges: it is gathered through the
 * graph's transpose adjacency (laplacian_graph.ts), one invocation per node, no atomics, sums in a fixed order
 * (deterministic). Forward (laplacian_residual.wgsl) writes r and per-node loss terms, reduced on the GPU to the
 * loss; backward (laplacian_gradient.wgsl) adds dL/dX into a gradient tensor. X and the gradient are read as a
 * block of C columns of wider rows, so G's output rows [N, 14] (or a part of them) are used in place.
 *
 * The CPU reference is laplacian_cpu.ts.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { reduce } from "../gpu/reduce.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import type { LaplacianGraph } from "./laplacian_graph.ts";
import residualSrc from "./laplacian_residual.wgsl" with { type: "text" };
import gradientSrc from "./laplacian_gradient.wgsl" with { type: "text" };

export { LaplacianGraph } from "./laplacian_graph.ts";

const WG = 128;
/** Most columns one term handles (the kernels' register arrays). */
export const LAPLACIAN_MAX_COLUMNS = 32;

/** C columns starting at `offset` of rows of `stride` f32 values: element (i, c) is at i * stride + offset + c. */
export interface RowColumns {
  tensor: Tensor;
  stride: number;
  offset?: number;
  columns: number;
}

/** What the forward pass keeps for the backward pass. */
export interface LaplacianResidual {
  /** [N, C] residuals r_i. */
  residual: Tensor<"f32">;
  /** [N] per-node loss terms w * ||r_i||^2 (their mean is the loss). */
  terms: Tensor<"f32">;
  /** The loss weight w. */
  weight: number;
  /** Returns the tensors to their pool (safe to call twice). */
  destroy(): void;
}

function checkColumns(what: string, v: RowColumns, n: number): number {
  const off = v.offset ?? 0;
  if (
    !Number.isInteger(v.stride) || !Number.isInteger(off) || !Number.isInteger(v.columns) || v.columns < 1 ||
    v.columns > LAPLACIAN_MAX_COLUMNS
  ) {
    throw new Error(
      `Laplacian: ${what} needs integer stride and offset and 1..${LAPLACIAN_MAX_COLUMNS} columns, got ${v.columns}`,
    );
  }
  if (off + v.columns > v.stride) {
    throw new Error(
      `Laplacian: ${what} columns ${off}..${off + v.columns} exceed the row stride ${v.stride}`,
    );
  }
  if (v.tensor.dtype !== "f32" || v.tensor.size < n * v.stride) {
    throw new Error(`Laplacian: ${what} must be f32 with at least ${n} rows of ${v.stride}`);
  }
  return off;
}

/** Records the Laplacian regularizer of a graph: forward (loss) and backward (gradient). */
export class LaplacianRegularizer {
  readonly gpu: Gpu;
  readonly pool: TensorPool;

  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.pool = new TensorPool(gpu);
  }

  /**
   * Records the residuals and loss terms of `x` on `graph` with weight `w`; with `loss`, also records
   * `loss.out[loss.offset] = (w / N) * sum_i ||r_i||^2` (0 for an empty graph). The caller destroys the result.
   */
  forward(
    graph: LaplacianGraph,
    x: RowColumns,
    weight: number,
    loss?: { out: Tensor; offset?: number },
  ): LaplacianResidual {
    const n = graph.n, off = checkColumns("values", x, n);
    if (!Number.isFinite(weight)) throw new Error(`Laplacian: weight must be finite, got ${weight}`);
    const residual = this.pool.acquire([n, x.columns], "f32", "laplacian.residual");
    const terms = this.pool.acquire([n], "f32", "laplacian.terms");
    const consts = { WG, K: graph.k, C: x.columns };
    dispatch(this.gpu, this.gpu.pipeline(residualSrc, "main", consts, "laplacian.residual"), {
      bindings: [
        uniforms(this.gpu, [n, x.stride, off, { f32: weight }]),
        x.tensor,
        graph.neighbours,
        graph.invDegree,
        residual,
        terms,
      ],
      workgroups: Math.ceil(n / WG),
    });
    if (loss) {
      if (n > 0) reduce(this.gpu, terms, "mean", loss.out, { count: n, outOffset: loss.offset ?? 0 });
      else reduce(this.gpu, terms, "sum", loss.out, { count: 0, outOffset: loss.offset ?? 0 });
    }
    let destroyed = false;
    return {
      residual,
      terms,
      weight,
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        residual.destroy();
        terms.destroy();
      },
    };
  }

  /** Records dL/dX of a `forward` on the same graph, ADDED into `grad` (same column count as the values). */
  backward(graph: LaplacianGraph, r: LaplacianResidual, grad: RowColumns): void {
    const n = graph.n, off = checkColumns("gradient", grad, n);
    if (r.residual.size !== n * grad.columns) {
      throw new Error(
        `Laplacian: the gradient has ${grad.columns} columns, the residual ${r.residual.size / n}`,
      );
    }
    if (n === 0) return;
    const consts = { WG, C: grad.columns };
    dispatch(this.gpu, this.gpu.pipeline(gradientSrc, "main", consts, "laplacian.gradient"), {
      bindings: [
        uniforms(this.gpu, [n, grad.stride, off, { f32: (2 * r.weight) / n }]),
        r.residual,
        graph.invDegree,
        graph.inStart,
        graph.inSources,
        grad.tensor,
      ],
      workgroups: Math.ceil(n / WG),
    });
  }

  /** Frees pooled buffers. */
  destroy(): void {
    this.pool.clear();
  }
}
