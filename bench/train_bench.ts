/**
 * Training throughput: steps/s of the trainer with waits in every step (config `syncEvery` 0: the pair count,
 * loss and Laplacian read-backs) beside streamed steps (the default `syncEvery`, one wait every N steps), in
 * one process, interleaved in segments of `SEGMENT` steps from the same state (the second trainer starts from
 * the first one's state, so both run the same steps, density control included), with the GPU waits per step
 * counted (`gpu.waits`: every mapAsync read-back and queue wait, density control's and drains' included).
 *
 * Scenes: the default configuration on the built-in 256² head (synthesized into datasets/synthetic-head when
 * absent), and the same head's frames resampled to 550x802 (nearest neighbour, intrinsics scaled) with 10k
 * and 100k initial Gaussians and no density control. Min and median over the segments.
 */
import { loadDataset } from "../data/dataset.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import type { Rig } from "../data/rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import type { Gpu } from "../gpu/device.ts";
import { Trainer } from "../training/trainer.ts";
import { defaultTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import type { BenchModule, Cell } from "./report.ts";

const DATA = "datasets/synthetic-head";
/** The CLI's default step count (cli/train.ts DEFAULT_ITERS), which sets the schedules and density steps. */
const ITERS = 700;

function resample(f: Frame, w: number, h: number): Frame {
  const img = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(f.height - 1, Math.floor((y * f.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(f.width - 1, Math.floor((x * f.width) / w));
      for (let c = 0; c < 3; c++) img[(y * w + x) * 3 + c] = f.image[(sy * f.width + sx) * 3 + c];
    }
  }
  const kx = w / f.width, ky = h / f.height, i = f.intrinsics;
  return {
    ...f,
    image: img,
    mask: undefined,
    width: w,
    height: h,
    intrinsics: { fx: i.fx * kx, fy: i.fy * ky, cx: i.cx * kx, cy: i.cy * ky },
  };
}

function resampled(ds: Dataset, w: number, h: number): Dataset {
  const splits = { ...ds.splits };
  for (const k of Object.keys(splits) as (keyof typeof splits)[]) {
    splits[k] = splits[k].map((f) => resample(f, w, h));
  }
  return { ...ds, splits };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

interface Scene {
  name: string;
  dataset: Dataset;
  config: Partial<TrainerConfig>;
  segment: number;
  rounds: number;
}

async function measure(
  gpu: Gpu,
  rig: Rig,
  s: Scene,
  log: (m: string) => void,
): Promise<Record<string, Cell>[]> {
  const base = { ...s.config, iters: ITERS };
  const streamedEvery = defaultTrainerConfig().syncEvery;
  const old = await Trainer.create(gpu, { dataset: s.dataset, rig, config: { ...base, syncEvery: 0 } });
  const start = await old.state();
  const now = await Trainer.create(gpu, {
    dataset: s.dataset,
    rig,
    config: { ...base, syncEvery: streamedEvery },
    resume: start,
  });
  // Warm-up: pipelines compiled, pools filled, capacities grown.
  await old.advance(2);
  await now.advance(2);
  const runs = { old: [] as number[], now: [] as number[] };
  const waits = { old: 0, now: 0 }, steps = { old: 0, now: 0 };
  for (let r = 0; r < s.rounds; r++) {
    for (const [key, t] of [["old", old], ["now", now]] as const) {
      const s0 = t.step, w0 = gpu.waits, t0 = performance.now();
      await t.advance(s.segment);
      await gpu.sync();
      const dt = (performance.now() - t0) / 1000;
      waits[key] += gpu.waits - w0 - 1;
      steps[key] += t.step - s0;
      runs[key].push((t.step - s0) / dt);
      log(`${s.name} ${key}: ${(t.step - s0)} steps, ${((t.step - s0) / dt).toFixed(2)} steps/s`);
    }
  }
  const rows: Record<string, Cell>[] = (["old", "now"] as const).map((k) => ({
    scene: s.name,
    path: k === "old" ? "waits in every step (syncEvery 0)" : `streamed (syncEvery ${streamedEvery})`,
    gaussians: (k === "old" ? old : now).avatar.count,
    "steps/s min": Math.min(...runs[k]).toFixed(2),
    "steps/s median": median(runs[k]).toFixed(2),
    "waits/step": (waits[k] / Math.max(steps[k], 1)).toFixed(3),
    redos: k === "now" ? now.redos : null,
  }));
  const speed = median(runs.now) / median(runs.old);
  rows.push({
    scene: s.name,
    path: "speed-up (median)",
    gaussians: null,
    "steps/s min": (Math.min(...runs.now) / Math.min(...runs.old)).toFixed(2) + "x",
    "steps/s median": speed.toFixed(2) + "x",
    "waits/step": null,
    redos: null,
  });
  old.destroy();
  now.destroy();
  return rows;
}

const bench: BenchModule = {
  name: "train",
  async run({ gpu, quick, log }) {
    try {
      await Deno.stat(`${DATA}/transforms_train.json`);
    } catch {
      log(`synthesizing ${DATA} (once, about 2 minutes)`);
      await writeSyntheticDataset(gpu, { out: DATA });
    }
    const dataset = await loadDataset(DATA);
    const rig = await readRigGlb(await Deno.readFile(`${DATA}/rig.glb`), `${DATA}/rig.glb`);
    const big = resampled(dataset, 550, 802);
    const scenes: Scene[] = [
      { name: "default, 256²", dataset, config: {}, segment: quick ? 10 : 20, rounds: quick ? 2 : 3 },
      {
        name: "550x802, 10k",
        dataset: big,
        config: { gaussians: 10_000, densify: false },
        segment: quick ? 5 : 20,
        rounds: 2,
      },
      {
        name: "550x802, 100k",
        dataset: big,
        config: { gaussians: 100_000, densify: false },
        segment: quick ? 3 : 10,
        rounds: 2,
      },
    ];
    const rows: Record<string, Cell>[] = [];
    for (const s of scenes) rows.push(...await measure(gpu, rig, s, log));
    return [{
      title: "training steps/s: waits in every step vs streamed steps (same process, interleaved segments)",
      rows,
      notes: [
        "waits/step counts every CPU wait for the GPU (read-backs, drains, density control) over the timed steps",
        "550x802: the built-in head's frames resampled (nearest neighbour), densify off",
      ],
    }];
  },
};
export default bench;
