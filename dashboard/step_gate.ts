/**
 * Runs GPU work for the dashboard (renders on demand, state snapshots) only where it cannot disturb training:
 * at a step boundary of a running trainer, or at once when no step is in flight (paused, not yet started,
 * finished, or a viewer without a trainer). Jobs run one at a time, in order.
 *
 * The trainer is single-threaded JS, but its steps await GPU read-backs, during which HTTP handlers run. So the
 * gate wraps the trainer's `trainStep`, `evaluate` and `state` methods (instance properties shadowing the class
 * methods) to know when one is in flight; jobs queued meanwhile run right after the step finishes, before the
 * loop continues.
 */

/** The trainer methods the gate wraps (a subset of `Trainer`). */
export interface GatedTrainer {
  trainStep(): Promise<unknown>;
  evaluate(keepImages?: number): Promise<unknown>;
  state(): Promise<unknown>;
}

interface Job {
  run(): Promise<void>;
  reject(e: Error): void;
}

/** Serializes dashboard GPU jobs onto the trainer's step boundaries. */
export class StepGate {
  #busy = 0;
  #queue: Job[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;

  /** Installs the wrappers on `trainer` (omit it for a viewer: jobs then run at once, one at a time). */
  constructor(trainer?: GatedTrainer) {
    if (!trainer) return;
    for (const name of ["trainStep", "evaluate", "state"] as const) {
      const original = trainer[name].bind(trainer) as (...a: unknown[]) => Promise<unknown>;
      const wrapped = async (...args: unknown[]) => {
        // A drain started while the trainer was idle (paused) finishes before the next step starts.
        while (this.#draining) await this.#draining;
        this.#busy++;
        try {
          return await original(...args);
        } finally {
          this.#busy--;
          if (this.#busy === 0) await this.#drain();
        }
      };
      (trainer as unknown as Record<string, unknown>)[name] = wrapped;
    }
  }

  /** Whether a trainer step (or evaluation, or state read) is in flight. */
  get busy(): boolean {
    return this.#busy > 0;
  }

  /** Jobs waiting for a boundary. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Runs `job` at the next safe point and resolves with its result. */
  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the dashboard is shutting down"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run: () => job().then(resolve, reject), reject });
      if (this.#busy === 0) this.#drain();
    });
  }

  #drain(): Promise<void> {
    if (this.#draining) return this.#draining;
    if (this.#queue.length === 0) return Promise.resolve();
    let done!: () => void;
    this.#draining = new Promise<void>((r) => (done = r));
    (async () => {
      try {
        while (this.#queue.length > 0 && this.#busy === 0) await this.#queue.shift()!.run();
      } finally {
        this.#draining = null;
        done();
      }
    })();
    return this.#draining;
  }

  /** Rejects every queued job (server shutdown). */
  close(): void {
    this.#closed = true;
    const q = this.#queue;
    this.#queue = [];
    for (const j of q) j.reject(new Error("the dashboard is shutting down"));
  }
}
