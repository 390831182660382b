/**
 * End-to-end trainer tests on a small synthetic head (64x64, 4 cameras): the trained avatar beats the mean-colour
 * image on held-out expressions by at least 6 dB, the non-finite guard skips steps and rolls back, and a run
 * resumed from a serialized checkpoint ends where an uninterrupted run does (up to float rounding).
 */
import assert from "node:assert/strict";
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import type { Dataset } from "../data/dataset.ts";
import type { Rig } from "../data/rig.ts";
import { decodeCheckpoint, encodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { avatarLearningRates } from "../training/avatar.ts";
import { meanColourPsnr } from "../training/evaluate.ts";
import { Trainer, type TrainerEvent } from "../training/trainer.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import { RunFolder } from "../data/run_folder.ts";
import { testGpu } from "./helpers.ts";

let cached: Promise<{ dataset: Dataset; rig: Rig }> | null = null;

/** The small synthetic dataset, written once per test process into a temporary folder. */
function smallHead(): Promise<{ dataset: Dataset; rig: Rig }> {
  cached ??= (async () => {
    const gpu = await testGpu();
    const dir = await Deno.makeTempDir({ prefix: "npga-trainer-test-" });
    const out = `${dir}/head`;
    await writeSyntheticDataset(gpu, {
      out,
      cameras: 4,
      timesteps: 12,
      testTimesteps: 4,
      size: 64,
      seed: 3,
      rig: "exact",
    });
    const dataset = await loadDataset(out);
    const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
    await Deno.remove(dir, { recursive: true });
    return { dataset, rig };
  })();
  return cached;
}

const SMALL: Partial<TrainerConfig> = {
  gaussians: 2000,
  priorSteps: 0,
  distillSteps: 0,
  evalFrames: 8,
  checkpointEvery: 0,
  logEvery: 50,
  seed: 2,
};

Deno.test("trainer: a short run beats the mean-colour image on held-out expressions by 6 dB", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const events: TrainerEvent[] = [];
  const trainer = await Trainer.create(gpu, {
    dataset,
    rig,
    config: { ...SMALL, iters: 300 },
    listeners: [(e) => void events.push(e)],
  });
  const before = await trainer.evaluate();
  const summary = await trainer.run();
  trainer.destroy();
  const test = summary.metrics.find((m) => m.split === "test")!;
  const val = summary.metrics.find((m) => m.split === "val")!;
  const baseline = meanColourPsnr(dataset.splits.test);
  const initial = before.metrics.find((m) => m.split === "test")!;
  console.log(
    `test PSNR ${test.psnr.toFixed(2)} dB SSIM ${test.ssim.toFixed(3)} (initial ${
      initial.psnr.toFixed(2)
    }, ` +
      `mean colour ${baseline.toFixed(2)}), val PSNR ${val.psnr.toFixed(2)} SSIM ${val.ssim.toFixed(3)}, ` +
      `${summary.seconds.toFixed(1)} s`,
  );
  assert.equal(summary.step, 300);
  assert.equal(summary.skipped, 0);
  assert.ok(test.psnr >= baseline + 6, `test PSNR ${test.psnr} vs mean colour ${baseline}`);
  assert.ok(test.psnr > initial.psnr + 1, `training improved test PSNR (${initial.psnr} -> ${test.psnr})`);
  const progress = events.filter((e) => e.kind === "progress");
  assert.equal(progress.length, 6);
  const finalEval = events.filter((e) => e.kind === "eval").at(-1);
  assert.ok(finalEval && finalEval.kind === "eval" && finalEval.images.length === 4, "test renders kept");
});

Deno.test("trainer: non-finite losses are skipped, then rolled back to the last checkpoint (with waits and streamed)", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  // syncEvery 5: the poisoned steps are read back together and the step recorded after them is dropped.
  for (const syncEvery of [0, 5]) {
    const events: TrainerEvent[] = [];
    const trainer = await Trainer.create(gpu, {
      dataset,
      rig,
      config: {
        ...SMALL,
        gaussians: 500,
        iters: 12,
        checkpointEvery: 4,
        maxBadSteps: 3,
        logEvery: 1,
        syncEvery,
      },
      listeners: [(e) => void events.push(e)],
    });
    let good: TrainState | null = null;
    trainer.on(async (e) => {
      if (e.kind === "checkpoint" && e.step === 4 && !good) {
        good = e.state;
        // Poison the colour of every Gaussian: every render (and so every loss) becomes NaN.
        const sh = await trainer.avatar.params.sh.read() as Float32Array;
        trainer.avatar.params.sh.upload(sh.map(() => NaN));
      }
    });
    const summary = await trainer.run();
    const skipped = events.filter((e) => e.kind === "skipped");
    const rollbacks = events.filter((e) => e.kind === "rollback");
    assert.equal(skipped.length, 3, "three poisoned steps are skipped");
    assert.equal(rollbacks.length, 1);
    const rb = rollbacks[0];
    assert.ok(rb.kind === "rollback" && rb.toStep === 4 && rb.step === 7, JSON.stringify(rb));
    assert.match(rb.kind === "rollback" ? rb.message : "", /rolled back to the checkpoint of step 4/);
    // After the rollback training went on from step 4 to the end with finite losses.
    assert.equal(summary.step, 12);
    assert.equal(summary.rollbacks, 1);
    const after = events.filter((e) => e.kind === "progress" && e.step > 4);
    assert.ok(
      after.length >= 8 && after.every((e) => e.kind === "progress" && Number.isFinite(e.losses.total)),
    );
    const sh = await trainer.avatar.params.sh.read();
    assert.ok(sh.every(Number.isFinite), "parameters are finite after the rollback");
    trainer.destroy();
  }
});

Deno.test("trainer: resuming from a serialized checkpoint matches an uninterrupted run", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const config = { ...SMALL, gaussians: 800, iters: 16, checkpointEvery: 8 };
  const full = await Trainer.create(gpu, { dataset, rig, config });
  await full.run();
  const expected = await full.state();
  full.destroy();

  let saved: Uint8Array | null = null;
  const first = await Trainer.create(gpu, { dataset, rig, config });
  first.on((e) => {
    if (e.kind === "checkpoint" && e.step === 8 && !e.final) {
      saved = encodeCheckpoint(e.state);
      first.stop();
    }
  });
  const s1 = await first.run();
  first.destroy();
  assert.ok(s1.stopped && s1.step === 8);
  assert.ok(saved);
  const resumed = await Trainer.create(gpu, {
    dataset,
    rig,
    config,
    resume: decodeCheckpoint(saved, "ckpt"),
  });
  assert.equal(resumed.step, 8);
  const s2 = await resumed.run();
  assert.ok(!s2.stopped && s2.step === 16);
  const got = await resumed.state();
  // The rasterizer backward adds gradients with float atomics in varying order, so two runs differ by float
  // rounding; Adam can turn that into up to one learning rate per step where a gradient is near zero. So: 99% of
  // the values agree to 1e-4 (relative 1e-3), and every value within 8 resumed steps of Adam updates.
  const lr = avatarLearningRates(8, 16, resumed.sceneScale);
  const compare = (what: string, a: Float32Array, b: Float32Array, rate: number) => {
    assert.equal(a.length, b.length, what);
    let off = 0, worst = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      if (d > 1e-4 + 1e-3 * Math.abs(b[i])) off++;
      worst = Math.max(worst, d);
    }
    assert.ok(off <= 0.01 * a.length, `${what}: ${off} of ${a.length} values differ (worst ${worst})`);
    assert.ok(worst <= 8 * 1.01 * rate + 1e-5, `${what}: worst difference ${worst} exceeds 8 Adam steps`);
  };
  for (const f of ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const) {
    compare(
      f,
      got.avatar.cloud[f]!,
      expected.avatar.cloud[f]!,
      Math.max(lr[f], avatarLearningRates(0, 16, 1).means),
    );
  }
  compare("G", got.avatar.detailParams, expected.avatar.detailParams, avatarLearningRates(0, 16, 1).detail);
  assert.deepEqual(got.adam.map((g) => g.step), expected.adam.map((g) => g.step));
  resumed.destroy();
});

Deno.test("trainer: checkpoints also on a wall-clock interval", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const checkpointed = async (syncEvery: number) => {
    const steps: number[] = [];
    // 1e-6 minutes (60 us): every step is past the interval; no step-count checkpoints (checkpointEvery 0).
    const trainer = await Trainer.create(gpu, {
      dataset,
      rig,
      config: {
        ...SMALL,
        gaussians: 300,
        iters: 6,
        checkpointEvery: 0,
        checkpointMinutes: 1e-6,
        logEvery: 6,
        syncEvery,
      },
      listeners: [(e) => void (e.kind === "checkpoint" && !e.final && steps.push(e.step))],
    });
    await trainer.run();
    trainer.destroy();
    return steps;
  };
  // With a wait in every step, every step ends past the interval.
  assert.deepEqual(await checkpointed(0), [1, 2, 3, 4, 5]);
  // Streamed, the step after the interval has passed is synced and checkpointed (not every step: the step
  // recorded right after a checkpoint starts before its interval ends).
  const streamed = await checkpointed(20);
  assert.ok(streamed.length >= 2, `streamed wall-clock checkpoints at ${streamed}`);
  assert.ok(streamed.every((s, i) => s >= 1 && s <= 5 && (i === 0 || s > streamed[i - 1])), `${streamed}`);
  assert.equal(resolveTrainerConfig({}).checkpointMinutes, 5, "default: every 5 minutes");
});

Deno.test("trainer config: defaults, overrides and named errors", () => {
  const c = resolveTrainerConfig({ iters: 10 });
  assert.equal(c.iters, 10);
  assert.equal(c.ssimWeight, 0.2);
  assert.throws(() => resolveTrainerConfig({ iters: 0 }), /config\.iters must be at least 1/);
  assert.throws(() => resolveTrainerConfig({ shDegree: 1.5 }), /config\.shDegree must be an integer/);
  assert.throws(() => resolveTrainerConfig({ priorSteps: 0, distillSteps: 5 }), /both be 0/);
  assert.throws(
    () => resolveTrainerConfig({ bogus: 1 } as Partial<TrainerConfig>),
    /unknown setting 'bogus'/,
  );
});

Deno.test("run folder: fresh timestamped folders, atomic JSON, newest checkpoints kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "npga-runs-" });
  const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const a = await RunFolder.create(root, date), b = await RunFolder.create(root, date);
  assert.equal(a.path, `${root}/20260102-030405`);
  assert.equal(b.path, `${root}/20260102-030405-1`);
  await a.writeJson("config.json", { x: [1, 2] });
  assert.deepEqual(await a.readJson("config.json"), { x: [1, 2] });
  assert.equal(await a.latestCheckpoint(), null);
  for (const step of [5, 10, 15]) await a.writeCheckpoint(step, new Uint8Array([step]));
  assert.deepEqual(await a.checkpointSteps(), [10, 15], "the oldest checkpoint is pruned");
  const last = await a.latestCheckpoint();
  assert.equal(last?.step, 15);
  assert.deepEqual(last?.bytes, new Uint8Array([15]));
  const names = [...Deno.readDirSync(`${a.path}/checkpoints`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["step-0000010.safetensors", "step-0000015.safetensors"], "no temp files left");
  await Deno.remove(root, { recursive: true });
});

Deno.test("trainer: F is fine-tuned jointly while the cycle loss keeps it consistent with B", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const events: TrainerEvent[] = [];
  const trainer = await Trainer.create(gpu, {
    dataset,
    rig,
    config: {
      ...SMALL,
      gaussians: 500,
      iters: 20,
      priorSteps: 60,
      distillSteps: 60,
      // B is F's main teacher here (the default weights 100 of the rig and of its basis make the rig the
      // teacher, and 60 steps of B stay further from the rig than F does, so F starts out of the cycle's reach).
      fieldRigWeight: 1,
      fieldBasisWeight: 0,
      fieldLr: 1e-4,
      cycleWeight: 1,
      logEvery: 5,
    },
    listeners: [(e) => void events.push(e)],
  });
  assert.ok(trainer.field && trainer.prior && trainer.fieldReport, "B and F exist");
  const before = await trainer.field.mlp.getParams();
  await trainer.run();
  const after = await trainer.field.mlp.getParams();
  let changed = 0;
  for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) changed++;
  assert.ok(changed > after.length / 2, `F changed in ${changed} of ${after.length} parameters`);
  const cycles = events.flatMap((e) => e.kind === "progress" ? [e.losses.cycle] : []);
  console.log(`cycle loss per logged step: ${cycles.map((c) => c.toExponential(2)).join(", ")}`);
  assert.equal(cycles.length, 4);
  assert.ok(cycles.every((c) => Number.isFinite(c) && c > 0), "the cycle loss is reported");
  // Normalized units (the head spans about [-1, 1]): an RMS cycle residual under 1% of that stays consistent.
  assert.ok(
    cycles.every((c) => Math.sqrt(c) < 0.01),
    "the cycle residual stays under 1% of the head's half-size",
  );
  // The checkpoint holds B and the fine-tuned F.
  const st = decodeCheckpoint(encodeCheckpoint(await trainer.state()), "ckpt");
  assert.deepEqual(st.field?.params, after);
  assert.deepEqual(st.prior?.params, await trainer.prior.mlp.getParams());
  assert.ok(st.adam.some((g) => g.name === "field" && g.step === 20));
  trainer.destroy();
});

Deno.test("trainer: a handed-in F is fine-tuned without B when the cycle loss is off", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const fit = { ...SMALL, gaussians: 300, iters: 6, priorSteps: 30, distillSteps: 30, logEvery: 3 };
  const first = await Trainer.create(gpu, { dataset, rig, config: fit });
  assert.ok(first.field && first.fieldReport);
  const field = {
    config: structuredClone(first.field.config),
    params: await first.field.mlp.getParams(),
    report: first.fieldReport,
  };
  first.destroy();
  const events: TrainerEvent[] = [];
  const trainer = await Trainer.create(gpu, {
    dataset,
    rig,
    config: { ...fit, fieldLr: 1e-4, cycleWeight: 0 },
    pretrainedField: field,
    listeners: [(e) => void events.push(e)],
  });
  assert.ok(
    events.some((e) => e.kind === "phase" && /distilled beforehand/.test(e.message)),
    "F is taken as handed in, not fitted again",
  );
  assert.equal(trainer.prior, null, "no B is kept or needed");
  assert.deepEqual(await trainer.field!.mlp.getParams(), field.params);
  await trainer.run();
  const after = await trainer.field!.mlp.getParams();
  let changed = 0;
  for (let i = 0; i < after.length; i++) if (after[i] !== field.params[i]) changed++;
  assert.ok(changed > after.length / 2, `F changed in ${changed} of ${after.length} parameters`);
  trainer.destroy();
});

Deno.test("trainer: streamed steps (one wait every 5) equal the path with waits, also through a pair-capacity redo", async () => {
  const gpu = await testGpu();
  const { dataset, rig } = await smallHead();
  const config = { ...SMALL, gaussians: 800, iters: 14, logEvery: 1, checkpointEvery: 0, densifyEvery: 6 };
  const run = async (syncEvery: number, shrink: boolean) => {
    const events: TrainerEvent[] = [];
    const t = await Trainer.create(gpu, {
      dataset,
      rig,
      config: { ...config, syncEvery },
      listeners: [(e) => void events.push(e)],
    });
    // A capacity far below the pair count: the first streamed step overflows and is redone.
    if (shrink) t.shrinkPairCapacityForTest(64);
    const w0 = gpu.waits;
    const s = await t.run();
    const waits = gpu.waits - w0;
    const state = await t.state();
    const redos = t.redos;
    t.destroy();
    const losses = events.flatMap((e) => e.kind === "progress" ? [e.losses.total] : []);
    return { s, state, losses, waits, redos };
  };
  const sync = await run(0, false);
  const streamed = await run(5, true);
  assert.equal(sync.redos, 0);
  assert.ok(streamed.redos >= 1, `redone ${streamed.redos} times`);
  assert.equal(streamed.s.step, 14);
  assert.equal(streamed.s.skipped, sync.s.skipped);
  assert.deepEqual(streamed.losses, sync.losses, "the same losses at every logged step");
  for (const f of ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const) {
    assert.deepEqual(streamed.state.avatar.cloud[f], sync.state.avatar.cloud[f], f);
  }
  assert.deepEqual(streamed.state.avatar.detailParams, sync.state.avatar.detailParams, "G");
  assert.deepEqual(streamed.state.adam.map((g) => g.step), sync.state.adam.map((g) => g.step));
  assert.deepEqual(streamed.state.adam.map((g) => g.m), sync.state.adam.map((g) => g.m), "Adam moments");
  console.log(`waits: ${sync.waits} with waits, ${streamed.waits} streamed (${streamed.redos} redo)`);
  // With waits every step waits at least three times (pair count, loss, Laplacian terms); streamed only the
  // drains do (evaluation, density control and state reads wait in both).
  assert.ok(sync.waits - streamed.waits >= 2 * 14, `streamed ${streamed.waits} waits vs ${sync.waits}`);
});
