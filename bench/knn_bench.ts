/**
 * Exact kNN at 100k points (k = 8 and 16), GPU grid search beside a CPU brute force timed on a subset of queries
 * and extrapolated to all points (measured in the same run).
 */
import { knn } from "../gpu/knn.ts";
import { knnBruteForce } from "../gpu/knn_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeCpu, timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "knn",
  async run(ctx) {
    const { gpu } = ctx;
    const n = ctx.quick ? 20_000 : 100_000;
    const rng = new Rng(3);
    // A head-like distribution: points near the surface of an ellipsoid, plus a uniform sprinkle inside.
    const pts = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      const x = rng.normal(), y = rng.normal(), z = rng.normal();
      const r = (i % 10 === 0 ? rng.uniform(0, 1) : 1 + 0.02 * rng.normal()) / Math.hypot(x, y, z);
      pts.set([0.09 * x * r, 0.12 * y * r, 0.1 * z * r], 3 * i);
    }
    const points = Tensor.from(gpu, pts, [n, 3]);
    const pool = new TensorPool(gpu);
    const rows: Record<string, Cell>[] = [];
    const sample = ctx.quick ? 50 : 200;
    const queries = Array.from({ length: sample }, () => rng.int(n));
    for (const k of [8, 16]) {
      ctx.log(`knn n=${n} k=${k}`);
      const gpuMs = await timeGpu(gpu, () => {
        const r = knn(gpu, points, k, { pool });
        r.indices.destroy();
        r.dist2.destroy();
      });
      const subsetMs = await timeCpu(() => {
        knnBruteForce(pts, k, queries);
      }, { warmup: 0, minIters: 1, minMs: 0 });
      rows.push({
        points: n,
        k,
        "gpu ms": gpuMs,
        "cpu brute force ms (extrapolated)": (subsetMs * n) / sample,
      });
    }
    points.destroy();
    pool.clear();
    return [{
      title: `exact kNN (grid + radix sort) on ${gpu.adapterName}`,
      rows,
      notes: [
        `cpu = brute-force TS on ${sample} random queries, time scaled by ${n}/${sample} (O(n^2) total)`,
        "points: ellipsoid shell with 10% interior fill, head-sized (about 0.2 m)",
      ],
    }];
  },
};

export default bench;
