/** @jsxImportSource preact */
/** The status bar: phase, step, steps/s, elapsed, ETA, Gaussian count. */
import { type DashboardStatus, duration } from "./api.ts";

/** How the trainer's phases read on the page. */
const PHASES: Record<string, string> = {
  starting: "starting",
  prior: "prior: fitting B on the rig",
  distill: "distillation: forward field F",
  init: "avatar initialization",
  train: "avatar training",
  eval: "final evaluation",
  done: "done",
  stopped: "stopped",
  viewing: "viewing a trained avatar",
};

/** Headline numbers of the run. */
export function StatusBar({ status: s }: { status: DashboardStatus }) {
  const pct = s.iters > 0 ? (100 * s.step) / s.iters : 0;
  const label = PHASES[s.phase] ?? s.phase;
  const phase = s.paused ? `${label} (paused)` : label;
  return (
    <div class="status" id="status">
      <div>
        <b>phase</b> <span id="phase">{phase}</span>
      </div>
      <div>
        <b>step</b> <span id="step">{s.step}</span> / {s.iters}
      </div>
      <div>
        <b>steps/s</b> {s.stepsPerSecond.toFixed(2)}
      </div>
      <div>
        <b>elapsed</b> {duration(s.elapsedSeconds)}
      </div>
      <div>
        <b>ETA</b> {s.running ? duration(s.etaSeconds) : "–"}
      </div>
      <div>
        <b>Gaussians</b> <span id="gaussians">{s.gaussians.toLocaleString()}</span>
      </div>
      <progress max={100} value={pct} />
    </div>
  );
}
