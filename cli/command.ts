/**
 * Subcommand plumbing for main.ts: each subcommand declares its options once; `--help` text and parsing come
 * from that declaration (node:util parseArgs, strict: unknown flags are an error that names the flag).
 */
import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Shown in --help, e.g. "DIR" or "N". */
  value?: string;
  description: string;
  default?: string | boolean;
  multiple?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage line after the command name, e.g. "[--data DIR] [--iters N]". */
  usage?: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments allowed (names for --help). */
  positionals?: string[];
  run(args: ParsedArgs): Promise<number | void>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  /** Options given on the command line (the others in `values` are defaults); absent: unknown. */
  given?: ReadonlySet<string>;
}

/** A user error: main.ts prints only the message (no stack) and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function helpText(cmd: Command, program: string): string {
  const lines = [`${program} ${cmd.name} — ${cmd.summary}`, ""];
  const pos = (cmd.positionals ?? []).map((p) => ` ${p}`).join("");
  lines.push(`Usage: ${program} ${cmd.name}${pos} ${cmd.usage ?? "[options]"}`, "", "Options:");
  const rows: [string, string][] = Object.entries(cmd.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? ` ${o.value}` : ""}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : "";
    return [flag, o.description + def];
  });
  rows.push(["-h, --help", "show this help"]);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [f, d] of rows) lines.push(`  ${f.padEnd(w)}  ${d}`);
  return lines.join("\n");
}

export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs | "help" {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(cmd.options)) {
    options[name] = { type: o.type };
    if (o.short) options[name].short = o.short;
    if (o.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}. Run with --help to see the options of '${cmd.name}'.`);
  }
  if (parsed.values.help) return "help";
  const max = cmd.positionals?.length ?? 0;
  if (parsed.positionals.length > max) {
    throw new UsageError(
      `'${cmd.name}' takes ${
        max ? `at most ${max} positional argument(s)` : "no positional arguments"
      }, got: ${parsed.positionals.join(" ")}`,
    );
  }
  const values: ParsedArgs["values"] = { ...parsed.values };
  const given = new Set(Object.keys(parsed.values).filter((k) => parsed.values[k] !== undefined));
  for (const [name, o] of Object.entries(cmd.options)) {
    if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  }
  return { values, positionals: parsed.positionals, given };
}

/** Reads a numeric option, with a clear error naming the flag. */
export function numberOption(
  args: ParsedArgs,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || (opts.integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be ${opts.integer ? "an integer" : "a number"}, got '${raw}'`);
  }
  if (opts.min !== undefined && v < opts.min) {
    throw new UsageError(`--${name} must be at least ${opts.min}, got ${v}`);
  }
  if (opts.max !== undefined && v > opts.max) {
    throw new UsageError(`--${name} must be at most ${opts.max}, got ${v}`);
  }
  return v;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === "string" ? v : undefined;
}
