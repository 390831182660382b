/**
 * `deno task bench [--only NAME,...] [--quick]`: runs every bench/*_bench.ts module, prints each section as a
 * table and writes all of them to bench/results/bench-<timestamp>.json (and latest.json).
 */
import { parseArgs } from "node:util";
import { acquireGpu } from "../gpu/device.ts";
import { type BenchModule, type BenchSection, formatSection } from "./report.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    out: { type: "string", default: "bench/results" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "deno task bench [--only NAME[,NAME...]] [--quick] [--out DIR]\n\n" +
      "Runs the benchmark modules bench/*_bench.ts (NAME is the file name without _bench.ts), prints tables and\n" +
      "writes JSON to DIR (default bench/results). --quick uses smaller sizes.",
  );
  Deno.exit(0);
}

const dir = new URL(".", import.meta.url);
const names: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith("_bench.ts")) names.push(e.name.slice(0, -"_bench.ts".length));
}
names.sort();
const only = values.only ? values.only.split(",").map((s) => s.trim()) : null;
if (only) {
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length) {
    console.error(`error: unknown benchmark(s) ${unknown.join(", ")}; available: ${names.join(", ")}`);
    Deno.exit(2);
  }
}

const gpu = await acquireGpu();
console.log(`adapter: ${gpu.adapterName}${gpu.isSoftware ? " (software)" : ""}`);
const results: Record<string, BenchSection[]> = {};
for (const name of names) {
  if (only && !only.includes(name)) continue;
  const mod = (await import(new URL(`${name}_bench.ts`, dir).href)).default as BenchModule;
  const t0 = performance.now();
  const sections = await mod.run({
    gpu,
    quick: values.quick ?? false,
    log: (m) => console.log(`  [${name}] ${m}`),
  });
  results[name] = sections;
  for (const s of sections) console.log(`\n${formatSection(s)}`);
  console.log(`  (${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const report = {
  date: new Date().toISOString(),
  adapter: gpu.adapterName,
  software: gpu.isSoftware,
  features: gpu.features,
  deno: Deno.version.deno,
  results,
};
await Deno.mkdir(values.out!, { recursive: true });
const stamp = report.date.replace(/[:.]/g, "-");
const json = JSON.stringify(report, null, 2);
await Deno.writeTextFile(`${values.out}/bench-${stamp}.json`, json);
await Deno.writeTextFile(`${values.out}/latest.json`, json);
console.log(`\nwrote ${values.out}/bench-${stamp}.json`);
gpu.destroy();
