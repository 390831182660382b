/**
 * `deno task bench --only mlp`: MLP training throughput (forwardTrain + backward, points per second) for widths
 * 64 / 128 / 256 and depths 4 / 6 (input 3, output 3, softplus(100) hidden), beside a plain TypeScript
 * forward + backward per point on a smaller batch.
 */
import { Mlp, mlpLayout, type MlpSpec } from "../gpu/mlp.ts";
import { mlpBackwardCpu, mlpForwardCpu } from "../gpu/mlp_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type BenchModule, type Cell, timeCpu, timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "mlp",
  async run(ctx) {
    const { gpu } = ctx;
    const batch = ctx.quick ? 8192 : 65536;
    const cpuBatch = 64;
    const rows: Record<string, Cell>[] = [];
    const rng = new Rng(2);
    for (const depth of [4, 6]) {
      for (const width of [64, 128, 256]) {
        ctx.log(`width ${width} depth ${depth}`);
        const spec: MlpSpec = {
          inputs: 3,
          hidden: { width, depth },
          outputs: 3,
          hiddenActivation: { kind: "softplus", beta: 100 },
          outputActivation: { kind: "identity" },
        };
        const macs = mlpLayout(spec).reduce((s, l) => s + l.in * l.out, 0);
        const mlp = new Mlp(gpu, spec);
        mlp.init(1);
        // Compile every pipeline on a small batch first, then time full steps (they take seconds on lavapipe).
        const step = (n: number) => {
          const x = Tensor.from(gpu, rng.floats(n * 3)), y = Tensor.empty(gpu, [n * 3]);
          const g = Tensor.from(gpu, rng.floats(n * 3, -1e-3, 1e-3));
          return {
            run: () => mlp.backward(mlp.forwardTrain(x, y), g),
            free: () => [x, y, g].forEach((t) => t.destroy()),
          };
        };
        const warm = step(1024);
        warm.run();
        await gpu.sync();
        warm.free();
        const full = step(batch);
        const ms = await timeGpu(gpu, full.run, { warmup: 0, minIters: 1, minMs: 0, maxIters: 2 });
        full.free();
        const p = await mlp.getParams();
        const cx = rng.floats(cpuBatch * 3), cg = rng.floats(cpuBatch * 3);
        const cpuMs = await timeCpu(() => {
          mlpBackwardCpu(spec, p, mlpForwardCpu(spec, p, cx, cpuBatch), cg);
        }, { warmup: 1, minIters: 2, minMs: 200, maxIters: 10 });
        const gpuRate = batch / (ms / 1000);
        const cpuRate = cpuBatch / (cpuMs / 1000);
        rows.push({
          width,
          depth,
          params: mlp.paramCount,
          batch,
          "gpu ms/step": ms,
          "gpu Mpts/s": gpuRate / 1e6,
          "gpu GFLOP/s": (6 * macs * batch) / ms / 1e6,
          "cpu kpts/s": cpuRate / 1e3,
          speedup: gpuRate / cpuRate,
        });
        mlp.destroy();
      }
    }
    return [{
      title: `MLP training step, forwardTrain + backward (${gpu.adapterName})`,
      rows,
      notes: [
        ...(gpu.isSoftware
          ? [
            "software adapter: timings depend on how busy the CPU cores are; compare runs on an idle machine",
          ]
          : []),
        "depth = number of hidden layers; FLOPs counted as 6 per weight per point (forward, dX, dW)",
        `cpu: plain TypeScript float64 forward + backward (gpu/mlp_reference.ts) on ${cpuBatch} points, one thread`,
      ],
    }];
  },
};
export default bench;
