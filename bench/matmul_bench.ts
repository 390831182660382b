/**
 * `deno task bench --only matmul`: GFLOP/s of the tiled GPU matmul (A·B at 256 .. 2048, the transposed layouts
 * at 1024) beside a plain TypeScript f32 triple loop measured in the same run.
 */
import { matmul } from "../gpu/matmul.ts";
import { matmulCpuF32 } from "../gpu/matmul_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type BenchModule, type Cell, timeCpu, timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "matmul",
  async run(ctx) {
    const { gpu } = ctx;
    const rng = new Rng(1);
    const sizes = ctx.quick ? [256, 512] : [256, 512, 1024, 2048];
    // CPU baseline: measured up to 512, extrapolated with n³ above.
    const cpuGflops = new Map<number, number>();
    for (const n of [256, 512]) {
      const a = rng.floats(n * n), b = rng.floats(n * n), c = new Float32Array(n * n);
      const ms = await timeCpu(() => matmulCpuF32(a, b, c, n, n, n), { warmup: 1, minIters: 2, minMs: 200 });
      cpuGflops.set(n, (2 * n ** 3) / ms / 1e6);
    }
    const rows: Record<string, Cell>[] = [];
    const layouts = [
      ["A·B", false, false],
      ["Aᵀ·B", true, false],
      ["A·Bᵀ", false, true],
    ] as const;
    for (const n of sizes) {
      for (const [name, transA, transB] of layouts) {
        if (name !== "A·B" && n !== (ctx.quick ? 512 : 1024)) continue;
        ctx.log(`${name} ${n}`);
        const ta = Tensor.from(gpu, rng.floats(n * n)), tb = Tensor.from(gpu, rng.floats(n * n));
        const tc = Tensor.empty(gpu, [n * n]);
        const ms = await timeGpu(
          gpu,
          () => matmul(gpu, { a: ta, b: tb, c: tc, m: n, n, k: n, transA, transB }),
          {
            warmup: 1,
            minIters: 2,
            minMs: 500,
            maxIters: 10,
          },
        );
        const gflops = (2 * n ** 3) / ms / 1e6;
        const cpu = cpuGflops.get(n) ?? cpuGflops.get(512)!;
        rows.push({
          layout: name,
          size: `${n}³`,
          "gpu ms": ms,
          "gpu GFLOP/s": gflops,
          "cpu GFLOP/s": cpu,
          "cpu source": cpuGflops.has(n) ? "measured" : "from 512",
          speedup: gflops / cpu,
        });
        for (const t of [ta, tb, tc]) t.destroy();
      }
    }
    return [{
      title: `matmul f32 (${gpu.adapterName})`,
      rows,
      notes: [
        ...(gpu.isSoftware
          ? [
            "software adapter: timings depend on how busy the CPU cores are; compare runs on an idle machine",
          ]
          : []),
        "gpu: tiled kernel, 16x16 outputs per invocation, 128x128 workgroup tiles, k-slabs of 8, median of runs",
        "cpu: plain TypeScript f32 i-k-j triple loop, one thread; sizes above 512 use the 512 rate (n³ work)",
      ],
    }];
  },
};
export default bench;
