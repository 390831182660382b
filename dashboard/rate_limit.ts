/**
 * A cooldown per action (snapshot, downloads): the action is allowed at most once per interval, for the whole
 * server, so many open pages cannot make the run write or serialize checkpoints back to back.
 */

/** Allows one use per `intervalMs`. */
export class Cooldown {
  #next = -Infinity;

  constructor(readonly intervalMs: number) {}

  /** 0 when allowed now (and starts the interval), else the milliseconds to wait. */
  take(now: number = performance.now()): number {
    if (now < this.#next) return Math.ceil(this.#next - now);
    this.#next = now + this.intervalMs;
    return 0;
  }

  /**
   * Starts the interval again from `now`: for an action that takes a while (a snapshot waits for the trainer's
   * next sync point), so the interval counts from its end.
   */
  restart(now: number = performance.now()): void {
    this.#next = Math.max(this.#next, now + this.intervalMs);
  }
}
