/**
 * Benchmark plumbing: timing helpers and one report format. Each bench module returns sections (a title and
 * rows of named columns); bench/main.ts prints them as tables and writes them together as JSON.
 */
import type { Gpu } from "../gpu/device.ts";

export type Cell = string | number | null;
export interface BenchSection {
  title: string;
  rows: Record<string, Cell>[];
  notes?: string[];
}

export interface BenchContext {
  gpu: Gpu;
  /** Smaller sizes / fewer repeats (e.g. for a smoke run). */
  quick: boolean;
  log(msg: string): void;
}

export interface BenchModule {
  name: string;
  run(ctx: BenchContext): Promise<BenchSection[]>;
}

export interface TimingOptions {
  warmup?: number;
  /** Keep repeating until both minIters and minMs are reached (or maxIters). */
  minIters?: number;
  minMs?: number;
  maxIters?: number;
}

/** Median milliseconds per call of `fn`, where each call records GPU work and waits for it to finish. */
export async function timeGpu(
  gpu: Gpu,
  fn: () => void | Promise<void>,
  opts: TimingOptions = {},
): Promise<number> {
  return await timeLoop(async () => {
    await fn();
    await gpu.sync();
  }, opts);
}

/** Median milliseconds per call of a CPU function. */
export async function timeCpu(fn: () => void | Promise<void>, opts: TimingOptions = {}): Promise<number> {
  return await timeLoop(fn, opts);
}

async function timeLoop(fn: () => void | Promise<void>, opts: TimingOptions): Promise<number> {
  const warmup = opts.warmup ?? 1;
  const minIters = opts.minIters ?? 3;
  const minMs = opts.minMs ?? 300;
  const maxIters = opts.maxIters ?? 50;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxIters && (times.length < minIters || performance.now() - start < minMs)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function fmtCell(c: Cell): string {
  if (c === null) return "—";
  if (typeof c === "string") return c;
  if (Number.isInteger(c)) return String(c);
  const a = Math.abs(c);
  return a >= 100 ? c.toFixed(0) : a >= 10 ? c.toFixed(1) : a >= 1 ? c.toFixed(2) : c.toPrecision(3);
}

/** Renders a section as an aligned plain-text table. */
export function formatSection(s: BenchSection): string {
  const cols = [...new Set(s.rows.flatMap((r) => Object.keys(r)))];
  const cells = s.rows.map((r) => cols.map((c) => fmtCell(r[c] ?? null)));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i])).join("  ");
  const out = [`## ${s.title}`, line(cols), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
  for (const n of s.notes ?? []) out.push(`  note: ${n}`);
  return out.join("\n");
}
