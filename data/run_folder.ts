/**
 * A training run's folder on disk:
 *
 * ```
 * runs/<timestamp>/config.json                       trainer settings + dataset path (written at start)
 * runs/<timestamp>/metrics.json                      losses, evaluations, deformation-field report (rewritten)
 * runs/<timestamp>/checkpoints/step-NNNNNNN.safetensors   full training state (training/checkpoint.ts); the
 *                                                    newest `keepCheckpoints` are kept
 * runs/<timestamp>/avatar.ply                        final canonical Gaussians (data/ply.ts)
 * runs/<timestamp>/avatar.npga                       final avatar, compressed for use (data/npga_format.ts)
 * runs/<timestamp>/renders/*.png                     held-out test renders beside the ground truth
 * ```
 *
 * Every file is written atomically (temp file + rename, data/atomic_write.ts), so a killed run leaves either the
 * previous or the new version of each file, and `--resume` always finds a complete checkpoint.
 */
import { isTempName, writeFileAtomic } from "./atomic_write.ts";
import { DataError } from "./errors.ts";
import { joinPath } from "./file_source.ts";

/** One loss record (every logged step). */
export interface LossRecord {
  step: number;
  total: number;
  l1: number;
  ssim: number;
  reg: number;
  cycle: number;
  gaussians: number;
  stepsPerSecond: number;
  seconds: number;
}

/** One evaluation: mean scores per split. */
export interface EvalRecord {
  step: number;
  splits: { split: string; frames: number; psnr: number; ssim: number; l1: number }[];
}

/** Contents of metrics.json. */
export interface RunMetrics {
  losses: LossRecord[];
  evaluations: EvalRecord[];
  /** Messages about skipped steps and rollbacks. */
  events: { step: number; message: string }[];
  /** Prior fit and distillation residual, when the run has a forward field. */
  deformation?: unknown;
  /** Filled at the end of a run. */
  summary?: { steps: number; seconds: number; gaussians: number; skipped: number; rollbacks: number };
}

/** Folder name of a run started at `date`: UTC `YYYYMMDD-HHMMSS`. */
export function runName(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

const CKPT = /^step-(\d+)\.safetensors$/;

/** Reads and writes the files of one run folder. */
export class RunFolder {
  readonly path: string;
  readonly keepCheckpoints: number;

  constructor(path: string, keepCheckpoints = 2) {
    this.path = path.replace(/\/+$/, "") || "/";
    this.keepCheckpoints = keepCheckpoints;
  }

  /** Creates a fresh folder `<root>/<timestamp>` (with a suffix if that exists). */
  static async create(root: string, date = new Date()): Promise<RunFolder> {
    const base = joinPath(root, runName(date));
    try {
      await Deno.mkdir(root, { recursive: true });
      for (let i = 0;; i++) {
        const path = i === 0 ? base : `${base}-${i}`;
        try {
          await Deno.mkdir(path);
        } catch (e) {
          if (e instanceof Deno.errors.AlreadyExists) continue;
          throw e;
        }
        await Deno.mkdir(joinPath(path, "checkpoints"));
        return new RunFolder(path);
      }
    } catch (e) {
      throw new DataError(
        root,
        `could not hold a new run folder (${(e as Error).message})`,
        "Choose another --out",
      );
    }
  }

  /** Path of a file inside the run. */
  file(name: string): string {
    return joinPath(this.path, name);
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.file(name), JSON.stringify(value, null, 1) + "\n");
  }

  async readJson<T>(name: string): Promise<T> {
    const path = this.file(name);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      throw new DataError(path, "could not be read", "Check that the run folder is complete");
    }
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new DataError(path, `is not valid JSON (${(e as Error).message})`);
    }
  }

  /** Writes any file of the run atomically (PLY, PNG, ...). */
  async writeFile(name: string, data: Uint8Array | string): Promise<void> {
    await writeFileAtomic(this.file(name), data);
  }

  /** Checkpoint steps present, ascending. */
  async checkpointSteps(): Promise<number[]> {
    const steps: number[] = [];
    try {
      for await (const e of Deno.readDir(this.file("checkpoints"))) {
        const m = CKPT.exec(e.name);
        if (e.isFile && m) steps.push(Number(m[1]));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return steps.sort((a, b) => a - b);
  }

  #checkpointName(step: number): string {
    return `checkpoints/step-${String(step).padStart(7, "0")}.safetensors`;
  }

  /** Writes the checkpoint of `step` atomically and removes all but the newest `keepCheckpoints`. */
  async writeCheckpoint(step: number, bytes: Uint8Array): Promise<string> {
    const name = this.#checkpointName(step);
    await writeFileAtomic(this.file(name), bytes);
    const steps = await this.checkpointSteps();
    for (const s of steps.slice(0, Math.max(steps.length - this.keepCheckpoints, 0))) {
      await Deno.remove(this.file(this.#checkpointName(s))).catch(() => {});
    }
    return this.file(name);
  }

  /** The path of the checkpoint of `step`. */
  checkpointPath(step: number): string {
    return this.file(this.#checkpointName(step));
  }

  /** The newest checkpoint's path and bytes, or null when the run has none. */
  async latestCheckpoint(): Promise<{ step: number; path: string; bytes: Uint8Array } | null> {
    const steps = await this.checkpointSteps();
    if (steps.length === 0) return null;
    const step = steps[steps.length - 1], path = this.checkpointPath(step);
    return { step, path, bytes: await Deno.readFile(path) };
  }

  /**
   * Removes temporary files of interrupted atomic writes (`*.tmp-PID-RANDOM`, data/atomic_write.ts) in the run
   * folder, checkpoints/ and renders/; returns the names removed. Only for a run no other process writes to.
   */
  async removeOrphanTemps(): Promise<string[]> {
    const removed: string[] = [];
    for (const sub of ["", "checkpoints", "renders"]) {
      const dir = sub ? this.file(sub) : this.path;
      try {
        for await (const e of Deno.readDir(dir)) {
          if (!e.isFile || !isTempName(e.name)) continue;
          await Deno.remove(joinPath(dir, e.name));
          removed.push(sub ? `${sub}/${e.name}` : e.name);
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return removed.sort();
  }
}
