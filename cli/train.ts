/**
 * `train`: the end-to-end NPGA trainer is not built yet (issue: "Train an animatable avatar end to end"). Until it
 * lands this command says so plainly and exits non-zero, rather than pretending to train.
 */
import type { Command } from "./command.ts";

export const trainCommand: Command = {
  name: "train",
  summary: "train an avatar and serve the dashboard (not available yet: the trainer is being built)",
  options: {},
  run() {
    console.error(
      "The trainer is not available yet: this build has the GPU compute core, the Gaussian rasterizer and the\n" +
        "data pipeline. Try 'deno task synth' (built-in dataset), 'deno task bench' or 'deno task test'.",
    );
    return Promise.resolve(1);
  },
};
