/**
 * The k-nearest-neighbour graph the Laplacian regularizers (laplacian.ts) run on: out-edges from `gpu/knn.ts`
 * over canonical positions, plus the transpose (in-edge) adjacency so the gradient is a pure gather (no float
 * atomics). The transpose is built on the GPU: every edge gets its target as key and its source as value
 * (laplacian_edges.wgsl; missing neighbours get key n), a stable radix sort by key groups the edges by target with
 * sources ascending (so sums run in a fixed order and results are deterministic), and a binary search per node
 * gives each node's first in-edge (laplacian_in_start.wgsl).
 *
 * Building records work only (no readback). Rebuild the graph whenever the point set changes (densification,
 * pruning, a restored checkpoint): the graph is tied to the node count and order of the points it was built on.
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { knn, KNN_MAX_K } from "../gpu/knn.ts";
import { radixSort } from "../gpu/radix_sort.ts";
import { Tensor } from "../gpu/tensor.ts";
import edgesSrc from "./laplacian_edges.wgsl" with { type: "text" };
import inStartSrc from "./laplacian_in_start.wgsl" with { type: "text" };

const WG = 128;

/** A kNN graph with its transpose, on the GPU. */
export class LaplacianGraph {
  readonly gpu: Gpu;
  /** Number of nodes. */
  readonly n: number;
  /** Neighbours per node. */
  readonly k: number;
  /** [n, k] u32: out-neighbours, nearest first; `KNN_NONE` where fewer than k exist. */
  readonly neighbours: Tensor<"u32">;
  /** [n] f32: 1 / (present out-degree), 0 for a node without neighbours. */
  readonly invDegree: Tensor<"f32">;
  /** [n + 1] u32: the in-edges of node p are `inSources[inStart[p] .. inStart[p + 1])`. */
  readonly inStart: Tensor<"u32">;
  /** [n * k] u32: source node of each in-edge, grouped by target, sources ascending (tail unused). */
  readonly inSources: Tensor<"u32">;

  private constructor(
    gpu: Gpu,
    n: number,
    k: number,
    t: Pick<LaplacianGraph, "neighbours" | "invDegree" | "inStart" | "inSources">,
  ) {
    this.gpu = gpu;
    this.n = n;
    this.k = k;
    this.neighbours = t.neighbours;
    this.invDegree = t.invDegree;
    this.inStart = t.inStart;
    this.inSources = t.inSources;
  }

  /** Records the graph of the `k` nearest neighbours (1..16) of `points` ([N, 3] f32). */
  static build(gpu: Gpu, points: Tensor, k: number): LaplacianGraph {
    if (!Number.isInteger(k) || k < 1 || k > KNN_MAX_K) {
      throw new Error(`Laplacian graph: k must be an integer in 1..${KNN_MAX_K}, got ${k}`);
    }
    const { indices, dist2 } = knn(gpu, points, k);
    dist2.destroy();
    return LaplacianGraph.fromNeighbours(gpu, indices, k);
  }

  /**
   * Records the graph for given out-neighbours ([N, k] u32, `KNN_NONE` for missing; taken over by the graph,
   * which destroys it). Self-loops and repeated neighbours are allowed (each counts as one edge).
   */
  static fromNeighbours(gpu: Gpu, neighbours: Tensor, k: number): LaplacianGraph {
    if (neighbours.dtype !== "u32" || neighbours.size % k !== 0) {
      throw new Error(`Laplacian graph: neighbours must be an [N, ${k}] u32 tensor`);
    }
    const n = neighbours.size / k, m = n * k;
    const invDegree = Tensor.empty(gpu, [n], "f32", "laplacian.invDegree");
    const inStart = Tensor.empty(gpu, [n + 1], "u32", "laplacian.inStart");
    const inSources = Tensor.empty(gpu, [m], "u32", "laplacian.inSources");
    const keys = Tensor.empty(gpu, [m], "u32", "laplacian.edgeKeys");
    if (n > 0) {
      dispatch(gpu, gpu.pipeline(edgesSrc, "main", { WG }, "laplacian.edges"), {
        bindings: [uniforms(gpu, [n, k]), neighbours, keys, inSources, invDegree],
        workgroups: Math.ceil(n / WG),
      });
      radixSort(gpu, keys, inSources, { bits: Math.max(1, Math.ceil(Math.log2(n + 1))) });
    }
    dispatch(gpu, gpu.pipeline(inStartSrc, "main", { WG }, "laplacian.inStart"), {
      bindings: [uniforms(gpu, [n, m]), keys, inStart],
      workgroups: Math.ceil((n + 1) / WG),
    });
    keys.destroy();
    return new LaplacianGraph(gpu, n, k, {
      neighbours: neighbours as Tensor<"u32">,
      invDegree,
      inStart,
      inSources,
    });
  }

  /** Frees the graph's tensors. */
  destroy(): void {
    for (const t of [this.neighbours, this.invDegree, this.inStart, this.inSources]) t.destroy();
  }
}
