/**
 * `import-nersemble SEQ --out DIR`: converts a raw NeRSemble-style recording (camera_params.json + per-timestep
 * image folders; layout in data/nersemble_import.ts) into the dataset format the trainer loads, then loads the
 * result once to validate it.
 */
import { loadDataset } from "../data/dataset.ts";
import { importNersemble } from "../data/nersemble_import.ts";
import { type Command, numberOption, stringOption, UsageError } from "./command.ts";

export const importNersembleCommand: Command = {
  name: "import-nersemble",
  summary: "convert a raw NeRSemble recording (camera_params.json + timesteps/) into a dataset folder",
  usage: "--out DIR [--val-cameras S1,S2] [--test-fraction F] [--intrinsics-scale K] [--no-verify]",
  positionals: ["SEQ"],
  // Every option sets `short` and `multiple`: cli/command.ts passes undefined ones on to node:util parseArgs,
  // which rejects them.
  options: {
    out: {
      type: "string",
      short: "o",
      value: "DIR",
      description: "dataset folder to write",
      multiple: false,
    },
    "val-cameras": {
      type: "string",
      short: "v",
      multiple: false,
      value: "SERIALS",
      description:
        "comma-separated camera serials held out for validation (default: the most frontal camera)",
    },
    "test-fraction": {
      type: "string",
      short: "t",
      multiple: false,
      value: "F",
      description: "fraction of the last timesteps held out for testing",
      default: "0.1",
    },
    "intrinsics-scale": {
      type: "string",
      short: "k",
      multiple: false,
      value: "K",
      description: "divide the intrinsics by K (images smaller than calibrated; default: detected)",
    },
    "no-verify": {
      type: "boolean",
      short: "n",
      multiple: false,
      description: "skip loading the written dataset to validate it",
    },
  },
  async run(args) {
    const seq = args.positionals[0];
    const out = stringOption(args, "out");
    if (!seq) throw new UsageError("import-nersemble needs the recording folder SEQ as its argument");
    if (!out) throw new UsageError("import-nersemble needs --out DIR");
    const valRaw = stringOption(args, "val-cameras");
    const t0 = performance.now();
    const res = await importNersemble(seq, out, {
      valCameras: valRaw ? valRaw.split(",").map((s) => s.trim()).filter((s) => s) : undefined,
      testFraction: numberOption(args, "test-fraction", { min: 0, max: 1 }),
      intrinsicsScale: numberOption(args, "intrinsics-scale", { min: 1e-6 }),
      onProgress: (done, total) => {
        if (done === total || done % 100 === 0) console.log(`copied ${done}/${total} images`);
      },
    });
    console.log(
      `wrote ${out}: ${res.serials.length} cameras x ${res.timesteps} timesteps; frames train ${res.frames.train}, ` +
        `val ${res.frames.val} (cameras ${res.valCameras.join(",") || "none"}), test ${res.frames.test} ` +
        `(last ${res.testTimesteps} timesteps); intrinsics / ${res.intrinsicsScale}; expression dim ` +
        `${res.expressionDim}${res.expressionDim === 0 ? " (no expressions.npy in the recording)" : ""}`,
    );
    if (!args.values["no-verify"]) {
      const ds = await loadDataset(out, { splits: ["val"] });
      console.log(`verified: transforms, expressions and ${ds.splits.val.length} validation images load`);
    }
    console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
};
