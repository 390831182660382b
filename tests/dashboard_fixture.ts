/**
 * Shared by the dashboard tests: a tiny synthetic head (64x64, 4 cameras, 6 + 2 timesteps) written once per
 * test process to a temporary folder, and a small trainer over it (1,500 Gaussians, no prior/distillation).
 */
import { type Dataset, loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import type { Rig } from "../data/rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { Trainer } from "../training/trainer.ts";
import type { TrainerConfig } from "../training/trainer_config.ts";
import type { TrainerListener } from "../training/trainer.ts";
import { testGpu } from "./helpers.ts";

let cached: Promise<{ dataset: Dataset; rig: Rig }> | null = null;

/** The tiny dataset (its folder, with dataset.json, stays until the process ends). */
export function tinyHead(): Promise<{ dataset: Dataset; rig: Rig }> {
  cached ??= (async () => {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir({ prefix: "npga-dashboard-test-" });
    const out = `${dir}/head`;
    await writeSyntheticDataset(gpu, {
      out,
      cameras: 4,
      timesteps: 6,
      testTimesteps: 2,
      size: 64,
      seed: 5,
      rig: "exact",
    });
    const dataset = await loadDataset(out);
    const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return { dataset, rig };
  })();
  return cached;
}

/** Settings of the small trainer. */
export const TINY: Partial<TrainerConfig> = {
  gaussians: 1500,
  priorSteps: 0,
  distillSteps: 0,
  evalFrames: 2,
  evalEvery: 4,
  checkpointEvery: 0,
  logEvery: 1,
  seed: 4,
  iters: 100_000,
};

/** A small trainer over the tiny head. */
export async function tinyTrainer(listeners: TrainerListener[], config: Partial<TrainerConfig> = {}) {
  const { dataset, rig } = await tinyHead();
  const gpu = await testGpu();
  const trainer = await Trainer.create(gpu, { dataset, rig, config: { ...TINY, ...config }, listeners });
  return { trainer, dataset, gpu };
}
