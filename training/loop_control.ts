/**
 * Pause / resume / stop of a running loop (the trainer's control interface, which the dashboard and Ctrl-C use).
 */

/** A pause flag the loop awaits before each step, and a stop request it checks after. */
export class LoopControl {
  #paused = false;
  #stopRequested = false;
  #wake: (() => void) | null = null;

  /** Pauses the loop before its next step. */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes a paused loop. */
  resume(): void {
    this.#paused = false;
    this.#wake?.();
  }

  /** Ends the loop after the current step (and wakes a paused one). */
  stop(): void {
    this.#stopRequested = true;
    this.resume();
  }

  get paused(): boolean {
    return this.#paused;
  }

  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  /** Resolves once the loop is not paused (or a stop was requested). */
  async waitWhilePaused(): Promise<void> {
    while (this.#paused && !this.#stopRequested) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }
}
