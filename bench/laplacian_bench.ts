/**
 * Laplacian regularizers (training/laplacian.ts) per training step and graph rebuild cost: graph build (kNN +
 * transpose by stable radix sort), the feature term (F = 8 columns) and the dynamics term (G's 14 outputs),
 * each forward (residual + loss reduction) plus backward (gather gradient), at the default avatar size (10k
 * Gaussians) and larger.
 */
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { LaplacianGraph, LaplacianRegularizer } from "../training/laplacian.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "laplacian",
  async run(ctx) {
    const { gpu } = ctx;
    const sizes = ctx.quick ? [10_000] : [10_000, 50_000, 200_000];
    const rng = new Rng(5);
    const lap = new LaplacianRegularizer(gpu);
    const out = Tensor.empty(gpu, [2], "f32");
    const rows: Record<string, Cell>[] = [];
    for (const n of sizes) {
      // Head-like: points near an ellipsoid shell.
      const pts = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) {
        const x = rng.normal(), y = rng.normal(), z = rng.normal();
        const r = (1 + 0.02 * rng.normal()) / Math.hypot(x, y, z);
        pts.set([0.09 * x * r, 0.12 * y * r, 0.1 * z * r], 3 * i);
      }
      const points = Tensor.from(gpu, pts, [n, 3]);
      const features = Tensor.from(gpu, rng.normals(n * 8), [n, 8]);
      const gOut = Tensor.from(gpu, rng.normals(n * 14), [n, 14]);
      const grad8 = Tensor.empty(gpu, [n, 8], "f32"), grad14 = Tensor.empty(gpu, [n, 14], "f32");
      const k = 8;
      ctx.log(`n=${n} k=${k}`);
      const buildMs = await timeGpu(gpu, () => LaplacianGraph.build(gpu, points, k).destroy());
      const graph = LaplacianGraph.build(gpu, points, k);
      const term = (x: Tensor, g: Tensor, c: number) => () => {
        const r = lap.forward(graph, { tensor: x, stride: c, columns: c }, 0.01, { out });
        lap.backward(graph, r, { tensor: g, stride: c, columns: c });
        r.destroy();
      };
      const syncMs = await timeGpu(gpu, () => {});
      const featMs = await timeGpu(gpu, term(features, grad8, 8));
      const dynMs = await timeGpu(gpu, term(gOut, grad14, 14));
      rows.push({
        gaussians: n,
        k,
        "graph build ms": buildMs,
        "features fwd+bwd ms": featMs,
        "dynamics fwd+bwd ms": dynMs,
        "empty sync ms": syncMs,
        "per step ms": featMs + dynMs - syncMs,
      });
      graph.destroy();
      for (const t of [points, features, gOut, grad8, grad14]) t.destroy();
    }
    out.destroy();
    lap.destroy();
    return [{
      title: `Laplacian regularizers on ${gpu.adapterName}`,
      rows,
      notes: [
        "per step = both terms less one empty submit + sync (the graph is rebuilt only when the points change " +
        "and at checkpoint steps); timings include that sync, the trainer adds one 8-byte loss readback per step",
      ],
    }];
  },
};

export default bench;
