import assert from "node:assert/strict";
import { DataError } from "../data/errors.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { decodeImage } from "../data/image_io.ts";
import { readNpy } from "../data/npy.ts";
import { SYNTH_VERSION, type SyntheticDatasetInfo, writeSyntheticDataset } from "../data/synth.ts";
import { buildSyntheticHead } from "../data/synthetic_head.ts";
import { SYNTHETIC_BLENDSHAPES } from "../data/synthetic_head.ts";
import { RigRenderer } from "../data/rig_renderer.ts";
import { synthCameras } from "../data/synth.ts";
import { expressionSequence } from "../data/synthetic_head_capture.ts";
import { testGpu } from "./helpers.ts";

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

interface Transforms {
  fl_x: number;
  w: number;
  h: number;
  frames: {
    file_path: string;
    fg_mask_path: string;
    transform_matrix: number[][];
    timestep_index: number;
    camera_index: number;
  }[];
}

Deno.test("synth: small dataset has the documented layout and is byte-identical for the same seed", async () => {
  const gpu = await testGpu();
  const root = await Deno.makeTempDir({ prefix: "npga-synth-" });
  try {
    const opts = { cameras: 3, timesteps: 3, testTimesteps: 2, size: 32, seed: 9 };
    await writeSyntheticDataset(gpu, { ...opts, out: `${root}/a` });
    await writeSyntheticDataset(gpu, { ...opts, out: `${root}/b` });
    const files = await listFiles(`${root}/a`);
    assert.deepEqual(files, await listFiles(`${root}/b`));
    for (const f of files) {
      assert.deepEqual(
        await Deno.readFile(`${root}/a/${f}`),
        await Deno.readFile(`${root}/b/${f}`),
        `${f} differs`,
      );
    }
    assert.equal(files.filter((f) => f.startsWith("images/")).length, 3 * 5);
    assert.equal(files.filter((f) => f.startsWith("fg_masks/")).length, 3 * 5);
    assert.ok((await Array.fromAsync(Deno.readDir(root))).every((e) => !e.name.endsWith(".partial")));

    const dir = `${root}/a`;
    const info: SyntheticDatasetInfo = JSON.parse(await Deno.readTextFile(`${dir}/dataset.json`));
    assert.deepEqual(info.blendshape_names, [...SYNTHETIC_BLENDSHAPES]);
    assert.deepEqual(info.train_timesteps, [0, 3]);
    assert.deepEqual(info.test_timesteps, [3, 5]);
    const split = async (s: string): Promise<Transforms> =>
      JSON.parse(await Deno.readTextFile(`${dir}/transforms_${s}.json`));
    const [train, val, test] = [await split("train"), await split("val"), await split("test")];
    const valCam = info.val_camera_indices[0];
    assert.equal(train.frames.length, 2 * 3);
    assert.equal(val.frames.length, 3);
    assert.ok(val.frames.every((f) => f.camera_index === valCam && f.timestep_index < 3));
    assert.ok(train.frames.every((f) => f.camera_index !== valCam && f.timestep_index < 3));
    assert.equal(test.frames.length, 3 * 2);
    assert.ok(test.frames.every((f) => f.timestep_index >= 3));
    assert.equal(train.w, 32);
    for (const f of train.frames) {
      const m = f.transform_matrix;
      assert.equal(m.length, 4);
      assert.deepEqual(m[3], [0, 0, 0, 1]);
      // OpenGL convention: the camera looks down -z, so its +z column points from the head to the camera.
      const toCam = [m[0][3], m[1][3] + 0.005, m[2][3]];
      assert.ok(m[0][2] * toCam[0] + m[1][2] * toCam[1] + m[2][2] * toCam[2] > 0.99);
      const img = decodeImage(await Deno.readFile(`${dir}/${f.file_path}`), f.file_path);
      assert.equal(img.width, 32);
      assert.equal(img.channels, 4);
      const mask = decodeImage(await Deno.readFile(`${dir}/${f.fg_mask_path}`), f.fg_mask_path);
      assert.equal(mask.width, 32);
    }

    const expr = readNpy(await Deno.readFile(`${dir}/expressions.npy`), "expressions.npy");
    assert.deepEqual(expr.shape, [5, SYNTHETIC_BLENDSHAPES.length]);
    assert.equal(expr.dtype, "<f4");
    const rig = await readRigGlb(await Deno.readFile(`${dir}/rig.glb`), "rig.glb");
    assert.deepEqual(rig.blendshapeNames, [...SYNTHETIC_BLENDSHAPES]);
    assert.deepEqual(Array.from(rig.mouthVertices), info.mouth_vertex_indices);

    // Default: the tracked-style rig and noisy codes; the true codes beside them.
    assert.equal(info.version, SYNTH_VERSION);
    assert.equal(info.rig_kind, "tracked");
    assert.equal(info.render_geometry, "parametric");
    const nRig = rig.positions.length / 3;
    assert.equal(info.rig_vertices, nRig);
    assert.ok(Math.abs(nRig - 5000) < 250 && info.rendered_vertices > 4 * nRig, `${nRig} rig vertices`);
    assert.ok(
      info.tracked && info.tracked.dropped_vertices.teeth > 0 && info.tracked.dropped_vertices.tongue > 0,
    );
    assert.equal(info.tracking_noise?.sigma, 0.04);
    const truth = readNpy(await Deno.readFile(`${dir}/expressions_true.npy`), "expressions_true.npy");
    assert.deepEqual(truth.shape, expr.shape);
    const seq = expressionSequence(3, SYNTHETIC_BLENDSHAPES, 9 * 7919 + 1);
    const given = expr.data as Float32Array, trueCodes = truth.data as Float32Array;
    assert.deepEqual(trueCodes.subarray(0, seq.length), seq);
    let noise = 0;
    for (let i = 0; i < given.length; i++) noise = Math.max(noise, Math.abs(given[i] - trueCodes[i]));
    assert.ok(noise > 0.01 && noise < 0.25, `tracking noise up to ${noise}`);
    const e = info.rig_error!;
    assert.deepEqual(e.timesteps, [3, 5]);
    assert.ok(e.moving.samples > 0 && e.mouth.samples > 0);
    assert.ok(e.moving.rig.mean_mm > 0.05, "the approximate rig is not exact");
    assert.ok(
      e.moving.rig.mean_mm < 0.5 * e.moving.zero_field.mean_mm,
      "but much closer than the zero field",
    );
    // Surface distance: the rendered outer surface is near the rig's posed surface, nearer than to its neutral.
    const s = e.surface!;
    assert.ok(s.all.samples > info.rig_vertices * 2 && s.mouth.samples > 0 && s.moving.samples > 0);
    assert.ok(s.moving.rig.mean_mm > 0 && s.moving.rig.mean_mm < s.moving.zero_field.mean_mm);

    await assert.rejects(() => writeSyntheticDataset(gpu, { ...opts, out: dir }), DataError);
    await writeSyntheticDataset(gpu, { ...opts, seed: 10, out: dir, force: true });
    assert.notDeepEqual(
      await Deno.readFile(`${dir}/expressions.npy`),
      await Deno.readFile(`${root}/b/expressions.npy`),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("synth: --rig exact hands over the rendered rig and the true codes, rendered as their blend", async () => {
  const gpu = await testGpu();
  const root = await Deno.makeTempDir({ prefix: "npga-synth-exact-" });
  try {
    const dir = `${root}/exact`, seed = 4;
    await writeSyntheticDataset(gpu, {
      out: dir,
      cameras: 2,
      timesteps: 2,
      testTimesteps: 1,
      size: 24,
      seed,
      rig: "exact",
    });
    const info: SyntheticDatasetInfo = JSON.parse(await Deno.readTextFile(`${dir}/dataset.json`));
    assert.equal(info.rig_kind, "exact");
    assert.equal(info.render_geometry, "blend");
    assert.equal(info.tracked, undefined);
    assert.equal(info.tracking_noise, undefined);
    assert.ok(info.rig_error!.all.rig.p95_mm < 1e-3, "the exact rig is the rendered geometry");
    assert.ok(info.rig_error!.surface!.all.rig.p95_mm < 1e-3, "and the rendered surface lies on it");
    await assert.rejects(() => Deno.stat(`${dir}/expressions_true.npy`), Deno.errors.NotFound);
    const full = buildSyntheticHead({ seed });
    const rig = await readRigGlb(await Deno.readFile(`${dir}/rig.glb`), "rig.glb");
    assert.deepEqual(rig.positions, full.positions);
    assert.deepEqual(Array.from(rig.mouthVertices), Array.from(full.mouthVertices));
    const expr = readNpy(await Deno.readFile(`${dir}/expressions.npy`), "expressions.npy");
    const train = expressionSequence(2, SYNTHETIC_BLENDSHAPES, seed * 7919 + 1);
    const codes = expr.data as Float32Array;
    assert.deepEqual(codes.subarray(0, train.length), train);
    // The images are the rig posed by the codes (what `setWeights` renders).
    const renderer = new RigRenderer(gpu, full, { width: 24, height: 24 });
    renderer.setWeights(codes.subarray(SYNTHETIC_BLENDSHAPES.length, 2 * SYNTHETIC_BLENDSHAPES.length));
    const img = await renderer.render(synthCameras(2, 24, seed)[1]);
    renderer.destroy();
    const png = decodeImage(await Deno.readFile(`${dir}/images/01/00001.png`), "00001.png");
    assert.deepEqual(png.data, img);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("synth: expression sequence is smooth, in range, and reaches every blendshape at full strength", () => {
  const K = SYNTHETIC_BLENDSHAPES.length;
  // 60 timesteps: the default training sequence (fewer keyframes than blendshapes: two primaries a keyframe).
  for (const [T, seed] of [[120, 3], [60, 1 * 7919 + 1], [60, 5]]) {
    const seq = expressionSequence(T, SYNTHETIC_BLENDSHAPES, seed);
    const peak = new Float32Array(K);
    let maxStep = 0;
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < K; k++) {
        const v = seq[t * K + k];
        assert.ok(v >= 0 && v <= 1, `weight ${v} out of range`);
        peak[k] = Math.max(peak[k], v);
        if (t > 0) maxStep = Math.max(maxStep, Math.abs(v - seq[(t - 1) * K + k]));
      }
    }
    assert.ok(
      Math.min(...peak) >= 0.7,
      `T ${T}: every blendshape peaks >= 0.7 (min peak ${Math.min(...peak)})`,
    );
    assert.ok(maxStep < 0.6, `T ${T}: largest step between timesteps ${maxStep}`);
    assert.deepEqual(expressionSequence(T, SYNTHETIC_BLENDSHAPES, seed), seq);
  }
});
