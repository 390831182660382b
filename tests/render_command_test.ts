/**
 * `deno task render` through its exported function: a small random avatar (2,000 Gaussians, random G and F so
 * the expression moves them) written as a run folder with a tiny camera-only dataset, rendered at 64x64.
 */
import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { writeNpy } from "../data/npy.ts";
import { decodeImage } from "../data/image_io.ts";
import { encodeCheckpoint } from "../training/checkpoint.ts";
import { defaultCameraInfo, renderView, viewCamera } from "../dashboard/avatar_view.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { renderAvatar, type RenderJob } from "../cli/render.ts";
import { resizeCamera } from "../cli/render_camera.ts";
import { toRgb8 } from "../cli/render_driver.ts";
import { UsageError } from "../cli/command.ts";
import { Tensor } from "../gpu/tensor.ts";
import { biasIndex, convParamCount, paddedChannels, weightIndex } from "../training/conv2d.ts";
import { conv2dForwardCpu } from "../training/conv2d_cpu.ts";
import { type RefineCnnConfig, refineLayers } from "../training/refine_cnn.ts";
import { loadAvatarFile } from "../data/avatar_file.ts";
import { DataError } from "../data/errors.ts";
import { testGpu } from "./helpers.ts";
import { randomAvatar } from "./avatar_fixture.ts";

const NAMES = ["jawOpen", "mouthSmile_L", "eyeBlink_R"];
const D = NAMES.length;

/** A camera-only dataset: one train frame (camera 3, 48x40), two test timesteps, named expressions. */
async function writeDataset(dir: string, names: string[] | null): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const c2w = [[1, 0, 0, 0.02], [0, 1, 0, 0], [0, 0, 1, 0.5], [0, 0, 0, 1]];
  const frame = (t: number, cam: number) => ({
    file_path: `images/${t}.png`,
    transform_matrix: c2w,
    timestep_index: t,
    camera_index: cam,
  });
  const intr = { fl_x: 60, fl_y: 60, cx: 24, cy: 20, w: 48, h: 40 };
  await Deno.writeTextFile(
    `${dir}/transforms_train.json`,
    JSON.stringify({ ...intr, frames: [frame(0, 3)] }),
  );
  await Deno.writeTextFile(
    `${dir}/transforms_test.json`,
    JSON.stringify({ ...intr, frames: [frame(2, 3), frame(1, 3)] }),
  );
  const codes = new Float32Array([0, 0, 0, 0.9, 0.1, 0.5, -0.7, 0.8, 0.2]);
  await Deno.writeFile(`${dir}/expressions.npy`, writeNpy(codes, [3, D]));
  if (names) await Deno.writeTextFile(`${dir}/dataset.json`, JSON.stringify({ blendshape_names: names }));
}

async function setup() {
  const gpu = await testGpu();
  const root = await Deno.makeTempDir({ prefix: "render_cmd_" });
  const { avatar, field, snapshot: snap, fieldState } = await randomAvatar(gpu, 2000, D, [11, 12]);
  const run = async (
    name: string,
    names: string[] | null,
    cnn?: { config: RefineCnnConfig; params: Float32Array },
  ) => {
    const bytes = encodeCheckpoint({
      step: 1,
      salt: 0,
      lrFactor: 1,
      avatar: snap,
      adam: [],
      field: fieldState,
      prior: null,
      cnn,
    });
    const dir = `${root}/${name}`;
    await writeDataset(`${dir}/data`, names);
    await Deno.mkdir(`${dir}/checkpoints`, { recursive: true });
    await Deno.writeFile(`${dir}/checkpoints/step-0000001.safetensors`, bytes);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ data: `${dir}/data` }));
    return dir;
  };
  const arkitRun = await run("arkit", NAMES);
  const flameRun = await run("flame", ["expr 0", "expr 1", "expr 2"]);
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 0, background: [1, 1, 1] });
  const featureRaster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 8, background: [1, 1, 1] });
  const frontCamera = () => {
    const info = resizeCamera(defaultCameraInfo(snap.constants.center, snap.constants.extent), 64, 64);
    return viewCamera(info, { camera: 0 }, snap.constants.center);
  };
  const lines: string[] = [];
  const job = (over: Partial<RenderJob>): RenderJob => ({
    avatar: arkitRun,
    out: `${root}/out`,
    width: 64,
    height: 64,
    log: (l) => lines.push(l),
    ...over,
  });
  return {
    gpu,
    root,
    run,
    arkitRun,
    flameRun,
    lines,
    job,
    /** The trainer-free path on the in-memory avatar (no files involved). */
    direct: async (z: number[]) =>
      toRgb8(await renderView({ avatar, field, raster }, frontCamera(), Float32Array.from(z))),
    /** RGB [64, 64, 3] and the features splatted as 8 extra channels, in float, at code `z`. */
    withFeatures: async (z: number[]) => {
      const dx = Tensor.empty(gpu, [avatar.count, 3], "f32", "test.dx");
      field.evaluate(avatar.params.means, null, Float32Array.from(z), dx);
      const posed = avatar.pose(Float32Array.from(z), dx, false);
      posed.extras = avatar.params.features;
      const out = await featureRaster.render(posed, [frontCamera()]);
      const r = {
        rgb: await out.rgb.read() as Float32Array,
        extras: await out.extras.read() as Float32Array,
      };
      out.destroy();
      posed.destroy();
      dx.destroy();
      return r;
    },
    destroy: async () => {
      raster.destroy();
      featureRaster.destroy();
      field.destroy();
      avatar.destroy();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function pixels(file: string): { rgb: Uint8Array; width: number; height: number } {
  const img = decodeImage(Deno.readFileSync(file), file);
  assert.equal(img.channels, 3);
  return { rgb: img.data, width: img.width, height: img.height };
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("render command: expressions, CSV, dataset split and cameras on a small avatar", async (t) => {
  const s = await setup();
  const Z = [[0, 0, 0], [1, -0.8, 0.6]];
  try {
    await t.step("two expression codes give two frames that match the trainer-free render", async () => {
      const npy = `${s.root}/codes.npy`;
      await Deno.writeFile(npy, writeNpy(new Float32Array(Z.flat()), [2, D]));
      const out = `${s.root}/npy`;
      const r = await renderAvatar(s.job({ out, expressions: npy }), s.gpu);
      assert.deepEqual(r.files, [`${out}/frame_00000.png`, `${out}/frame_00001.png`]);
      const [a, b] = r.files.map(pixels);
      assert.equal(a.width, 64);
      assert.equal(a.height, 64);
      assert.ok(maxDiff(a.rgb, b.rgb) > 40, "different expressions must render differently");
      assert.ok(maxDiff(a.rgb, await s.direct(Z[0])) <= 1, "frame 0 = trainer-free render");
      assert.ok(maxDiff(b.rgb, await s.direct(Z[1])) <= 1, "frame 1 = trainer-free render");
      assert.ok(maxDiff(a.rgb, new Uint8Array(a.rgb.length).fill(255)) > 40, "the avatar is in view");
      const meta = JSON.parse(await Deno.readTextFile(`${out}/frames.json`));
      assert.equal(meta.frames.length, 2);
      assert.equal(meta.frames[1].source, "row 1");

      const one = await renderAvatar(s.job({ out: `${s.root}/one`, expressions: npy, frame: 1 }), s.gpu);
      assert.equal(one.files.length, 1);
      assert.ok(maxDiff(pixels(one.files[0]).rgb, b.rgb) <= 1, "--frame 1 renders row 1");
      assert.ok(s.lines.some((l) => /2 frame\(s\) of 64x64 .* frames\/s/.test(l)), s.lines.join("\n"));
    });

    await t.step("ARKit CSV drives the avatar by name; missing and extra columns are reported", async () => {
      const csv = `${s.root}/take.csv`;
      await Deno.writeTextFile(
        csv,
        "Timecode,BlendShapeCount,TongueOut,MouthSmileLeft,JawOpen,HeadYaw\n" +
          "00:00:00:00.000,3,0.5,0,0,10\n00:00:00:01.000,3,0.2,-0.8,1,11\n",
      );
      s.lines.length = 0;
      const r = await renderAvatar(s.job({ out: `${s.root}/csv`, csv }), s.gpu);
      assert.equal(r.files.length, 2);
      const log = s.lines.join("\n");
      assert.match(log, /missing \(held at 0\): eyeBlink_R/);
      assert.match(log, /extra CSV columns \(ignored\): TongueOut/);
      assert.ok(
        maxDiff(pixels(r.files[1]).rgb, await s.direct([1, -0.8, 0])) <= 1,
        "row 1 = code [1, -0.8, 0]",
      );
      assert.ok(maxDiff(pixels(r.files[0]).rgb, await s.direct([0, 0, 0])) <= 1);
      await assert.rejects(
        () => renderAvatar(s.job({ avatar: s.flameRun, out: `${s.root}/csv2`, csv }), s.gpu),
        (e: unknown) => e instanceof UsageError && /CSV driving needs .* ARKit-named/.test(e.message),
      );
    });

    await t.step(
      "an avatar with a refinement CNN renders RGB + CNN(RGB, features) like the CPU reference",
      async () => {
        const cfg: RefineCnnConfig = { featureDim: 8, width: 6, hidden: 1, seed: 1 };
        const layers = refineLayers(cfg);
        const n = layers.reduce((a, l) => a + convParamCount(l), 0);
        const rng = new Rng(21);
        // Random logical weights and biases in conv2d.ts's block layout (pad entries stay 0).
        const params = new Float32Array(n);
        let base = 0;
        for (const l of layers) {
          for (let o = 0; o < l.cout; o++) {
            params[base + biasIndex(l, o)] = rng.uniform(-0.15, 0.15);
            for (let tap = 0; tap < 9; tap++) {
              for (let i = 0; i < l.cin; i++) {
                params[base + weightIndex(l, tap, i, o)] = rng.uniform(-0.15, 0.15);
              }
            }
          }
          base += convParamCount(l);
        }
        const zeroOut = params.slice();
        zeroOut.fill(0, convParamCount(layers[0]));
        const z = [0.5, 0.2, -0.3];
        const npy = `${s.root}/z.npy`;
        await Deno.writeFile(npy, writeNpy(Float32Array.from(z), [D]));
        const render = async (name: string, p: Float32Array) => {
          const avatar = await s.run(name, NAMES, { config: cfg, params: p });
          const r = await renderAvatar(
            s.job({ avatar, out: `${s.root}/${name}_out`, expressions: npy }),
            s.gpu,
          );
          return pixels(r.files[0]).rgb;
        };
        const plain = await s.direct(z);
        assert.ok(
          maxDiff(await render("cnn0", zeroOut), plain) <= 1,
          "a zero output layer leaves the render as is",
        );
        const got = await render("cnn", params);
        const { rgb, extras } = await s.withFeatures(z);
        const shape = { views: 1, height: 64, width: 64 }, P = 64 * 64;
        const CI = paddedChannels(11), CO = paddedChannels(3);
        let x: Float64Array = new Float64Array(P * CI);
        for (let p = 0; p < P; p++) {
          for (let c = 0; c < 3; c++) x[p * CI + c] = rgb[p * 3 + c];
          for (let c = 0; c < 8; c++) x[p * CI + 3 + c] = extras[p * 8 + c];
        }
        let off = 0;
        for (const l of layers) {
          x = conv2dForwardCpu(l, shape, x, params, off);
          off += convParamCount(l);
        }
        const want = Uint8Array.from(
          rgb,
          (v, i) => Math.round(Math.min(Math.max(v + x[Math.floor(i / 3) * CO + (i % 3)], 0), 1) * 255),
        );
        assert.ok(maxDiff(got, want) <= 1, `refined render = CPU reference (max diff ${maxDiff(got, want)})`);
        assert.ok(maxDiff(got, plain) > 10, "the CNN changes the image");
      },
    );

    await t.step("avatar files: run folder, checkpoint inside it, clear errors", async () => {
      const fromRun = await loadAvatarFile(s.arkitRun);
      assert.equal(fromRun.file, `${s.arkitRun}/checkpoints/step-0000001.safetensors`);
      assert.deepEqual(fromRun.expressionNames, NAMES);
      assert.equal(fromRun.cloud.count, 2000);
      assert.ok(fromRun.field && fromRun.field.params.length > 0);
      const fromFile = await loadAvatarFile(fromRun.file);
      assert.deepEqual(fromFile.config, fromRun.config);
      assert.deepEqual(fromFile.expressionNames, NAMES);
      assert.deepEqual((await loadAvatarFile(s.flameRun)).expressionNames, ["expr 0", "expr 1", "expr 2"]);
      await assert.rejects(() => loadAvatarFile(`${s.root}/nothing`), /nothing: does not exist/);
      await Deno.writeTextFile(`${s.root}/a.npga`, "x");
      await assert.rejects(() => loadAvatarFile(`${s.root}/a.npga`), DataError);
    });

    await t.step("a dataset split drives the avatar from a dataset camera", async () => {
      const out = `${s.root}/split`;
      const r = await renderAvatar(
        {
          avatar: s.flameRun,
          out,
          data: `${s.flameRun}/data`,
          split: "test",
          camera: "data:3",
          log: () => {},
        },
        s.gpu,
      );
      assert.equal(r.files.length, 2, "the test split has timesteps 1 and 2");
      assert.equal(r.width, 48);
      assert.equal(r.height, 40);
      assert.deepEqual(r.sequence.labels, ["timestep 1", "timestep 2"]);
      assert.deepEqual(Array.from(r.sequence.codes), [0.9, 0.1, 0.5, -0.7, 0.8, 0.2].map(Math.fround));
      const a = pixels(r.files[0]);
      assert.equal(a.width, 48);
      const self = await renderAvatar(
        { avatar: s.arkitRun, out: `${s.root}/self`, split: "test", camera: "data:3", log: () => {} },
        s.gpu,
      );
      assert.deepEqual(
        self.sequence.labels,
        ["timestep 1", "timestep 2"],
        "--split alone: the run's dataset",
      );
      const mesh = await s.run("mesh", NAMES);
      const cfg = { data: `${mesh}/data`, trainer: { deformation: "mesh" } };
      await Deno.writeTextFile(`${mesh}/config.json`, JSON.stringify(cfg));
      await assert.rejects(() => renderAvatar(s.job({ avatar: mesh, out }), s.gpu), /mesh-rigged baseline/);
      await assert.rejects(
        () => renderAvatar(s.job({ camera: "data:7", out }), s.gpu),
        (e: unknown) => e instanceof UsageError && /no camera 7; its cameras are 3/.test(e.message),
      );
    });
  } finally {
    await s.destroy();
  }
});
