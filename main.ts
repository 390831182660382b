/**
 * The command line. Parses the subcommand and wires it to its module; nothing else lives here.
 *
 *   deno task train [--data DIR] ...    train an avatar and serve the dashboard
 *   deno task view AVATAR ...            serve the dashboard for a trained avatar
 *   deno task synth [--out DIR] ...     write the built-in synthetic head dataset
 *   deno run -A main.ts info            show the WebGPU adapter
 */
import { type Command, helpText, parseCommandArgs, UsageError } from "./cli/command.ts";
import { infoCommand } from "./cli/info.ts";
import { synthCommand } from "./cli/synth.ts";
import { importNersembleCommand } from "./cli/import.ts";
import { trainCommand } from "./cli/train.ts";
import { viewCommand } from "./cli/view.ts";
import { ablateCommand } from "./cli/ablate.ts";
import { renderCommand } from "./cli/render.ts";
import { exportCommand } from "./cli/export.ts";
import { GpuLostError, GpuUnavailableError, GpuValidationError } from "./gpu/device.ts";

const PROGRAM = "deno task";

const commands: Command[] = [
  trainCommand,
  viewCommand,
  renderCommand,
  exportCommand,
  synthCommand,
  importNersembleCommand,
  infoCommand,
  ablateCommand,
];

function overview(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    "NPGA on WebGPU: train animatable 3D Gaussian head avatars.",
    "",
    `Usage: ${PROGRAM} <command> [options]     (or: deno run -A main.ts <command> ...)`,
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    `Run '${PROGRAM} <command> --help' for the options of a command.`,
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return name ? 0 : 1;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`Unknown command '${name}'.\n\n${overview()}`);
    return 2;
  }
  const args = parseCommandArgs(cmd, rest);
  if (args === "help") {
    console.log(helpText(cmd, PROGRAM));
    return 0;
  }
  return (await cmd.run(args)) ?? 0;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const known = e instanceof UsageError || e instanceof GpuUnavailableError || e instanceof GpuLostError ||
      e instanceof GpuValidationError || (e instanceof Error && e.name === "DataError");
    console.error(`error: ${known ? (e as Error).message : (e as Error).stack ?? e}`);
    code = e instanceof UsageError ? 2 : 1;
  }
  Deno.exit(code);
}
