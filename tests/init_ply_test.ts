/**
 * `deno task train --init-ply`: a static 3DGS PLY written by our writer becomes the trainer's initial canonical
 * cloud (SH degree 3 cut to the trainer's 1, features zero); SH zero-padding of a lower degree (CPU).
 */
import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { readPly, writePly } from "../data/ply.ts";
import { initialCloud } from "../data/init_cloud.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { Trainer } from "../training/trainer.ts";
import { maxAbsDiff, testGpu } from "./helpers.ts";

function randomCloud(n: number, degree: number): GaussianCloud {
  const r = new Rng(9), K = (degree + 1) ** 2;
  return {
    count: n,
    shDegree: degree,
    means: r.floats(n * 3, -0.1, 0.1),
    quats: r.normals(n * 4),
    logScales: r.floats(n * 3, -6, -4),
    opacityLogits: r.floats(n, -2, 2),
    sh: r.floats(n * K * 3, -0.5, 0.5),
  };
}

Deno.test("init-ply: SH zero-padded to a higher degree, features zero, unit quaternions", () => {
  const c = randomCloud(50, 0), out = initialCloud(c, 2, 4, "x.ply");
  assert.equal(out.shDegree, 2);
  for (let n = 0; n < 50; n++) {
    assert.deepEqual(
      Array.from(out.sh.subarray(n * 27, n * 27 + 3)),
      Array.from(c.sh.subarray(n * 3, n * 3 + 3)),
    );
    assert.ok(out.sh.subarray(n * 27 + 3, (n + 1) * 27).every((v) => v === 0));
    const q = out.quats.subarray(n * 4, n * 4 + 4);
    assert.ok(Math.abs(Math.hypot(q[0], q[1], q[2], q[3]) - 1) < 1e-6);
  }
  assert.deepEqual(out.features, new Float32Array(200));
  assert.throws(() => initialCloud({ ...c, count: 0 }, 1, 4, "e.ply"), /e\.ply: holds no Gaussians/);
});

Deno.test("init-ply: a PLY from our writer is the trainer's initial canonical cloud", async () => {
  const gpu = await testGpu();
  const dir = await Deno.makeTempDir({ prefix: "init_ply_" });
  try {
    await writeSyntheticDataset(gpu, {
      out: `${dir}/head`,
      cameras: 2,
      timesteps: 4,
      testTimesteps: 1,
      size: 32,
      seed: 5,
      rig: "exact",
    });
    const dataset = await loadDataset(`${dir}/head`);
    const rig = await readRigGlb(await Deno.readFile(`${dir}/head/rig.glb`), "rig.glb");
    const src = randomCloud(600, 3);
    const ply = readPly(writePly(src), "scene.ply");
    const trainer = await Trainer.create(gpu, {
      dataset,
      rig,
      config: {
        gaussians: 600,
        priorSteps: 0,
        distillSteps: 0,
        checkpointEvery: 0,
        evalFrames: 1,
        shDegree: 1,
      },
      initCloud: initialCloud(ply, 1, 8, "scene.ply"),
    });
    const got = await trainer.avatar.toCloud();
    trainer.destroy();
    assert.equal(got.count, 600);
    assert.equal(got.shDegree, 1);
    assert.ok(maxAbsDiff(got.means, src.means) < 1e-6, "positions");
    assert.ok(maxAbsDiff(got.logScales, src.logScales) < 1e-6, "log-scales");
    assert.ok(maxAbsDiff(got.opacityLogits, src.opacityLogits) < 1e-5, "opacity");
    for (let n = 0; n < 600; n++) {
      const a = got.sh.subarray(n * 12, n * 12 + 12), b = src.sh.subarray(n * 48, n * 48 + 12);
      assert.ok(maxAbsDiff(a, b) < 1e-6, `SH of Gaussian ${n}`);
    }
    assert.ok((got.features ?? new Float32Array(1)).every((v) => v === 0), "features start at zero");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
