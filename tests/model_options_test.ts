/**
 * The model options `train` and `ablate` share (cli/model_options.ts): both commands accept them, map them to
 * the same trainer settings, and reject out-of-range values by name.
 */
import assert from "node:assert/strict";
import { ablateCommand } from "../cli/ablate.ts";
import { type Command, parseCommandArgs, type ParsedArgs, UsageError } from "../cli/command.ts";
import { MODEL_OPTIONS, modelOverrides } from "../cli/model_options.ts";
import { trainCommand } from "../cli/train.ts";
import { trainerOverrides } from "../cli/train_options.ts";

function parse(cmd: Command, argv: string[]): ParsedArgs {
  const a = parseCommandArgs(cmd, argv);
  assert.notEqual(a, "help");
  return a as ParsedArgs;
}

const ARGV = [
  "--field-steps",
  "120",
  "--field-lr",
  "2e-4",
  "--cycle-weight",
  "0",
  "--field-bands",
  "4",
  "--field-sees-code",
  "--field-focus-balance",
  "0.8",
  "--field-still-share",
  "0.1",
  "--detail-lr",
  "0.5",
  "--init-triangle-share",
  "0.25",
  "--initial-opacity",
  "0.3",
];

Deno.test("model options: train and ablate take the same options to the same settings", () => {
  const want = {
    priorSteps: 120,
    distillSteps: 120,
    fieldLr: 2e-4,
    cycleWeight: 0,
    fieldBands: 4,
    fieldCodeInput: true,
    fieldFocusBalance: 0.8,
    fieldStillShare: 0.1,
    detailLr: 0.5,
    initTriangleShare: 0.25,
    initialOpacity: 0.3,
  };
  for (const cmd of [trainCommand, ablateCommand]) {
    for (const name of Object.keys(MODEL_OPTIONS)) assert.ok(name in cmd.options, `${cmd.name} --${name}`);
    assert.deepEqual(modelOverrides(parse(cmd, ARGV)), want, cmd.name);
  }
  const train = trainerOverrides(parse(trainCommand, ARGV));
  for (const [k, v] of Object.entries(want)) assert.equal(train[k as keyof typeof train], v, k);
  assert.deepEqual(modelOverrides(parse(ablateCommand, [])), {}, "nothing given: the trainer's defaults");
  assert.throws(() => modelOverrides(parse(ablateCommand, ["--initial-opacity", "1.5"])), UsageError);
  assert.throws(() => modelOverrides(parse(trainCommand, ["--cycle-weight", "-1"])), /cycle-weight/);
});
