/**
 * Ctrl-C (SIGINT) and SIGTERM during `train`: the first asks the running trainer to stop after its current step,
 * which writes a checkpoint and ends the run cleanly (resume it with --resume); a second signal, or any signal
 * before training started (nothing to save yet), exits at once.
 */

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const EXIT_CODE = { SIGINT: 130, SIGTERM: 143 } as const;

/** The signal handlers of one run. */
export class StopSignals {
  #stop: (() => void) | null = null;
  #received = 0;
  #handlers: [Deno.Signal, () => void][] = [];

  /** `exit` ends the process (a test may pass its own). */
  constructor(readonly exit: (code: number) => void = (code) => Deno.exit(code)) {
    for (const sig of SIGNALS) {
      const h = () => this.#on(sig);
      try {
        Deno.addSignalListener(sig, h);
        this.#handlers.push([sig, h]);
      } catch {
        // Windows has no SIGTERM listener; Ctrl-C still works there.
      }
    }
  }

  /** Sets what the first signal does once training runs (e.g. `trainer.stop()`). */
  onStop(stop: () => void): void {
    this.#stop = stop;
  }

  #on(sig: typeof SIGNALS[number]): void {
    this.#received++;
    if (!this.#stop) {
      console.log(`\ntrain: ${sig} before training started: exiting (nothing to save yet)`);
      return this.exit(EXIT_CODE[sig]);
    }
    if (this.#received > 1) {
      console.log(`\ntrain: ${sig} again: exiting at once (the run keeps its last checkpoint)`);
      return this.exit(EXIT_CODE[sig]);
    }
    console.log(
      `\ntrain: ${sig}: stopping after this step; a checkpoint will be written (resume with --resume). ` +
        "Send it again to exit at once.",
    );
    this.#stop();
  }

  /** Removes the handlers. */
  dispose(): void {
    for (const [sig, h] of this.#handlers) Deno.removeSignalListener(sig, h);
    this.#handlers = [];
  }
}
