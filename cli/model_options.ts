/**
 * The options of the model's settings that `train` and `ablate` share (fitting of B and F, F's fine-tuning,
 * G's learning rate, the initialization), and their mapping onto the trainer's settings. An option not given
 * leaves the trainer's default.
 */
import type { TrainerConfig } from "../training/trainer_config.ts";
import { numberOption, type OptionSpec, type ParsedArgs } from "./command.ts";

/** The shared options (shown by --help of both commands). */
export const MODEL_OPTIONS: Record<string, OptionSpec> = {
  "field-steps": {
    type: "string",
    value: "N",
    description: "steps of fitting B and of distilling F (0: no F)",
  },
  "field-lr": {
    type: "string",
    value: "X",
    description: "learning rate of F's fine-tuning with the avatar (default 5e-6; 0: F frozen)",
  },
  "cycle-weight": {
    type: "string",
    value: "X",
    description: "weight of the cycle loss through B while F is fine-tuned (default 0: none, B is not kept)",
  },
  "field-bands": {
    type: "string",
    value: "N",
    description: "Fourier frequency bands of the position input of B and F (0: the raw position)",
  },
  "field-rig-weight": {
    type: "string",
    value: "X",
    description: "weight of F's direct supervision by the rig's displacement beside the cycle loss through B",
  },
  "field-shape-focus": {
    type: "string",
    value: "X",
    description: "fraction of F's samples drawn where each code's active blendshapes move (0..1)",
  },
  "field-focus-balance": {
    type: "string",
    value: "X",
    description:
      "share of F's focused samples split equally between the blendshapes, the rest by area (0..1)",
  },
  "field-still-share": {
    type: "string",
    value: "X",
    description:
      "share of F's samples on the still surface within 1 cm of moving vertices (0..1; default 0.1)",
  },
  "field-sees-code": {
    type: "boolean",
    description:
      "let F's network see the expression code (default: F is linear in the code, as blendshapes are)",
  },
  "detail-lr": {
    type: "string",
    value: "X",
    description: "scale of the detail network G's learning rate (0 freezes G)",
  },
  "init-triangle-share": {
    type: "string",
    value: "X",
    description:
      "share of the initial Gaussians spread equally over the rig's triangles, the rest by area (0..1)",
  },
  "initial-opacity": {
    type: "string",
    value: "X",
    description: "opacity of the initial Gaussians",
  },
};

/** The trainer settings the shared options give. */
export function modelOverrides(args: ParsedArgs): Partial<TrainerConfig> {
  const c: Partial<TrainerConfig> = {};
  const set = <K extends keyof TrainerConfig>(k: K, v: number | undefined) => {
    if (v !== undefined) c[k] = v as TrainerConfig[K];
  };
  const field = numberOption(args, "field-steps", { integer: true, min: 0 });
  set("priorSteps", field);
  set("distillSteps", field);
  set("fieldLr", numberOption(args, "field-lr", { min: 0, max: 1 }));
  set("cycleWeight", numberOption(args, "cycle-weight", { min: 0 }));
  set("fieldBands", numberOption(args, "field-bands", { integer: true, min: 0, max: 16 }));
  set("fieldRigWeight", numberOption(args, "field-rig-weight", { min: 0 }));
  set("fieldShapeFocus", numberOption(args, "field-shape-focus", { min: 0, max: 1 }));
  set("fieldFocusBalance", numberOption(args, "field-focus-balance", { min: 0, max: 1 }));
  set("fieldStillShare", numberOption(args, "field-still-share", { min: 0, max: 1 }));
  if (args.values["field-sees-code"]) c.fieldCodeInput = true;
  set("detailLr", numberOption(args, "detail-lr", { min: 0, max: 100 }));
  set("initTriangleShare", numberOption(args, "init-triangle-share", { min: 0, max: 1 }));
  set("initialOpacity", numberOption(args, "initial-opacity", { min: 1e-4, max: 0.9999 }));
  return c;
}
