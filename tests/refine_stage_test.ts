/**
 * The refinement CNN inside the trainer: not run (parameters untouched) before its warm-up fraction, trained
 * after it, applied by `Trainer.render` (so evaluation sees it), stored in checkpoints with its Adam moments, and
 * older checkpoints without it still load.
 */
import assert from "node:assert/strict";
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { decodeCheckpoint, encodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { frameCameras } from "../training/frame_batches.ts";
import { Trainer } from "../training/trainer.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import { maxAbsDiff, testGpu } from "./helpers.ts";

async function tinyHead() {
  const gpu = await testGpu();
  const dir = await Deno.makeTempDir({ prefix: "npga-refine-test-" });
  const out = `${dir}/head`;
  await writeSyntheticDataset(gpu, {
    out,
    cameras: 3,
    timesteps: 6,
    testTimesteps: 2,
    size: 48,
    seed: 4,
    rig: "exact",
  });
  const dataset = await loadDataset(out);
  const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
  await Deno.remove(dir, { recursive: true });
  return { dataset, rig };
}

const CONFIG: Partial<TrainerConfig> = {
  gaussians: 600,
  priorSteps: 0,
  distillSteps: 0,
  evalFrames: 2,
  checkpointEvery: 4,
  logEvery: 4,
  seed: 5,
  iters: 8,
  cnn: true,
  cnnAfter: 0.5,
  cnnWidth: 8,
  densify: false,
};

Deno.test("refine stage: warm-up, training, render path, checkpoints and resume", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await tinyHead();
  const trainer = await Trainer.create(gpu, { dataset, rig, config: CONFIG });
  assert.ok(trainer.refine, "CNN stage created");
  assert.equal(trainer.refine.startStep, 4);
  const initial = await trainer.refine.cnn.getParams();
  let mid: TrainState | null = null;
  trainer.on((e) => {
    if (e.kind === "checkpoint" && !e.final && e.step === 4) mid = e.state;
  });
  const summary = await trainer.run();
  assert.equal(summary.skipped, 0);
  assert.ok(mid, "checkpoint at step 4");
  const midState = mid as TrainState;
  assert.ok(midState.cnn, "checkpoint holds the CNN");
  assert.deepEqual(midState.cnn.params, initial, "CNN untouched during the warm-up");
  const final = await trainer.state();
  assert.ok(final.cnn);
  assert.ok(maxAbsDiff(final.cnn.params, initial) > 0, "CNN trained after the warm-up");
  const lastLayer = final.cnn.params.subarray(trainer.refine.cnn.offsets.at(-1)!);
  assert.ok(lastLayer.some((v) => v !== 0), "output layer left zero");
  const cnnMoments = final.adam.find((g) => g.name === "cnn");
  assert.ok(cnnMoments && cnnMoments.v.some((v) => v > 0), "CNN Adam moments kept");

  // Trainer.render applies the CNN now: it differs from the plain rasterizer's image.
  const frame = dataset.splits.test[0];
  const refined = await trainer.render([frame]);
  const rgbRefined = await refined.rgb.read();
  refined.release();
  const posed = trainer.avatar.pose(trainer.expression(frame.timestep), undefined, false);
  const plain = await trainer.raster.render(posed, frameCameras([frame]));
  const rgbPlain = await plain.rgb.read();
  plain.destroy();
  posed.destroy();
  assert.ok(maxAbsDiff(rgbRefined, rgbPlain) > 1e-4, "render goes through the CNN");
  trainer.destroy();

  // Serialized round trip; resume from the step-4 checkpoint restores the CNN and its Adam group.
  const decoded = decodeCheckpoint(encodeCheckpoint(final), "final");
  assert.deepEqual(decoded.cnn?.params, final.cnn.params);
  assert.deepEqual(decoded.cnn?.config, final.cnn.config);
  const resumed = await Trainer.create(gpu, {
    dataset,
    rig,
    config: CONFIG,
    resume: decodeCheckpoint(encodeCheckpoint(midState), "mid"),
  });
  assert.equal(resumed.step, 4);
  assert.deepEqual(await resumed.refine!.cnn.getParams(), midState.cnn.params);
  await resumed.run();
  assert.ok(maxAbsDiff((await resumed.state()).cnn!.params, initial) > 0);
  resumed.destroy();

  // An older checkpoint without the CNN still loads (the CNN starts fresh).
  const old: TrainState = { ...midState, cnn: null, adam: midState.adam.filter((g) => g.name !== "cnn") };
  const oldDecoded = decodeCheckpoint(encodeCheckpoint(old), "old");
  assert.equal(oldDecoded.cnn, null);
  const fromOld = await Trainer.create(gpu, { dataset, rig, config: CONFIG, resume: oldDecoded });
  assert.deepEqual(await fromOld.refine!.cnn.getParams(), initial);
  fromOld.destroy();
});

Deno.test("refine stage: config checks", () => {
  assert.equal(resolveTrainerConfig().cnnAfter, 0.3);
  assert.throws(() => resolveTrainerConfig({ cnn: true, featureDim: 0 }), /featureDim/);
  assert.throws(() => resolveTrainerConfig({ cnnWidth: 33 }), /cnnWidth/);
  assert.throws(() => resolveTrainerConfig({ cnnAfter: 1.5 }), /cnnAfter/);
});
