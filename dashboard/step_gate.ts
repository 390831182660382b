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
 * Streamed steps (trainer `syncEvery`) leave GPU work queued between their sync points; a job run there would
 * wait for all of it (its read-back queues behind the steps) and stall the loop's recording meanwhile. So while
 * the trainer reports `unsyncedSteps`, jobs wait for the next sync point (or for the trainer to go idle).
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
  /** Steps whose GPU work may still be queued (streamed, not yet read back); absent means always 0. */
  readonly unsyncedSteps?: number;
}

/** Limits of a gate. */
export interface GateOptions {
  /** Jobs that may wait (default 32). */
  maxQueue?: number;
  /** Fraction of training time dashboard jobs may take (default 0.02). */
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

/** The dashboard is closing: queued jobs are dropped. */
export class GateClosedError extends Error {
  constructor() {
    super("the dashboard is shutting down");
    this.name = "GateClosedError";
  }
}

/** The job's request went away (its signal aborted) before the job ran. */
export class JobAbortedError extends Error {
  constructor() {
    super("the request was cancelled before its render ran");
    this.name = "JobAbortedError";
  }
}

/** What the gate has run so far (the dashboard bench reports it). */
export interface GateStats {
  /** Jobs run, and those of them run free (training idle). */
  jobs: number;
  freeJobs: number;
  /** Time spent on jobs, plus `charge`d work, ms; and the longest single job. */
  spentMs: number;
  longestMs: number;
  /** Jobs dropped before they ran: replaced by a newer one of their key, refused (queue full), cancelled. */
  superseded: number;
  refused: number;
  aborted: number;
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
  #holding = 0;
  #queue: Job[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;
  #training: boolean;
  #credit: number;
  #lastBoundary = -Infinity;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #unsynced: () => number = () => 0;
  #stats: GateStats = {
    jobs: 0,
    freeJobs: 0,
    spentMs: 0,
    longestMs: 0,
    superseded: 0,
    refused: 0,
    aborted: 0,
  };

  /** Installs the wrappers on `trainer` (omit it for a viewer: jobs then run at once, one at a time). */
  constructor(trainer?: GatedTrainer, o: GateOptions = {}) {
    this.maxQueue = o.maxQueue ?? 32;
    this.budget = o.budget ?? 0.02;
    this.burstMs = o.burstMs ?? 300;
    this.idleMs = o.idleMs ?? 250;
    this.#credit = this.burstMs;
    this.#training = !!trainer;
    if (!trainer) return;
    this.#unsynced = () => trainer.unsyncedSteps ?? 0;
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
          // The loop waits for this drain: it is held, not idle, so what runs here spends credit (else pages
          // that ask again as soon as they are answered would keep it going for free, and training never).
          if (this.#busy === 0) {
            this.#holding++;
            try {
              await this.#drain();
            } finally {
              this.#holding--;
            }
          }
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

  /** Counters of what ran and what was dropped (a copy). */
  get stats(): GateStats {
    return { ...this.#stats };
  }

  /**
   * Runs `job` at the next safe point and resolves with its result (see the module comment for `key`). An
   * aborted `signal` takes a job that has not started out of the queue (`JobAbortedError`).
   */
  run<T>(job: () => Promise<T>, key?: string, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new GateClosedError());
    if (signal?.aborted) return Promise.reject(new JobAbortedError());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const k = this.#queue.indexOf(entry);
        if (k < 0) return;
        this.#queue.splice(k, 1);
        this.#stats.aborted++;
        reject(new JobAbortedError());
      };
      const settle = () => signal?.removeEventListener("abort", onAbort);
      const entry: Job = {
        key,
        run: () => (settle(), job().then(resolve, reject)),
        reject: (e) => (settle(), reject(e)),
      };
      const i = key === undefined ? -1 : this.#queue.findIndex((j) => j.key === key);
      if (i >= 0) {
        this.#stats.superseded++;
        this.#queue[i].reject(new SupersededError());
        this.#queue[i] = entry;
      } else if (this.#queue.length >= this.maxQueue) {
        this.#stats.refused++;
        return reject(new GateFullError(this.#queue.length));
      } else {
        this.#queue.push(entry);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.#busy === 0) this.#drain();
    });
  }

  /** Spends `ms` of the budget on work done outside a job (e.g. encoding its result). */
  charge(ms: number): void {
    this.#stats.spentMs += ms;
    if (this.#training && !this.#idle()) this.#credit -= ms;
  }

  /** No step in flight or waiting, and none started for `idleMs`: work now costs training nothing. */
  #idle(): boolean {
    return this.#busy === 0 && this.#stepWaiting === 0 && this.#holding === 0 &&
      performance.now() - this.#lastBoundary >= this.idleMs;
  }

  #mayRun(): boolean {
    if (this.#busy > 0 || this.#stepWaiting > 0) return false;
    if (this.#idle()) return true;
    return !this.#training || (this.#credit > 0 && this.#unsynced() === 0);
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
          const t0 = performance.now(), free = this.#idle();
          await this.#queue.shift()!.run();
          const ms = performance.now() - t0, st = this.#stats;
          st.jobs++;
          st.spentMs += ms;
          st.longestMs = Math.max(st.longestMs, ms);
          if (free) st.freeJobs++;
          else if (this.#training) this.#credit -= ms;
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
    for (const j of q) j.reject(new GateClosedError());
  }
}
