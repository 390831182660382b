/**
 * The trainer's ablation modes on a small synthetic head (64x64, 4 cameras): the mesh-rigged baseline
 * (`deformation: "mesh"`) trains with G frozen and moves the Gaussians with the rig; "no distillation" (no B,
 * `fieldFromZero`) learns F from zero by the photometric loss alone; the config rejects inconsistent settings.
 */
import assert from "node:assert/strict";
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { meanColourPsnr } from "../training/evaluate.ts";
import { frameCameras } from "../training/frame_batches.ts";
import { Trainer } from "../training/trainer.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import { maxAbsDiff, testGpu } from "./helpers.ts";

const SMALL: Partial<TrainerConfig> = {
  gaussians: 1500,
  priorSteps: 0,
  distillSteps: 0,
  evalFrames: 4,
  checkpointEvery: 0,
  logEvery: 50,
  seed: 4,
  iters: 16,
};

Deno.test("ablation modes: mesh-rigged baseline and photometric-only F train; config checks", async () => {
  assert.throws(
    () => resolveTrainerConfig({ deformation: "mesh", priorSteps: 10, distillSteps: 10 }),
    /mesh/,
  );
  assert.throws(() => resolveTrainerConfig({ deformation: "rig" as "mesh" }), /deformation/);
  assert.throws(() => resolveTrainerConfig({ fieldFromZero: true }), /fieldFromZero/, "with distillation");
  assert.throws(
    () => resolveTrainerConfig({ fieldFromZero: true, priorSteps: 0, distillSteps: 0, fieldLr: 0 }),
    /fieldFromZero/,
    "with nothing to learn it at",
  );
  const gpu = await testGpu();
  const dir = await Deno.makeTempDir({ prefix: "npga-ablation-test-" });
  const out = `${dir}/head`;
  await writeSyntheticDataset(gpu, {
    out,
    cameras: 4,
    timesteps: 8,
    testTimesteps: 3,
    size: 64,
    seed: 5,
    rig: "exact",
  });
  const dataset = await loadDataset(out);
  const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
  await Deno.remove(dir, { recursive: true });
  const baseline = meanColourPsnr(dataset.splits.test);

  const mesh = await Trainer.create(gpu, { dataset, rig, config: { ...SMALL, deformation: "mesh" } });
  assert.equal(mesh.field, null);
  const g0 = await mesh.avatar.detail.getParams();
  // At the frame with the strongest expression the rig moves the face: the render differs from the neutral-code render.
  const norm = (t: number) => Math.hypot(...mesh.expression(t));
  const open = dataset.splits.train.reduce((a, f) => norm(f.timestep) > norm(a.timestep) ? f : a);
  assert.ok(norm(open.timestep) > 0.3, `a train frame with a strong expression (${norm(open.timestep)})`);
  const posedRender = await mesh.render([open]);
  const posedImg = await posedRender.rgb.read();
  posedRender.release();
  const neutral = mesh.avatar.pose(new Float32Array(dataset.expressionDim));
  const neutralOut = await mesh.raster.render(neutral, [
    frameCameras([open])[0],
  ]);
  const neutralImg = await neutralOut.rgb.read();
  neutralOut.destroy();
  neutral.destroy();
  assert.ok(
    maxAbsDiff(posedImg, neutralImg) > 0.01,
    `the mesh-rigged avatar follows the rig (${maxAbsDiff(posedImg, neutralImg)})`,
  );
  // Control: without F and with G at zero (NPGA mode, untrained) the same frame renders as the neutral code.
  const still = await Trainer.create(gpu, { dataset, rig, config: SMALL });
  const stillRender = await still.render([open]);
  assert.ok(maxAbsDiff(await stillRender.rgb.read(), neutralImg) < 1e-6, "the control does not move");
  stillRender.release();
  still.destroy();
  const s = await mesh.run();
  assert.equal(s.skipped, 0);
  assert.equal(maxAbsDiff(await mesh.avatar.detail.getParams(), g0), 0, "G stays frozen");
  const meshTest = s.metrics.find((m) => m.split === "test")!;
  assert.ok(
    meshTest.psnr > baseline + 2,
    `mesh-rigged test PSNR ${meshTest.psnr} vs mean colour ${baseline}`,
  );
  mesh.destroy();

  const photo = await Trainer.create(gpu, {
    dataset,
    rig,
    config: { ...SMALL, fieldFromZero: true, fieldLr: 5e-4, cycleWeight: 0 },
  });
  assert.ok(photo.field && !photo.prior, "F without B");
  const f0 = await photo.field.mlp.getParams();
  const p = await photo.run();
  assert.equal(p.skipped, 0);
  assert.ok(maxAbsDiff(await photo.field.mlp.getParams(), f0) > 0, "F is learned photometrically");
  photo.destroy();
});
