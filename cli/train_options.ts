/**
 * The options of `train` (shown by --help) and their mapping onto the trainer's settings.
 */
import {
  LAP_DYNAMICS_DEFAULT,
  LAP_FEATURES_DEFAULT,
  type TrainerConfig,
} from "../training/trainer_config.ts";
import { numberOption, type OptionSpec, type ParsedArgs, stringOption, UsageError } from "./command.ts";

import { DEFAULT_DATA } from "./default_data.ts";
import { MODEL_OPTIONS, modelOverrides } from "./model_options.ts";

export { DEFAULT_DATA };
/**
 * Default steps: about 15 minutes on lavapipe with 2 cores at the default settings. Measured 05:04 UTC on the
 * shared 2-core machine (load about 3): 1m50s loading + B/F fitting, then 0.9 steps/s at 256x256 and 10,000
 * Gaussians, so 700 steps take about 13 minutes of training. A full default run at 05:14 UTC took 11m07s
 * (700 steps in 8m54s; test PSNR 32.5 dB); when the shared cores are busier it takes up to twice as long.
 */
export const DEFAULT_ITERS = 700;

/** The options of `train`. */
export const TRAIN_OPTIONS: Record<string, OptionSpec> = {
  data: {
    type: "string",
    value: "DIR",
    description: `dataset folder (default: ${DEFAULT_DATA}, synthesized)`,
  },
  out: {
    type: "string",
    value: "DIR",
    description: "folder that receives the run folder",
    default: "runs",
  },
  iters: { type: "string", value: "N", description: "optimization steps", default: String(DEFAULT_ITERS) },
  gaussians: { type: "string", value: "N", description: "initial Gaussians", default: "10000" },
  seed: { type: "string", value: "N", description: "random seed", default: "1" },
  "eval-every": {
    type: "string",
    value: "N",
    description: "evaluate val/test every N steps (0: at the end)",
  },
  "eval-frames": { type: "string", value: "N", description: "frames per split an evaluation renders" },
  "checkpoint-every": { type: "string", value: "N", description: "checkpoint every N steps" },
  "checkpoint-minutes": {
    type: "string",
    value: "M",
    description: "also checkpoint every M minutes of wall-clock time (0: off; default 5)",
  },
  views: { type: "string", value: "N", description: "cameras per training step" },
  "sh-degree": { type: "string", value: "N", description: "SH degree of the colour (0..3)" },
  "lr-scale": { type: "string", value: "X", description: "multiplier of every learning rate" },
  "laplacian-k": {
    type: "string",
    value: "N",
    description: "neighbours per Gaussian of the Laplacian regularizers' kNN graph (1..16)",
    default: "8",
  },
  "lap-features": {
    type: "string",
    value: "W",
    description: "weight of the Laplacian term on the latent features (0: off)",
    default: String(LAP_FEATURES_DEFAULT),
  },
  "lap-dynamics": {
    type: "string",
    value: "W",
    description: "weight of the Laplacian term on G's predicted offsets (0: off)",
    default: String(LAP_DYNAMICS_DEFAULT),
  },
  "no-densify": { type: "boolean", description: "no adaptive density control (clone / split / prune)" },
  "sync-every": {
    type: "string",
    value: "N",
    description: "streamed steps: wait for the GPU once every N steps (0: wait inside every step)",
    default: "20",
  },
  "image-budget": {
    type: "string",
    value: "MIB",
    description: "GPU memory for resident training images (over it they are uploaded every step)",
    default: "1024",
  },
  "no-mouth-cavity": {
    type: "boolean",
    description: "do not close the rig's open lip slit with a mouth cavity (rigs without a mouth interior)",
  },
  "field-rotation": {
    type: "boolean",
    description: "also turn the Gaussians by F's local rotation where F moves them (off by default)",
  },
  cnn: {
    type: "boolean",
    description: "screen-space refinement CNN on RGB + rendered features (off by default)",
  },
  "no-cnn": { type: "boolean", description: "no refinement CNN" },
  "cnn-after": {
    type: "string",
    value: "FRACTION",
    description: "fraction of --iters after which the loss is on the CNN's output",
    default: "0.3",
  },
  "cnn-width": {
    type: "string",
    value: "N",
    description: "channels of the CNN's hidden 3x3 convolutions (1..32)",
    default: "16",
  },
  "max-gaussians": {
    type: "string",
    value: "N",
    description: "cap on the Gaussian count under density control (default: 2 x --gaussians)",
  },
  "density-mode": {
    type: "string",
    value: "MODE",
    description: "dynamic (mean gradient over the views where a Gaussian shows) or basic (3DGS)",
  },
  downscale: { type: "string", value: "N", description: "downscale the dataset images by N", default: "1" },
  resume: {
    type: "string",
    value: "RUN",
    description:
      "continue the run folder RUN from its newest valid checkpoint (--iters, --eval-*, --checkpoint-* may change)",
  },
  "init-ply": {
    type: "string",
    value: "FILE",
    description:
      "initialize the canonical Gaussians from a static 3DGS PLY (SH cut or zero-padded, features 0)",
  },
  host: {
    type: "string",
    value: "HOST",
    description: "dashboard address (not loopback: a token is printed)",
    default: "127.0.0.1",
  },
  port: { type: "string", value: "N", description: "dashboard port (0: any free port)", default: "8000" },
  "no-dashboard": { type: "boolean", description: "do not serve the live dashboard" },
  ...MODEL_OPTIONS,
};

/** An integer option (at least 0 unless `min` says otherwise). */
export const num = (
  args: ParsedArgs,
  name: string,
  o: { integer?: boolean; min?: number; max?: number } = {},
) => numberOption(args, name, { integer: true, min: 0, ...o });

/** The trainer settings given by options (defaults of the options included). */
export function trainerOverrides(args: ParsedArgs): Partial<TrainerConfig> {
  const c: Partial<TrainerConfig> = modelOverrides(args);
  const set = <K extends keyof TrainerConfig>(k: K, v: number | undefined) => {
    if (v !== undefined) c[k] = v as TrainerConfig[K];
  };
  set("iters", num(args, "iters", { min: 1 }));
  set("gaussians", num(args, "gaussians", { min: 1 }));
  set("seed", num(args, "seed", { max: 2 ** 32 - 1 }));
  set("evalEvery", num(args, "eval-every"));
  set("evalFrames", num(args, "eval-frames"));
  set("checkpointEvery", num(args, "checkpoint-every"));
  set("checkpointMinutes", numberOption(args, "checkpoint-minutes", { min: 0 }));
  set("viewsPerStep", num(args, "views", { min: 1, max: 64 }));
  set("shDegree", num(args, "sh-degree", { max: 3 }));
  set("lrScale", numberOption(args, "lr-scale", { min: 0 }));
  set("maxGaussians", num(args, "max-gaussians", { min: 1 }));
  if (args.values["no-densify"]) c.densify = false;
  if (args.values["no-mouth-cavity"]) c.mouthCavity = false;
  if (args.values["field-rotation"]) c.fieldRotation = true;
  set("syncEvery", num(args, "sync-every", { max: 256 }));
  set("imageBudgetMiB", num(args, "image-budget"));
  const mode = stringOption(args, "density-mode");
  if (mode !== undefined && mode !== "dynamic" && mode !== "basic") {
    throw new UsageError(`--density-mode must be dynamic or basic, got ${mode}`);
  }
  if (mode) c.densityMode = mode;
  set("laplacianK", num(args, "laplacian-k", { min: 1, max: 16 }));
  set("lapFeatures", numberOption(args, "lap-features", { min: 0 }));
  set("lapDynamics", numberOption(args, "lap-dynamics", { min: 0 }));
  if (args.values["cnn"] && args.values["no-cnn"]) throw new UsageError("give --cnn or --no-cnn, not both");
  if (args.values["cnn"]) c.cnn = true;
  if (args.values["no-cnn"]) c.cnn = false;
  set("cnnAfter", numberOption(args, "cnn-after", { min: 0, max: 1 }));
  set("cnnWidth", num(args, "cnn-width", { min: 1, max: 32 }));
  return c;
}
