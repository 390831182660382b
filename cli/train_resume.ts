/**
 * `train --resume RUN`, checked before any data work:
 *
 * - the run's config.json is read and validated;
 * - checkpoints are tried newest first; a damaged one (torn, truncated, bad metadata or tensor sizes) is
 *   reported and the previous one is used instead; when none is usable the error lists each and why;
 * - flags: `--iters`, `--eval-every`, `--eval-frames`, `--checkpoint-every` and `--checkpoint-minutes` are
 *   applied (each printed with its old value); the dashboard flags (`--host`, `--port`, `--no-dashboard`) are
 *   not run settings and always apply; every other run setting given with a different value than the run's is
 *   refused with one message (it would silently change, or be ignored by, a run already under way);
 * - temporary files of interrupted writes are removed;
 * - a missing or unreadable metrics.json is said (the history then starts at the checkpoint).
 */
import { DataError } from "../data/errors.ts";
import { RunFolder, type RunMetrics } from "../data/run_folder.ts";
import { decodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import { type ParsedArgs, stringOption, UsageError } from "./command.ts";
import { num, trainerOverrides } from "./train_options.ts";

/** What config.json holds. */
export interface RunConfig {
  data: string;
  downscale: number;
  trainer: TrainerConfig;
  created: string;
}

/** A resumable run, ready to continue. */
export interface ResumePlan {
  run: RunFolder;
  cfg: RunConfig;
  state: TrainState;
  /** The checkpoint used. */
  path: string;
  metrics: RunMetrics;
  /** Lines to print (flags applied, checkpoints skipped, temp files removed). */
  notes: string[];
}

/** Trainer settings that may change when resuming. */
const APPLIED: Partial<Record<string, keyof TrainerConfig>> = {
  iters: "iters",
  "eval-every": "evalEvery",
  "eval-frames": "evalFrames",
  "checkpoint-every": "checkpointEvery",
  "checkpoint-minutes": "checkpointMinutes",
};
/** Options that are not run settings. */
const ALWAYS = new Set(["resume", "host", "port", "no-dashboard"]);

function checkFlags(
  args: ParsedArgs,
  cfg: RunConfig,
  runPath: string,
): { trainer: TrainerConfig; notes: string[] } {
  const given = args.given ?? new Set<string>();
  const notes: string[] = [], refused: string[] = [];
  const resolve = (t: Partial<TrainerConfig>) => {
    try {
      return resolveTrainerConfig(t);
    } catch (e) {
      throw new DataError(`${runPath}/config.json`, (e as Error).message, "Start a new run without --resume");
    }
  };
  // Compared with the resolved settings, so a config.json from before a setting existed reads as its default.
  const base = resolve(cfg.trainer);
  const trainer: TrainerConfig = { ...base };
  for (const flag of given) {
    if (ALWAYS.has(flag)) continue;
    const one: ParsedArgs = { values: { [flag]: args.values[flag] }, positionals: [] };
    if (flag === "data" || flag === "downscale") {
      const v = flag === "data" ? stringOption(args, "data") : num(args, "downscale", { min: 1, max: 64 });
      if (v !== cfg[flag]) refused.push(`--${flag} ${args.values[flag]} (the run has ${cfg[flag]})`);
      continue;
    }
    if (flag === "out" || flag === "init-ply") {
      refused.push(`--${flag} (a resumed run stays in ${runPath} and keeps its Gaussians)`);
      continue;
    }
    let o: Partial<TrainerConfig>;
    try {
      o = trainerOverrides(one);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    for (const [k, v] of Object.entries(o) as [keyof TrainerConfig, unknown][]) {
      const was = base[k];
      if (APPLIED[flag] === k) {
        if (v !== was) notes.push(`--${flag} ${v} applied (the run had ${was})`);
        (trainer as unknown as Record<string, unknown>)[k] = v;
      } else if (v !== was) {
        refused.push(`--${flag} ${args.values[flag]} (the run has ${JSON.stringify(was)})`);
      }
    }
  }
  if (refused.length) {
    throw new UsageError(
      `--resume continues ${runPath} with the settings in its config.json; these would change it: ` +
        `${refused.join(", ")}. Drop them, or start a new run without --resume ` +
        "(only --iters, --eval-every, --eval-frames, --checkpoint-every, --checkpoint-minutes may change)",
    );
  }
  return { trainer: resolve(trainer), notes };
}

function checkConfig(cfg: unknown, file: string): RunConfig {
  const c = cfg as Partial<RunConfig> | null;
  if (
    !c || typeof c !== "object" || typeof c.data !== "string" || typeof c.downscale !== "number" ||
    typeof c.trainer !== "object" || c.trainer === null
  ) {
    throw new DataError(file, "is not a run configuration (data, downscale, trainer)", "Give a run folder");
  }
  return c as RunConfig;
}

/** Reads and checks everything `--resume` needs (see the module comment); no GPU, no dataset. */
export async function planResume(dir: string, args: ParsedArgs): Promise<ResumePlan> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error();
  } catch {
    throw new DataError(dir, "is not a run folder", "Give a folder under runs/ to --resume");
  }
  const run = new RunFolder(dir);
  const cfg = checkConfig(await run.readJson<unknown>("config.json"), run.file("config.json"));
  const { trainer, notes } = checkFlags(args, cfg, run.path);
  const steps = (await run.checkpointSteps()).reverse();
  if (steps.length === 0) {
    throw new DataError(run.path, "has no checkpoint to resume from", "Start a new run without --resume");
  }
  const bad: string[] = [];
  let found: { state: TrainState; path: string } | null = null;
  for (const step of steps) {
    const path = run.checkpointPath(step);
    try {
      found = { state: decodeCheckpoint(await Deno.readFile(path), path), path };
      break;
    } catch (e) {
      bad.push((e as Error).message);
    }
  }
  if (!found) {
    throw new DataError(
      run.path,
      `has no usable checkpoint: ${bad.join("; ")}`,
      "Start a new run without --resume",
    );
  }
  for (const b of bad) notes.push(`damaged checkpoint skipped: ${b}`);
  if (bad.length) notes.push(`falling back to the previous checkpoint, ${found.path}`);
  if (found.state.step >= trainer.iters) {
    throw new UsageError(
      `${found.path} is at step ${found.state.step}, which is not before --iters ${trainer.iters}: ` +
        "give a larger --iters to train further",
    );
  }
  const removed = await run.removeOrphanTemps();
  if (removed.length) notes.push(`removed ${removed.length} temporary file(s) of interrupted writes`);
  const metrics: RunMetrics = { losses: [], evaluations: [], events: [] };
  try {
    Object.assign(metrics, await run.readJson<RunMetrics>("metrics.json"));
  } catch (e) {
    notes.push(
      `the run's history was not restored (${(e as Error).message}): losses and evaluations are recorded ` +
        `from step ${found.state.step} on`,
    );
  }
  // Records past the checkpoint are replayed by the resumed run.
  const at = found.state.step;
  metrics.losses = (metrics.losses ?? []).filter((r) => r.step <= at);
  metrics.evaluations = (metrics.evaluations ?? []).filter((r) => r.step <= at);
  metrics.events = (metrics.events ?? []).filter((r) => r.step <= at);
  delete metrics.summary;
  return { run, cfg: { ...cfg, trainer }, state: found.state, path: found.path, metrics, notes };
}
