/**
 * Prefix scan and radix sort throughput at 1M and 16M elements, beside plain TypeScript baselines measured in the
 * same run (a scan loop over a Uint32Array; Uint32Array.prototype.sort for the keys).
 */
import { radixSort } from "../gpu/radix_sort.ts";
import { Rng } from "../gpu/rng.ts";
import { exclusiveScan } from "../gpu/scan.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import type { BenchModule, BenchSection, Cell } from "./report.ts";
import { timeCpu, timeGpu } from "./report.ts";

const M = 1 << 20;

const bench: BenchModule = {
  name: "sort",
  async run(ctx) {
    const { gpu } = ctx;
    const sizes = ctx.quick ? [M] : [M, 16 * M];
    const pool = new TensorPool(gpu);
    const rng = new Rng(1);
    const scanRows: Record<string, Cell>[] = [];
    const sortRows: Record<string, Cell>[] = [];
    for (const n of sizes) {
      const big = n > 4 * M;
      const opts = { warmup: 1, minIters: big ? 2 : 3, minMs: big ? 0 : 300, maxIters: 10 };
      const data = rng.uints(n, 16);
      const input = Tensor.from(gpu, data), output = Tensor.empty(gpu, [n], "u32");
      ctx.log(`scan ${n}`);
      const gpuMs = await timeGpu(gpu, () => exclusiveScan(gpu, input, output, { pool }), opts);
      const out = new Uint32Array(n);
      const cpuMs = await timeCpu(() => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          out[i] = acc;
          acc = (acc + data[i]) >>> 0;
        }
      }, opts);
      const gb = (ms: number) => (8 * n) / (ms * 1e6); // 4 bytes read + 4 written per element
      scanRows.push({
        elements: n,
        "gpu ms": gpuMs,
        "gpu GB/s": gb(gpuMs),
        "cpu ms": cpuMs,
        "cpu GB/s": gb(cpuMs),
      });
      input.destroy();
      output.destroy();

      for (const bits of [32, 16]) {
        ctx.log(`sort ${n} bits ${bits}`);
        const keysIn = rng.uints(n, 2 ** bits);
        const idx = Uint32Array.from({ length: n }, (_, i) => i);
        const k = Tensor.from(gpu, keysIn), v = Tensor.from(gpu, idx);
        // Sorting already-sorted keys costs the same for LSD radix sort, so re-uploading each time is not needed.
        const sortMs = await timeGpu(gpu, () => radixSort(gpu, k, v, { bits, pool }), opts);
        const cpuSortMs = await timeCpu(() => {
          keysIn.slice().sort();
        }, { ...opts, warmup: 0 });
        sortRows.push({
          elements: n,
          bits,
          "gpu ms": sortMs,
          "gpu Mkeys/s": n / (sortMs * 1e3),
          "cpu ms": cpuSortMs,
          "cpu Mkeys/s": n / (cpuSortMs * 1e3),
        });
        k.destroy();
        v.destroy();
      }
    }
    pool.clear();
    const sections: BenchSection[] = [
      {
        title: `exclusive scan (u32) on ${gpu.adapterName}`,
        rows: scanRows,
        notes: [
          "GB/s counts 8 bytes per element (one read, one write); cpu = plain TS loop over a Uint32Array",
        ],
      },
      {
        title: `stable radix sort (u32 keys + u32 values) on ${gpu.adapterName}`,
        rows: sortRows,
        notes: [
          "gpu sorts key/value pairs (4 bits per pass); cpu = Uint32Array.prototype.sort on the keys alone " +
          "(copy included), so the baseline does less work",
        ],
      },
    ];
    return sections;
  },
};

export default bench;
