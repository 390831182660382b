/**
 * `train`: trains an avatar end to end (training/trainer.ts) and writes a run folder (data/run_folder.ts).
 *
 * With no `--data` it uses the built-in synthetic head at `datasets/synthetic-head`, synthesizing it first when
 * absent or written by an older version (cli/default_data.ts). `--resume RUN` continues a run from its newest valid checkpoint with the settings in its config.json
 * (train_resume.ts). Order of a start, so that mistakes fail fast and a failed start leaves nothing behind: the
 * options, the dashboard's address and the resumed run are checked first; then the GPU is acquired, the data
 * loaded and the trainer built; only then is a new run's folder made. Ctrl-C or SIGTERM stops after the current
 * step and writes a checkpoint; a second signal exits at once (train_signals.ts).
 */
import { codeCoverage, formatNovel, novelCoefficients } from "../training/code_coverage.ts";
import { acquireGpu } from "../gpu/device.ts";
import { type Dataset, loadDataset } from "../data/dataset.ts";
import { DataError } from "../data/errors.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { readPly } from "../data/ply.ts";
import { initialCloud } from "../data/init_cloud.ts";
import { RunFolder, type RunMetrics } from "../data/run_folder.ts";
import type { TrainState } from "../training/checkpoint.ts";
import { Trainer } from "../training/trainer.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import { type Command, type ParsedArgs, stringOption, UsageError } from "./command.ts";
import { PortInUseError, startDashboard } from "../dashboard/start.ts";
import { DEFAULT_DATA, DEFAULT_ITERS, num, TRAIN_OPTIONS, trainerOverrides } from "./train_options.ts";
import { duration, runListener } from "./train_listener.ts";
import { ensureDefaultData } from "./default_data.ts";
import { planResume, type RunConfig } from "./train_resume.ts";
import { checkListen } from "./train_preflight.ts";
import { StopSignals } from "./train_signals.ts";

export { DEFAULT_DATA, DEFAULT_ITERS };

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
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

/** What a start needs, checked before any data work. */
interface StartPlan {
  cfg: RunConfig;
  /** The resumed run (folder, state, metrics), or null for a new run. */
  resume: { run: RunFolder; state: TrainState; path: string } | null;
  metrics: RunMetrics;
  dashboard: { host: string; port: number } | null;
  out: string;
}

async function plan(args: ParsedArgs): Promise<StartPlan> {
  const dashboard = args.values["no-dashboard"] ? null : {
    host: stringOption(args, "host") ?? "127.0.0.1",
    port: num(args, "port", { max: 65535 }) ?? 8000,
  };
  if (dashboard) checkListen(dashboard.host, dashboard.port);
  const out = stringOption(args, "out") ?? "runs";
  const resumeDir = stringOption(args, "resume");
  if (resumeDir) {
    const p = await planResume(resumeDir, args);
    for (const n of p.notes) console.log(`train: ${n}`);
    return {
      cfg: p.cfg,
      resume: { run: p.run, state: p.state, path: p.path },
      metrics: p.metrics,
      dashboard,
      out,
    };
  }
  let trainer: TrainerConfig;
  try {
    trainer = resolveTrainerConfig(trainerOverrides(args));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const cfg: RunConfig = {
    data: stringOption(args, "data") ?? DEFAULT_DATA,
    downscale: num(args, "downscale", { min: 1, max: 64 }) ?? 1,
    trainer,
    created: new Date().toISOString(),
  };
  const initPly = stringOption(args, "init-ply");
  if (initPly && !(await exists(initPly))) {
    throw new DataError(initPly, "cannot be read", "Give a 3DGS .ply file for --init-ply");
  }
  return { cfg, resume: null, metrics: { losses: [], evaluations: [], events: [] }, dashboard, out };
}

export const trainCommand: Command = {
  name: "train",
  summary: "train an animatable Gaussian head avatar and write a run folder",
  usage:
    "[--data DIR] [--out DIR] [--iters N] [--gaussians N] [--seed N] [--eval-every N] [--resume RUN] ...",
  options: TRAIN_OPTIONS,
  async run(args) {
    const signals = new StopSignals();
    try {
      await train(args, signals);
    } finally {
      signals.dispose();
    }
  },
};

async function train(args: ParsedArgs, signals: StopSignals): Promise<void> {
  const p = await plan(args);
  const { cfg, metrics } = p;
  const gpu = await acquireGpu();
  let trainer: Trainer | null = null;
  try {
    if (!stringOption(args, "data") && cfg.data === DEFAULT_DATA) {
      if (!p.resume) await ensureDefaultData(gpu, "train");
      else if (!(await exists(DEFAULT_DATA))) {
        throw new DataError(
          DEFAULT_DATA,
          "is missing: the resumed run trained on it",
          "Run `deno task synth` to write it again (a fresh one may differ), or pass --data DIR",
        );
      }
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
    const novel = novelCoefficients(codeCoverage(dataset, rig.blendshapeNames));
    if (novel.length) {
      console.log(
        `train: note: the test split drives expression coefficients beyond their training range, where only ` +
          `the rig says how the face moves (test metrics measure extrapolation there): ${formatNovel(novel)}`,
      );
    }
    let run: RunFolder | null = p.resume?.run ?? null;
    const listener = runListener(
      () => {
        if (!run) throw new Error("train: the run folder is not made yet");
        return run;
      },
      metrics,
      () => trainer,
    );
    const resume = p.resume?.state;
    if (p.resume) console.log(`train: resuming from ${p.resume.path} (step ${p.resume.state.step})`);
    const dash = p.dashboard
      ? await startDashboard({
        dataset,
        host: p.dashboard.host,
        port: p.dashboard.port,
        config: cfg,
        iters: cfg.trainer.iters,
        history: metrics,
        onSnapshot: (bytes, step) => run!.writeCheckpoint(step, bytes),
      }).catch((e) => {
        throw e instanceof PortInUseError ? new UsageError(e.message) : e;
      })
      : null;
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
      // The trainer is ready: only now does a new run get its folder (a failed start leaves none).
      run ??= await RunFolder.create(p.out);
      await run.writeJson("config.json", cfg);
      console.log(
        `train: run folder ${run.path}; ${dataset.splits.train.length} train, ${dataset.splits.val.length} ` +
          `val, ${dataset.splits.test.length} test frames of ${dataset.splits.train[0]?.width}x${
            dataset.splits.train[0]?.height
          }`,
      );
    } catch (e) {
      await dash?.close();
      throw e;
    }
    dash?.attach(trainer);
    if (trainer.fieldReport) metrics.deformation = trainer.fieldReport;
    const t = trainer;
    signals.onStop(() => t.stop());
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
      await dash?.close();
    }
  } finally {
    trainer?.destroy();
    gpu.destroy();
  }
}
