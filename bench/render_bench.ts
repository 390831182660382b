/**
 * Gaussian rasterizer throughput: forward and forward+backward milliseconds and Gaussians x pixels per second
 * at 256², 512² and 550x802 (width x height, the NeRSemble crop) for 10k, 100k and 500k random Gaussians (one
 * view per call), beside the float64 CPU reference renderer (forward only) where it finishes in reasonable time,
 * and the peak GPU memory per Gaussian of a forward+backward call (parameters and gradients included).
 *
 * On a software adapter the largest configurations are skipped (listed in the notes).
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
const EXTRA = 8;

/** A scene whose Gaussian size shrinks with the count, so coverage stays similar (like a denser avatar). */
function scene(n: number): GaussianData {
  const s = Math.log(0.05 * Math.cbrt(10_000 / n));
  return randomGaussians(new Rng(n), n, {
    shDegree: SH_DEGREE,
    extraChannels: EXTRA,
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
    const counts = ctx.quick ? [10_000] : [10_000, 100_000, 500_000];
    const rows: Record<string, Cell>[] = [];
    const notes: string[] = [
      `SH degree ${SH_DEGREE}, ${EXTRA} extra channels, one view per call; the backward includes all parameter ` +
      `gradients and the density statistics.`,
      "CPU reference = float64 TypeScript forward only (no backward), so 'fwd+bwd vs CPU' understates the gap.",
    ];
    const skipped: string[] = [];
    for (const n of counts) {
      if (soft && n > 100_000) {
        skipped.push(`${n / 1000}k (all sizes)`);
        continue;
      }
      const d = scene(n);
      const mem = trackMemory(gpu);
      const g = uploadGaussians(gpu, d);
      const grads = {
        means: Tensor.empty(gpu, [n * 3]),
        quats: Tensor.empty(gpu, [n * 4]),
        logScales: Tensor.empty(gpu, [n * 3]),
        opacityLogits: Tensor.empty(gpu, [n]),
        sh: Tensor.empty(gpu, [d.sh.length]),
        extras: Tensor.empty(gpu, [d.extras.length]),
        densify: Tensor.empty(gpu, [n, 4]),
      };
      for (const [w, h] of sizes) {
        if (soft && n >= 100_000 && w * h > 256 * 256) {
          skipped.push(`${n / 1000}k at ${w}x${h}`);
          continue;
        }
        ctx.log(`${n} Gaussians at ${w}x${h}`);
        const cams = ringCameras(1, w, h, { radius: 3, fovDeg: 45 });
        const raster = new GaussianRasterizer(gpu, { shDegree: SH_DEGREE, extraChannels: EXTRA });
        const dRgb = Tensor.from(gpu, new Rng(5).floats(w * h * 3, -1e-3, 1e-3));
        const dExtras = Tensor.from(gpu, new Rng(6).floats(w * h * EXTRA, -1e-3, 1e-3));
        const opts = { warmup: 1, minIters: soft ? 2 : 5, minMs: soft ? 0 : 500, maxIters: 20 };
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
        if (n * w * h <= 10_000 * 256 * 256) {
          ctx.log(`  CPU reference`);
          cpu = await timeCpu(() => {
            renderCpu(d, cams, { shDegree: SH_DEGREE, extraChannels: EXTRA });
          }, { warmup: 0, minIters: 1, minMs: 0, maxIters: 2 });
        }
        const gp = (ms: number) => (n * w * h) / (ms / 1000);
        rows.push({
          gaussians: n,
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
        dExtras.destroy();
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
