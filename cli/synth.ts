/** `synth`: renders the built-in synthetic head into a dataset folder (see data/synth.ts for the layout). */
import { acquireGpu } from "../gpu/device.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { type Command, numberOption, stringOption } from "./command.ts";

export const synthCommand: Command = {
  name: "synth",
  summary: "write the built-in synthetic head dataset (multi-view renders, expressions, rig.glb)",
  usage: "[--out DIR] [--cameras N] [--timesteps N] [--test-timesteps N] [--size PX] [--seed N] [--force]",
  options: {
    out: {
      type: "string",
      value: "DIR",
      description: "dataset folder to write",
      default: "datasets/synthetic-head",
    },
    cameras: {
      type: "string",
      value: "N",
      description: "cameras on the frontal cap (one held out)",
      default: "16",
    },
    timesteps: { type: "string", value: "N", description: "training timesteps", default: "60" },
    "test-timesteps": { type: "string", value: "N", description: "held-out test timesteps", default: "10" },
    size: { type: "string", value: "PX", description: "image width and height in pixels", default: "256" },
    seed: { type: "string", value: "N", description: "random seed (same seed, same bytes)", default: "1" },
    force: { type: "boolean", description: "replace an existing dataset folder" },
    "contact-sheet": { type: "string", value: "FILE", description: "also write a 4x4 contact sheet PNG" },
  },
  async run(args) {
    const out = stringOption(args, "out") ?? "datasets/synthetic-head";
    const opts = {
      out,
      cameras: numberOption(args, "cameras", { integer: true, min: 2, max: 256 }),
      timesteps: numberOption(args, "timesteps", { integer: true, min: 1, max: 100000 }),
      testTimesteps: numberOption(args, "test-timesteps", { integer: true, min: 0, max: 100000 }),
      size: numberOption(args, "size", { integer: true, min: 16, max: 4096 }),
      seed: numberOption(args, "seed", { integer: true, min: 0, max: 2 ** 31 - 1 }),
      force: args.values.force === true,
      contactSheet: stringOption(args, "contact-sheet"),
    };
    const gpu = await acquireGpu();
    const t0 = performance.now();
    let last = 0;
    const info = await writeSyntheticDataset(gpu, {
      ...opts,
      onProgress: (done, total) => {
        const now = performance.now();
        if (done === total || now - last > 2000) {
          last = now;
          console.log(`synth: rendered ${done}/${total} timesteps (${((now - t0) / 1000).toFixed(1)} s)`);
        }
      },
    });
    const n = info.num_cameras * (info.test_timesteps[1]);
    console.log(
      `synth: wrote ${n} images of ${info.width}x${info.height}, ${info.blendshape_names.length} blendshapes, ` +
        `to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (opts.contactSheet) console.log(`synth: contact sheet ${opts.contactSheet}`);
    gpu.destroy();
  },
};
