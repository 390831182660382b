/**
 * Runs GPU work for the dashboard (renders on demand, state snapshots) only where it cannot disturb training:
 * at a step boundary of a running trainer, or at once when no step is in flight (paused, not yet started,
 * finished, or a viewer without a trainer). Jobs run one at a time, in order.
 *
 * The trainer is single-threaded JS, but its steps await GPU read-backs, during which HTTP handlers run. So the
 * gate wraps the trainer's `trainStep`, `evaluate` and `state` methods (instance properties shadowing the class
 * methods) to know when one is in flight; jobs queued meanwhile run right after the step finishes, before the
 * loop continues.
 *
 * Load is bounded three ways:
 * - a job with a `key` (one per page: its render requests) replaces that key's queued job, whose caller gets a
 *   `SupersededError` (the page only wants its newest render);
 * - at most `maxQueue` jobs wait; beyond that `run` rejects with `GateFullError` (the server answers 503);
 * - while training runs, jobs spend a GPU-time budget: each step earns `budget` times its duration (capped at
 *   `burstMs`), each job (and what `charge` adds, e.g. PNG encoding) spends its own. A job waits for credit;
 *   once no step has started for `idleMs` (paused, evaluating, finished) it runs regardless, and free: what
 *   runs while training is idle spends no credit.
 */

/** The trainer methods the gate wraps (a subset of `Trainer`). */
export interface GatedTrainer {
  trainStep(): Promise<unknown>;
  evaluate(keepImages?: number): Promise<unknown>;
  state(): Promise<unknown>;
}

/** Limits of a gate. */
export interface GateOptions {
  /** Jobs that may wait (default 32). */
  maxQueue?: number;
  /** Fraction of training time dashboard jobs may take (default 0.03). */
  budget?: number;
  /** Most credit saved up, ms (default 300). */
  burstMs?: number;
  /** Idle time after which jobs run without credit, ms (default 250). */
  idleMs?: number;
}

/** The queued job was replaced by a newer one with the same key. */
export class SupersededError extends Error {
  constructor() {
    super("replaced by a newer request from the same page");
    this.name = "SupersededError";
  }
}

/** The queue is full. */
export class GateFullError extends Error {
  constructor(n: number) {
    super(`the dashboard is busy (${n} renders waiting): try again in a moment`);
    this.name = "GateFullError";
  }
}

interface Job {
  key?: string;
  run(): Promise<void>;
  reject(e: Error): void;
}

/** Serializes dashboard GPU jobs onto the trainer's step boundaries. */
export class StepGate {
  readonly maxQueue: number;
  readonly budget: number;
  readonly burstMs: number;
  readonly idleMs: number;
  #busy = 0;
  #stepWaiting = 0;
  #queue: Job[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;
  #training: boolean;
  #credit: number;
  #lastBoundary = -Infinity;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Installs the wrappers on `trainer` (omit it for a viewer: jobs then run at once, one at a time). */
  constructor(trainer?: GatedTrainer, o: GateOptions = {}) {
    this.maxQueue = o.maxQueue ?? 32;
    this.budget = o.budget ?? 0.03;
    this.burstMs = o.burstMs ?? 300;
    this.idleMs = o.idleMs ?? 250;
    this.#credit = this.burstMs;
    this.#training = !!trainer;
    if (!trainer) return;
    for (const name of ["trainStep", "evaluate", "state"] as const) {
      const original = trainer[name].bind(trainer) as (...a: unknown[]) => Promise<unknown>;
      const wrapped = async (...args: unknown[]) => {
        // A drain started while the trainer was idle (paused) finishes its current job, then the step starts.
        this.#stepWaiting++;
        try {
          while (this.#draining) await this.#draining;
        } finally {
          this.#stepWaiting--;
        }
        this.#busy++;
        const t0 = performance.now();
        try {
          return await original(...args);
        } finally {
          const now = performance.now();
          this.#credit = Math.min(this.burstMs, this.#credit + this.budget * (now - t0));
          this.#lastBoundary = now;
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

  /** Runs `job` at the next safe point and resolves with its result (see the module comment for `key`). */
  run<T>(job: () => Promise<T>, key?: string): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the dashboard is shutting down"));
    return new Promise<T>((resolve, reject) => {
      const entry: Job = { key, run: () => job().then(resolve, reject), reject };
      const i = key === undefined ? -1 : this.#queue.findIndex((j) => j.key === key);
      if (i >= 0) {
        this.#queue[i].reject(new SupersededError());
        this.#queue[i] = entry;
      } else if (this.#queue.length >= this.maxQueue) {
        return reject(new GateFullError(this.#queue.length));
      } else {
        this.#queue.push(entry);
      }
      if (this.#busy === 0) this.#drain();
    });
  }

  /** Spends `ms` of the budget on work done outside a job (e.g. encoding its result). */
  charge(ms: number): void {
    if (this.#training && !this.#idle()) this.#credit -= ms;
  }

  /** No step in flight or waiting, and none started for `idleMs`: work now costs training nothing. */
  #idle(): boolean {
    return this.#busy === 0 && this.#stepWaiting === 0 &&
      performance.now() - this.#lastBoundary >= this.idleMs;
  }

  #mayRun(): boolean {
    if (this.#busy > 0 || this.#stepWaiting > 0) return false;
    return !this.#training || this.#credit > 0 || this.#idle();
  }

  #drain(): Promise<void> {
    if (this.#draining) return this.#draining;
    if (this.#queue.length === 0) return Promise.resolve();
    let done!: () => void;
    this.#draining = new Promise<void>((r) => (done = r));
    (async () => {
      try {
        while (this.#queue.length > 0 && this.#mayRun()) {
          // A job run because training is idle (paused, evaluating, finished, or its loop busy elsewhere)
          // takes nothing from training, so it spends no credit: else a long idle spell would leave a debt
          // that starves the pages for minutes once training goes on.
          const t0 = performance.now(), free = this.#credit <= 0;
          await this.#queue.shift()!.run();
          if (!free && this.#training) this.#credit -= performance.now() - t0;
        }
      } finally {
        this.#draining = null;
        done();
        this.#wakeLater();
      }
    })();
    return this.#draining;
  }

  /** Jobs left waiting for credit run once the trainer has been idle for `idleMs`. */
  #wakeLater(): void {
    if (this.#timer !== null || this.#queue.length === 0 || this.#closed || this.#busy > 0) return;
    const wait = Math.max(1, this.#lastBoundary + this.idleMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#busy === 0) this.#drain();
    }, wait);
  }

  /** Rejects every queued job (server shutdown). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const q = this.#queue;
    this.#queue = [];
    for (const j of q) j.reject(new Error("the dashboard is shutting down"));
  }
}
