import { exponentialDecay } from "../training/schedule.ts";
import { assertClose } from "./helpers.ts";

Deno.test("schedule: exponential decay hits its end points, is log-linear, clamps, and warms up", () => {
  const o = { initial: 1e-2, final: 1e-4, steps: 100 };
  assertClose([
    exponentialDecay(0, o),
    exponentialDecay(50, o),
    exponentialDecay(100, o),
    exponentialDecay(500, o),
  ], [
    1e-2,
    1e-3,
    1e-4,
    1e-4,
  ], { rtol: 1e-9, atol: 0 });
  const w = { ...o, warmupSteps: 10, warmupFactor: 0.1 };
  assertClose([exponentialDecay(0, w), exponentialDecay(10, w)], [1e-3, exponentialDecay(10, o)], {
    rtol: 1e-9,
    atol: 0,
  });
});
