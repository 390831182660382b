/**
 * Learning-rate schedules applied by the caller before each optimizer step (Adam reads the rate every step).
 */

/**
 * Log-linear (exponential) decay from `initial` at step 0 to `final` at `steps`, held at `final` afterwards, with
 * an optional warm-up that scales the rate by a sine ramp from `warmupFactor` to 1 over `warmupSteps` (the 3DGS
 * position schedule).
 */
export function exponentialDecay(
  step: number,
  o: { initial: number; final: number; steps: number; warmupSteps?: number; warmupFactor?: number },
): number {
  if (o.initial === 0 && o.final === 0) return 0;
  const t = Math.min(Math.max(step / Math.max(o.steps, 1), 0), 1);
  const lr = Math.exp(Math.log(o.initial) * (1 - t) + Math.log(o.final) * t);
  const warm = o.warmupSteps ?? 0;
  if (warm > 0 && step < warm) {
    const f = o.warmupFactor ?? 0.01;
    return lr * (f + (1 - f) * Math.sin(0.5 * Math.PI * Math.min(Math.max(step / warm, 0), 1)));
  }
  return lr;
}
