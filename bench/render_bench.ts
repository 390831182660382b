/**
 * Gaussian rasterizer throughput: forward and forward+backward milliseconds and Gaussians x pixels per second
 * at 256², 512² and 550x802 (width x height, the NeRSemble crop) for 10k, 100k and 500k random Gaussians (one
 * view per call; 10k also with 8 extra channels), beside the float64 CPU reference renderer (forward only) where
 * it finishes in reasonable time (ratios), and the peak GPU memory per Gaussian of a forward+backward call
 * (parameters and gradients included).
 *
 * On a software adapter 500k Gaussians are skipped (listed in the notes).
 */
import type { Gpu } from "../gpu/device.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { renderCpu } from "../render/rasterize_cpu.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { destroyGaussians, randomGaussians, ringCameras, uploadGaussians } from "../render/random_scene.ts";
import type { GaussianData } from "../render/random_scene.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeCpu, timeGpu } from "./report.ts";

const SH_DEGREE = 3;
/** Extra channels of the additional 10k rows (the latent channels the refinement CNN reads). */
const EXTRA = 8;
/** The CPU reference runs where Gaussians x pixels is at most this (10k at 550x802, 100k at 256²). */
const CPU_LIMIT = 100_000 * 256 * 256;

/** A scene whose Gaussian size shrinks with the count, so coverage stays similar (like a denser avatar). */
function scene(n: number, extraChannels: number): GaussianData {
  const s = Math.log(0.05 * Math.cbrt(10_000 / n));
  return randomGaussians(new Rng(n), n, {
    shDegree: SH_DEGREE,
    extraChannels,
    extent: 0.8,
    logScale: [s - 0.6, s + 0.4],
    opacityLogit: [-1, 3],
  });
}

/** Counts the bytes of live GPU buffers (created minus destroyed) and their peak, by wrapping createBuffer. */
function trackMemory(gpu: Gpu): { peak: () => number; reset: () => void; restore: () => void } {
  const device = gpu.device;
  const original = device.createBuffer.bind(device);
  let live = 0, peak = 0;
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const buf = original(desc);
    if (desc.usage & GPUBufferUsage.STORAGE) {
      live += buf.size;
      peak = Math.max(peak, live);
      const destroy = buf.destroy.bind(buf);
      let gone = false;
      buf.destroy = () => {
        if (!gone) live -= buf.size;
        gone = true;
        destroy();
      };
    }
    return buf;
  };
  return {
    peak: () => peak,
    reset: () => (peak = live),
    restore: () => {
      device.createBuffer = original;
    },
  };
}

const bench: BenchModule = {
  name: "render",
  async run(ctx) {
    const { gpu } = ctx;
    const soft = gpu.isSoftware;
    const sizes: [number, number][] = ctx.quick ? [[256, 256]] : [[256, 256], [512, 512], [550, 802]];
    const configs: [number, number][] = ctx.quick
      ? [[10_000, 0]]
      : [[10_000, 0], [10_000, EXTRA], [100_000, 0], [500_000, 0]];
    const rows: Record<string, Cell>[] = [];
    const notes: string[] = [
      `SH degree ${SH_DEGREE}, one view per call; the backward includes all parameter gradients and the density ` +
      `statistics. Times are medians of whole calls (render + backward recording + wait for the device).`,
      "CPU reference = float64 TypeScript forward only (one warm-up call, median of three; there is no CPU " +
      "analytic backward), so 'cpu/(fwd+bwd)' " +
      "compares the GPU forward+backward with the CPU forward alone and understates the gap.",
    ];
    if (soft) {
      notes.push(
        "Software adapter: lavapipe on the CPUs of this machine, which is shared with other jobs (timings noisy).",
      );
    }
    const skipped: string[] = [];
    for (const [n, extra] of configs) {
      if (soft && n > 100_000) {
        skipped.push(`${n / 1000}k (all sizes)`);
        continue;
      }
      const d = scene(n, extra);
      const mem = trackMemory(gpu);
      const g = uploadGaussians(gpu, d);
      const grads = {
        means: Tensor.empty(gpu, [n * 3]),
        quats: Tensor.empty(gpu, [n * 4]),
        logScales: Tensor.empty(gpu, [n * 3]),
        opacityLogits: Tensor.empty(gpu, [n]),
        sh: Tensor.empty(gpu, [d.sh.length]),
        extras: Tensor.empty(gpu, [Math.max(1, d.extras.length)]),
        densify: Tensor.empty(gpu, [n, 4]),
      };
      for (const [w, h] of sizes) {
        ctx.log(`${n} Gaussians, ${extra} extra channels at ${w}x${h}`);
        const cams = ringCameras(1, w, h, { radius: 3, fovDeg: 45 });
        const raster = new GaussianRasterizer(gpu, { shDegree: SH_DEGREE, extraChannels: extra });
        const dRgb = Tensor.from(gpu, new Rng(5).floats(w * h * 3, -1e-3, 1e-3));
        const dExtras = extra > 0
          ? Tensor.from(gpu, new Rng(6).floats(w * h * extra, -1e-3, 1e-3))
          : undefined;
        const opts = { warmup: 1, minIters: 5, minMs: soft ? 0 : 500, maxIters: 20 };
        let pairs = 0;
        mem.reset();
        const fwd = await timeGpu(gpu, async () => {
          const out = await raster.render(g, cams);
          pairs = out.pairs;
          out.destroy();
        }, opts);
        const both = await timeGpu(gpu, async () => {
          const out = await raster.render(g, cams);
          raster.backward(g, out, { rgb: dRgb, extras: dExtras }, grads);
          out.destroy();
        }, opts);
        const peak = mem.peak();
        let cpu: number | null = null;
        if (n * w * h <= CPU_LIMIT) {
          ctx.log(`  CPU reference`);
          cpu = await timeCpu(() => {
            renderCpu(d, cams, { shDegree: SH_DEGREE, extraChannels: extra });
          }, { warmup: 1, minIters: 3, minMs: 0, maxIters: 3 });
        }
        const gp = (ms: number) => ((n * w * h) / (ms / 1000)).toExponential(2);
        rows.push({
          gaussians: n,
          extras: extra,
          size: `${w}x${h}`,
          pairs,
          "fwd ms": fwd,
          "fwd+bwd ms": both,
          "fwd G·px/s": gp(fwd),
          "fwd+bwd G·px/s": gp(both),
          "cpu fwd ms": cpu,
          "cpu/fwd": cpu === null ? null : cpu / fwd,
          "cpu/(fwd+bwd)": cpu === null ? null : cpu / both,
          "peak B/Gaussian": Math.round(peak / n),
        });
        dRgb.destroy();
        dExtras?.destroy();
        raster.destroy();
        await gpu.sync();
      }
      destroyGaussians(g);
      Object.values(grads).forEach((t) => t.destroy());
      await gpu.sync();
      mem.restore();
    }
    if (skipped.length) notes.push(`skipped on the software adapter: ${skipped.join(", ")}`);
    notes.push(
      "peak B/Gaussian: live storage buffers during the calls (parameters, gradients, temporaries) / N.",
    );
    return [{ title: "Gaussian rasterizer (one view)", rows, notes }];
  },
};

export default bench;
