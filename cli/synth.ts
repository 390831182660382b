/** `synth`: renders the built-in synthetic head into a dataset folder (see data/synth.ts for the layout). */
import { acquireGpu } from "../gpu/device.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import type { SynthRenderGeometry, SynthRigKind } from "../data/synth_rig.ts";
import type { RegionError } from "../data/rig_error.ts";
import { type Command, numberOption, type ParsedArgs, stringOption, UsageError } from "./command.ts";

export const synthCommand: Command = {
  name: "synth",
  summary: "write the built-in synthetic head dataset (multi-view renders, expressions, rig.glb)",
  usage:
    "[--out DIR] [--rig tracked|exact] [--render parametric|blend] [--rig-vertices N] [--rig-smoothing N] " +
    "[--code-noise SIGMA] [--cameras N] [--timesteps N] [--test-timesteps N] [--size PX] [--seed N] [--force] " +
    "[--contact-sheet FILE]",
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
    rig: {
      type: "string",
      value: "KIND",
      description: "rig and codes handed to the trainer: tracked (outer surface only, decimated, smoothed " +
        "deltas, noisy codes, as a face tracker gives) or exact (the rendered rig and true codes); dataset.json " +
        "records how far the rig is from the rendered geometry",
      default: "tracked",
    },
    render: {
      type: "string",
      value: "GEOM",
      description: "pose the rendered head by its parametric geometry or the blend of its blendshapes " +
        "(default: parametric for tracked, blend for exact)",
    },
    "rig-vertices": {
      type: "string",
      value: "N",
      description: "tracked rig: vertices after decimation",
      default: "5000",
    },
    "rig-smoothing": {
      type: "string",
      value: "N",
      description: "tracked rig: Taubin smoothing iterations on the blendshape deltas",
      default: "3",
    },
    "code-noise": {
      type: "string",
      value: "SIGMA",
      description: "tracked rig: tracking noise per code coefficient (standard deviation, correlated over " +
        "time; the true codes go to expressions_true.npy; 0: none)",
      default: "0.04",
    },
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
      rig: choice<SynthRigKind>(args, "rig", ["tracked", "exact"]),
      render: choice<SynthRenderGeometry>(args, "render", ["parametric", "blend"]),
      targetVertices: numberOption(args, "rig-vertices", { integer: true, min: 100, max: 1_000_000 }),
      smoothIterations: numberOption(args, "rig-smoothing", { integer: true, min: 0, max: 1000 }),
      noiseSigma: numberOption(args, "code-noise", { min: 0, max: 1 }),
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
    if (info.tracked) {
      const d = info.tracked.dropped_vertices;
      console.log(
        `synth: tracked rig.glb: ${info.rig_vertices} vertices (outer surface ${info.tracked.kept_before_decimation} ` +
          `decimated; of ${info.rendered_vertices} rendered, dropped ${
            Object.entries(d).map(([k, v]) => `${k} ${v}`).join(", ")
          }), deltas smoothed ${info.tracked.smooth_iterations}x` +
          (info.tracking_noise ? `, code noise sigma ${info.tracking_noise.sigma}` : ""),
      );
    }
    const e = info.rig_error;
    if (e) {
      console.log(
        `synth: rig vs rendered geometry over timesteps ${e.timesteps[0]}..${e.timesteps[1] - 1} ` +
          `(head diagonal ${e.head_diagonal_mm.toFixed(0)} mm): ${region("moving", e.moving)}; ` +
          `${region("mouth", e.mouth)}; ${region("all", e.all)}`,
      );
      if (e.surface) {
        console.log(
          `synth: rendered outer surface to the rig's surface (closest point): ` +
            `${region("moving", e.surface.moving)}; ${region("mouth", e.surface.mouth)}; ` +
            `${region("all", e.surface.all)}`,
        );
      }
    }
    if (opts.contactSheet) console.log(`synth: contact sheet ${opts.contactSheet}`);
    gpu.destroy();
  },
};

function choice<T extends string>(args: ParsedArgs, name: string, values: readonly T[]): T | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw new UsageError(`--${name}: '${v}' is not one of ${values.join(", ")}`);
  }
  return v as T;
}

function region(name: string, r: RegionError): string {
  const f = (s: RegionError["rig"]) =>
    `mean ${s.mean_mm.toFixed(2)} mm (${s.mean_pct_diagonal.toFixed(2)}%), p95 ${s.p95_mm.toFixed(2)} mm`;
  return `${name} ${f(r.rig)} [zero field ${f(r.zero_field)}]`;
}
