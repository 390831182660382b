/**
 * `train`: trains an avatar end to end (training/trainer.ts) and writes a run folder (data/run_folder.ts).
 *
 * With no `--data` it uses the built-in synthetic head at `datasets/synthetic-head`, synthesizing it first when
 * absent. The default step count (`DEFAULT_ITERS`) is sized so the default run (256x256 images, 10,000
 * Gaussians) finishes in about 15 minutes on the 2-core software adapter (lavapipe), prior and distillation
 * included. `--resume RUN` continues a run from its newest checkpoint with the settings in its config.json.
 * Ctrl-C stops after the current step and writes a checkpoint, so the run can be resumed.
 */
import { acquireGpu } from "../gpu/device.ts";
import { type Dataset, loadDataset } from "../data/dataset.ts";
import { DataError } from "../data/errors.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { encodePng } from "../data/image_io.ts";
import { readPly, writePly } from "../data/ply.ts";
import { initialCloud } from "../data/init_cloud.ts";
import { encodeRunAvatar } from "../data/avatar_file.ts";
import { RunFolder, type RunMetrics } from "../data/run_folder.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../training/checkpoint.ts";
import { sideBySide } from "../training/evaluate.ts";
import { Trainer, type TrainerEvent } from "../training/trainer.ts";
import {
  LAP_DYNAMICS_DEFAULT,
  LAP_FEATURES_DEFAULT,
  resolveTrainerConfig,
  type TrainerConfig,
} from "../training/trainer_config.ts";
import { type Command, numberOption, type ParsedArgs, stringOption, UsageError } from "./command.ts";
import { PortInUseError, startDashboard } from "../dashboard/start.ts";

/** Default dataset folder (synthesized when absent). */
export const DEFAULT_DATA = "datasets/synthetic-head";
/**
 * Default steps: about 15 minutes on lavapipe with 2 cores at the default settings. Measured 05:04 UTC on the
 * shared 2-core machine (load about 3): 1m50s loading + B/F fitting, then 0.9 steps/s at 256x256 and 10,000
 * Gaussians, so 700 steps take about 13 minutes of training. A full default run at 05:14 UTC took 11m07s
 * (700 steps in 8m54s; test PSNR 32.5 dB); when the shared cores are busier it takes up to twice as long.
 */
export const DEFAULT_ITERS = 700;

/** What config.json holds. */
interface RunConfig {
  data: string;
  downscale: number;
  trainer: TrainerConfig;
  created: string;
}

const num = (args: ParsedArgs, name: string, o: { integer?: boolean; min?: number; max?: number } = {}) =>
  numberOption(args, name, { integer: true, min: 0, ...o });

function trainerOverrides(args: ParsedArgs): Partial<TrainerConfig> {
  const c: Partial<TrainerConfig> = {};
  const set = <K extends keyof TrainerConfig>(k: K, v: number | undefined) => {
    if (v !== undefined) c[k] = v as TrainerConfig[K];
  };
  set("iters", num(args, "iters", { min: 1 }));
  set("gaussians", num(args, "gaussians", { min: 1 }));
  set("seed", num(args, "seed", { max: 2 ** 32 - 1 }));
  set("evalEvery", num(args, "eval-every"));
  set("evalFrames", num(args, "eval-frames"));
  set("checkpointEvery", num(args, "checkpoint-every"));
  set("viewsPerStep", num(args, "views", { min: 1, max: 64 }));
  set("shDegree", num(args, "sh-degree", { max: 3 }));
  const field = num(args, "field-steps");
  set("priorSteps", field);
  set("distillSteps", field);
  set("lrScale", numberOption(args, "lr-scale", { min: 0 }));
  set("fieldLr", numberOption(args, "field-lr", { min: 0, max: 1 }));
  set("maxGaussians", num(args, "max-gaussians", { min: 1 }));
  if (args.values["no-densify"]) c.densify = false;
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
  set("syncEvery", num(args, "sync-every", { max: 256 }));
  set("imageBudgetMiB", num(args, "image-budget"));
  return c;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.round(s), m = Math.floor(t / 60), sec = t % 60;
  return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** The event printer and run-folder writer of one run. */
function runListener(run: RunFolder, metrics: RunMetrics, trainer: () => Trainer | null) {
  let lastCheckpointStep = -1;
  return async (e: TrainerEvent): Promise<void> => {
    switch (e.kind) {
      case "phase":
        console.log(`train: ${e.message}`);
        break;
      case "progress": {
        const l = e.losses, eta = (e.iters - e.step) / Math.max(e.stepsPerSecond, 1e-9);
        const bar = "#".repeat(Math.round((20 * e.step) / e.iters)).padEnd(20, ".");
        console.log(
          `[${bar}] step ${e.step}/${e.iters} | loss ${l.total.toFixed(4)} (L1 ${l.l1.toFixed(4)}, SSIM ` +
            `${l.ssim.toFixed(3)}, reg ${l.reg.toExponential(1)}${
              l.cycle ? `, cycle ${l.cycle.toExponential(1)}` : ""
            }${
              l.lapFeatures || l.lapDynamics
                ? `, lap ${(l.lapFeatures ?? 0).toExponential(1)}/${(l.lapDynamics ?? 0).toExponential(1)}`
                : ""
            }) | ` +
            `${e.gaussians} Gaussians | ` +
            `${e.stepsPerSecond.toFixed(2)} steps/s | ETA ${duration(eta)}`,
        );
        metrics.losses.push({
          step: e.step,
          ...l,
          gaussians: e.gaussians,
          stepsPerSecond: e.stepsPerSecond,
          seconds: e.elapsedSeconds,
        });
        break;
      }
      case "skipped":
        console.warn(`train: step ${e.step}: non-finite loss or parameters, update skipped`);
        metrics.events.push({ step: e.step, message: "non-finite loss or parameters: update skipped" });
        break;
      case "density": {
        const msg =
          `density control at step ${e.step}: +${e.cloned} cloned, +${e.split} split, -${e.pruned} ` +
          `pruned${e.capped ? ` (${e.capped} held back by the cap)` : ""}${
            e.opacityReset ? ", opacities reset" : ""
          } -> ${e.count} Gaussians`;
        console.log(`train: ${msg}`);
        metrics.events.push({ step: e.step, message: msg });
        break;
      }
      case "rollback":
        console.warn(`train: ${e.message}`);
        metrics.events.push({ step: e.step, message: e.message });
        break;
      case "eval":
        console.log(
          `train: eval at step ${e.step}: ` +
            e.metrics.map((m) =>
              `${m.split} PSNR ${m.psnr.toFixed(2)} dB SSIM ${m.ssim.toFixed(4)} (${m.frames} frames)`
            )
              .join(", "),
        );
        metrics.evaluations.push({ step: e.step, splits: e.metrics });
        for (const [i, img] of e.images.entries()) {
          const s = sideBySide(img);
          const name = `renders/test-${
            String(i).padStart(2, "0")
          }-t${img.frame.timestep}-cam${img.frame.camera}.png`;
          await run.writeFile(name, encodePng(s.data, s.width, s.height, 3));
        }
        await run.writeJson("metrics.json", metrics);
        break;
      case "checkpoint":
        if (e.step !== lastCheckpointStep) await run.writeCheckpoint(e.step, encodeCheckpoint(e.state));
        lastCheckpointStep = e.step;
        await run.writeJson("metrics.json", metrics);
        if (e.final) {
          const t = trainer();
          if (t) await run.writeFile("avatar.ply", writePly(await t.avatar.toCloud()));
          await run.writeFile("avatar.npga", await encodeRunAvatar(e.state, run.path));
        }
        break;
    }
  };
}

async function loadData(dir: string, downscale: number): Promise<Dataset> {
  let last = 0;
  const ds = await loadDataset(dir, {
    downscale,
    onProgress: (done, total) => {
      const now = performance.now();
      if (done === total || now - last > 3000) {
        last = now;
        console.log(`train: loaded ${done}/${total} images from ${dir}`);
      }
    },
  });
  return ds;
}

export const trainCommand: Command = {
  name: "train",
  summary: "train an animatable Gaussian head avatar and write a run folder",
  usage:
    "[--data DIR] [--out DIR] [--iters N] [--gaussians N] [--seed N] [--eval-every N] [--resume RUN] ...",
  options: {
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
    views: { type: "string", value: "N", description: "cameras per training step" },
    "sh-degree": { type: "string", value: "N", description: "SH degree of the colour (0..3)" },
    "field-steps": {
      type: "string",
      value: "N",
      description: "steps of fitting B and distilling F (0: no F)",
    },
    "lr-scale": { type: "string", value: "X", description: "multiplier of every learning rate" },
    "field-lr": {
      type: "string",
      value: "X",
      description: "learning rate of F's joint fine-tuning with the cycle loss (default 0: F frozen)",
    },
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
    downscale: { type: "string", value: "N", description: "downscale the dataset images by N", default: "1" },
    resume: {
      type: "string",
      value: "RUN",
      description: "continue the run folder RUN from its last checkpoint",
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
  },
  async run(args) {
    const resumeDir = stringOption(args, "resume");
    let run: RunFolder, cfg: RunConfig, resumeBytes: { path: string; bytes: Uint8Array } | null = null;
    const metrics: RunMetrics = { losses: [], evaluations: [], events: [] };
    if (resumeDir) {
      run = new RunFolder(resumeDir);
      cfg = await run.readJson<RunConfig>("config.json");
      const iters = args.values.iters !== String(DEFAULT_ITERS) ? num(args, "iters", { min: 1 }) : undefined;
      cfg.trainer = resolveTrainerConfig({ ...cfg.trainer, ...(iters ? { iters } : {}) });
      resumeBytes = await run.latestCheckpoint();
      if (!resumeBytes) {
        throw new DataError(run.path, "has no checkpoint to resume from", "Start a new run without --resume");
      }
      Object.assign(metrics, await run.readJson<RunMetrics>("metrics.json").catch(() => ({})));
    } else {
      let trainer: TrainerConfig;
      try {
        trainer = resolveTrainerConfig(trainerOverrides(args));
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      cfg = {
        data: stringOption(args, "data") ?? DEFAULT_DATA,
        downscale: num(args, "downscale", { min: 1, max: 64 }) ?? 1,
        trainer,
        created: new Date().toISOString(),
      };
      run = await RunFolder.create(stringOption(args, "out") ?? "runs");
    }
    const gpu = await acquireGpu();
    if (!stringOption(args, "data") && cfg.data === DEFAULT_DATA && !(await exists(DEFAULT_DATA))) {
      console.log(`train: ${DEFAULT_DATA} is absent; synthesizing the default dataset (once)`);
      const t0 = performance.now();
      await writeSyntheticDataset(gpu, {
        out: DEFAULT_DATA,
        onProgress: (done, total) =>
          console.log(
            `synth: ${done}/${total} timesteps (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
          ),
      });
    }
    const dataset = await loadData(cfg.data, cfg.downscale);
    const rigPath = `${cfg.data}/rig.glb`;
    if (!(await exists(rigPath))) {
      throw new DataError(
        rigPath,
        "is missing: training initializes the avatar and the expression prior from the dataset's rig",
        "Add the head rig as rig.glb (glTF with one morph target per expression coefficient)",
      );
    }
    const rig = await readRigGlb(await Deno.readFile(rigPath), rigPath);
    await run.writeJson("config.json", cfg);
    console.log(
      `train: run folder ${run.path}; ${dataset.splits.train.length} train, ${dataset.splits.val.length} val, ` +
        `${dataset.splits.test.length} test frames of ${dataset.splits.train[0]?.width}x${
          dataset.splits.train[0]?.height
        }`,
    );
    let trainer: Trainer | null = null;
    const listener = runListener(run, metrics, () => trainer);
    const resume = resumeBytes ? decodeCheckpoint(resumeBytes.bytes, resumeBytes.path) : undefined;
    if (resume) {
      console.log(`train: resuming from ${resumeBytes!.path} (step ${resume.step})`);
      // Records past the checkpoint are replayed by the resumed run.
      metrics.losses = (metrics.losses ?? []).filter((r) => r.step <= resume.step);
      metrics.evaluations = (metrics.evaluations ?? []).filter((r) => r.step <= resume.step);
      metrics.events = (metrics.events ?? []).filter((r) => r.step <= resume.step);
    }
    const dash = args.values["no-dashboard"] ? null : await startDashboard({
      dataset,
      host: stringOption(args, "host"),
      port: num(args, "port", { max: 65535 }),
      config: cfg,
      iters: cfg.trainer.iters,
      history: metrics,
      onSnapshot: (bytes, step) => run.writeCheckpoint(step, bytes),
    }).catch((e) => {
      throw e instanceof PortInUseError ? new UsageError(e.message) : e;
    });
    if (dash) console.log(`train: dashboard at ${dash.url}`);
    try {
      const initPly = stringOption(args, "init-ply");
      const initCloud = initPly && !resume
        ? initialCloud(
          readPly(
            await Deno.readFile(initPly).catch(() => {
              throw new DataError(initPly, "cannot be read", "Give a 3DGS .ply file for --init-ply");
            }),
            initPly,
          ),
          cfg.trainer.shDegree ?? 1,
          cfg.trainer.featureDim ?? 8,
          initPly,
        )
        : undefined;
      trainer = await Trainer.create(gpu, {
        dataset,
        rig,
        config: cfg.trainer,
        resume,
        initCloud,
        listeners: dash ? [listener, dash.listener] : [listener],
      });
    } catch (e) {
      await dash?.close();
      throw e;
    }
    dash?.attach(trainer);
    if (trainer.fieldReport) metrics.deformation = trainer.fieldReport;
    const onSigint = () => {
      console.log("\ntrain: stopping after this step (a checkpoint will be written; resume with --resume)");
      trainer?.stop();
    };
    Deno.addSignalListener("SIGINT", onSigint);
    try {
      const summary = await trainer.run();
      metrics.summary = {
        steps: summary.step,
        seconds: summary.seconds,
        gaussians: trainer.avatar.count,
        skipped: summary.skipped,
        rollbacks: summary.rollbacks,
      };
      await run.writeJson("metrics.json", metrics);
      const m = summary.metrics.map((s) =>
        `${s.split} PSNR ${s.psnr.toFixed(2)} dB / SSIM ${s.ssim.toFixed(4)}`
      );
      console.log(
        `train: ${summary.stopped ? "stopped" : "done"} at step ${summary.step} in ${
          duration(summary.seconds)
        }` +
          (m.length ? `; ${m.join("; ")}` : "") +
          `; ${trainer.avatar.count} Gaussians; run folder ${run.path}`,
      );
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
      await dash?.close();
      trainer.destroy();
      gpu.destroy();
    }
  },
};
