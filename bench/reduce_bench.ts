/** f32 reduction throughput at 10M elements beside a plain TypeScript summation loop measured in the same run. */
import { reduce, type ReduceOp } from "../gpu/reduce.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeCpu, timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "reduce",
  async run(ctx) {
    const { gpu } = ctx;
    const n = ctx.quick ? 1_000_000 : 10_000_000;
    const data = new Rng(2).floats(n, 0, 1);
    const input = Tensor.from(gpu, data);
    const out = Tensor.empty(gpu, [1]);
    const rows: Record<string, Cell>[] = [];
    const gb = (ms: number) => (4 * n) / (ms * 1e6);
    for (const op of ["sum", "max", "sumsq"] as ReduceOp[]) {
      ctx.log(`${op} ${n}`);
      const gpuMs = await timeGpu(gpu, () => reduce(gpu, input, op, out));
      rows.push({ op, elements: n, "gpu ms": gpuMs, "gpu GB/s": gb(gpuMs) });
    }
    let cpuSum = 0;
    const cpuMs = await timeCpu(() => {
      let s = 0;
      for (let i = 0; i < n; i++) s += data[i];
      cpuSum = s;
    });
    rows.push({ op: "sum (cpu loop)", elements: n, "cpu ms": cpuMs, "cpu GB/s": gb(cpuMs) });
    input.destroy();
    out.destroy();
    return [{
      title: `f32 reduction on ${gpu.adapterName}`,
      rows,
      notes: [
        "GB/s counts 4 bytes read per element; cpu = plain TS float64 accumulation loop over a Float32Array",
        `cpu sum = ${cpuSum.toFixed(1)}`,
      ],
    }];
  },
};

export default bench;
