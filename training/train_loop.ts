/**
 * The body of the training loop (trainer.ts `run` and `advance`): runs steps up to an end step and handles each
 * step's outcome in order: skips (a non-finite value) and the rollback after `maxBadSteps` of them in a row,
 * density control, progress events, evaluations and checkpoints (every `checkpointEvery` steps, and every
 * `checkpointMinutes`: the host syncs the first step past the interval).
 *
 * Streamed steps (`syncEvery` N >= 1, the default): steps are recorded with no GPU wait (train_step.ts
 * `record`); every N steps, and before density control, evaluations, checkpoints, the end, a pause or a stop,
 * one wait reads their records (update_gate.ts), which are handled here exactly as the path with waits (N = 0)
 * handles each step. A rollback drops the records after it (their steps are redone from the checkpoint). An
 * overflowed render halted the gate (it and every later step were no-ops on the GPU): the loop goes back to
 * that step with the grown pair capacity ("redo"), so the results equal those of N = 0.
 */
import type { Densifier } from "./densifier.ts";
import type { LoopControl } from "./loop_control.ts";
import type { StepOutcome } from "./train_step.ts";
import type { TrainerConfig } from "./trainer_config.ts";
import type { TrainerEvent } from "./trainer_events.ts";

/** What the loop drives (the trainer builds it over its private parts). */
export interface LoopHost {
  readonly config: TrainerConfig;
  readonly control: LoopControl;
  readonly densifier: Densifier | null;
  /** The Gaussian count now (for progress events). */
  gaussians(): number;
  /** Records or runs the next step; returns the outcomes read back by it (see trainer.ts `trainStep`). */
  trainStep(): Promise<StepOutcome[]>;
  emit(e: TrainerEvent): Promise<void>;
  /** Goes back to step `step`, whose render overflowed (the steps after it were no-ops). */
  redo(step: number): void;
  /** Rolls back after `bad` consecutive skipped steps, the last one being step `at` - 1. */
  rollback(bad: number, at: number): Promise<void>;
  /** Runs density control after step `at` - 1 (and emits its event). */
  densify(at: number): Promise<void>;
  evaluate(): Promise<unknown>;
  /** Takes the in-memory checkpoint after step `at` - 1 (and emits it). */
  checkpoint(at: number): Promise<void>;
  /** Whether the wall-clock checkpoint interval has passed (the host also syncs the step when it has). */
  clockCheckpointDue(): boolean;
  /** The next step to run. */
  step(): number;
}

/** The loop's counters, kept by the trainer across loops. */
export interface LoopTally {
  skipped: number;
  /** Consecutive skipped steps so far. */
  bad: number;
}

/** Runs steps until the host's step reaches `end` or a stop is requested (see the module comment). */
export async function trainLoop(host: LoopHost, tally: LoopTally, end: number, t0: number): Promise<void> {
  const c = host.config;
  let windowStart = performance.now(), windowSteps = 0;
  while (host.step() < end) {
    await host.control.waitWhilePaused();
    if (host.control.stopRequested) break;
    for (const o of await host.trainStep()) {
      windowSteps++;
      if (o.redo) {
        host.redo(o.step);
        break;
      }
      const at = o.step + 1;
      if (!o.applied) {
        tally.skipped++;
        tally.bad++;
        await host.emit({ kind: "skipped", step: at, losses: o.losses });
        if (tally.bad >= c.maxBadSteps) {
          await host.rollback(tally.bad, at);
          tally.bad = 0;
          break;
        }
        continue;
      }
      tally.bad = 0;
      if (host.densifier?.due(at)) await host.densify(at);
      if (at % c.logEvery === 0 || at === c.iters) {
        const now = performance.now();
        await host.emit({
          kind: "progress",
          step: at,
          iters: c.iters,
          losses: o.losses,
          gaussians: host.gaussians(),
          stepsPerSecond: (1000 * windowSteps) / Math.max(now - windowStart, 1e-3),
          elapsedSeconds: (now - t0) / 1000,
          phase: "train",
        });
        windowStart = now;
        windowSteps = 0;
      }
      if (c.evalEvery > 0 && at % c.evalEvery === 0 && at < c.iters) await host.evaluate();
      const byStep = c.checkpointEvery > 0 && at % c.checkpointEvery === 0;
      // By the clock only where no later step is recorded yet (the last outcome read at a sync point).
      const byClock = at === host.step() && host.clockCheckpointDue();
      if ((byStep || byClock) && at < c.iters) await host.checkpoint(at);
    }
  }
}
