/**
 * Independent readers of our PLY and SPZ files: the @playcanvas/splat-transform CLI, Niantic's reference SPZ
 * decoder (wasm) and Spark's loader. Each runs as a child process and is skipped, with a message, only when it
 * cannot be installed or started here.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "fflate";
import { readSpz, writeSpz } from "../data/spz.ts";
import { plyPropertyNames, readPly, writePly } from "../data/ply.ts";
import { type GaussianCloud, rotateX180, shCoefficients } from "../data/gaussian_cloud.ts";
import { Rng } from "../gpu/rng.ts";
import { assertClose, maxAbsDiff } from "./helpers.ts";

/**
 * A seeded random cloud inside SPZ's representable ranges: log-scales in [-9, 4], DC in [-3, 3], higher SH in
 * [-0.95, 0.95], opacity logits in [-6, 6].
 */
function randomCloud(seed: number, n: number, degree: number, spread = 0.3): GaussianCloud {
  const rng = new Rng(seed);
  const k = shCoefficients(degree);
  const sh = rng.floats(n * k * 3, -0.95, 0.95);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) sh[i * k * 3 + c] = rng.uniform(-3, 3);
  return {
    count: n,
    shDegree: degree,
    means: rng.normals(n * 3, spread),
    quats: rng.normals(n * 4),
    logScales: rng.floats(n * 3, -9, 4),
    opacityLogits: rng.floats(n, -6, 6),
    sh,
  };
}

// ---- Independent reader: the @playcanvas/splat-transform CLI (npm). npx (from the local cache when it has the
// package) resolves its executable once; the checks then run it directly, which saves npx's start-up per call.

/**
 * Runs `cmd args` in `cwd` (never throws): its exit code, its stdout alone, and `out`, stdout followed by
 * stderr (for messages).
 */
async function run(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; out: string }> {
  try {
    const r = await new Deno.Command(cmd, {
      args,
      cwd,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const dec = new TextDecoder();
    const stdout = dec.decode(r.stdout);
    return { code: r.code, stdout, out: stdout + dec.decode(r.stderr) };
  } catch (e) {
    return { code: -1, stdout: "", out: String(e) };
  }
}

const NPX = [
  "--prefer-offline",
  "-y",
  "-p",
  "@playcanvas/splat-transform",
  "-c",
  "command -v splat-transform",
];
const resolved = await run("npx", NPX);
const binary = resolved.stdout.trim().split("\n").at(-1) ?? "";
const probe = resolved.code === 0 ? await run(binary, ["--version"]) : resolved;
if (probe.code !== 0) {
  console.warn(
    `SKIPPED the splat-transform checks: 'npx ${NPX.join(" ")}' cannot run it here ` +
      `(exit ${probe.code}): ${probe.out.slice(0, 200)}`,
  );
}

/** Runs splat-transform with `args` in `cwd`. */
function splatTransform(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return run(binary, args, cwd);
}

/** Parses splat-transform's `-m` summary: row count and, per column, its nans and infs counts. */
function parseSummary(text: string): { rows: number; columns: Map<string, [number, number]> } {
  const rows = Number(/\*\*Row Count:\*\*\s*(\d+)/.exec(text)?.[1] ?? NaN);
  const columns = new Map<string, [number, number]>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 10 || cells[1] === "Column" || cells[1].startsWith("-")) continue;
    columns.set(cells[1], [Number(cells[7]), Number(cells[8])]);
  }
  return { rows, columns };
}

Deno.test({
  name: "splat-transform reads our PLY and SPZ files: summaries, conversions both ways, byte-identical SPZ",
  ignore: probe.code !== 0,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "spz_test_" });
    try {
      await Promise.all([0, 1, 3].map(async (degree) => {
        const n = 300;
        const cloud = randomCloud(40 + degree, n, degree, 0.2);
        const ply = `d${degree}.ply`, spz = `d${degree}.spz`;
        await Deno.writeFile(`${dir}/${ply}`, writePly(cloud));
        await Deno.writeFile(`${dir}/${spz}`, writeSpz(cloud));
        // Per-column summaries: the expected count, every column present, no NaN or Inf.
        const restCount = 3 * (shCoefficients(degree) - 1);
        const cases: [string, boolean][] = [[ply, true], [spz, false]];
        for (const [file, normals] of cases) {
          const r = await splatTransform([file, "-m", "null"], dir);
          assert.equal(r.code, 0, r.out);
          const s = parseSummary(r.out);
          assert.equal(s.rows, n, `${file} row count`);
          const expected = plyPropertyNames(degree).filter((c) => normals || !["nx", "ny", "nz"].includes(c));
          assert.deepEqual([...s.columns.keys()].sort(), expected.sort(), `${file} columns`);
          assert.equal([...s.columns.keys()].filter((c) => c.startsWith("f_rest_")).length, restCount);
          for (const [col, [nans, infs]] of s.columns) assert.ok(nans === 0 && infs === 0, `${file} ${col}`);
        }
        // Our SPZ -> their PLY: their decoder agrees with ours (they write PLY in RDF, hence rotateX180).
        let r = await splatTransform(["-w", spz, `from_spz_${degree}.ply`], dir);
        assert.equal(r.code, 0, r.out);
        const theirs = rotateX180(readPly(await Deno.readFile(`${dir}/from_spz_${degree}.ply`), "their.ply"));
        const ours = readSpz(await Deno.readFile(`${dir}/${spz}`), spz);
        for (const key of ["means", "quats", "logScales", "sh"] as const) {
          assert.ok(
            maxAbsDiff(theirs[key], ours[key]) <= 1e-6,
            `${key} ${maxAbsDiff(theirs[key], ours[key])}`,
          );
        }
        assert.ok(maxAbsDiff(theirs.opacityLogits, ours.opacityLogits) <= 1e-5);
        // Our PLY -> their SPZ v3: byte-identical (after gunzip) to ours for the same (RDF -> RUB) cloud.
        r = await splatTransform(["-w", "--spz-version", "3", ply, `from_ply_${degree}.spz`], dir);
        assert.equal(r.code, 0, r.out);
        const theirSpz = await Deno.readFile(`${dir}/from_ply_${degree}.spz`);
        assert.deepEqual(gunzipSync(theirSpz), gunzipSync(writeSpz(rotateX180(cloud))));
        assert.equal(readSpz(theirSpz, "their.spz").count, n);
        // Our PLY -> their PLY (degree 3 only, to keep the test short): the same values exactly.
        if (degree !== 3) return;
        r = await splatTransform(["-w", ply, `from_ply_${degree}.ply`], dir);
        assert.equal(r.code, 0, r.out);
        const back = readPly(await Deno.readFile(`${dir}/from_ply_${degree}.ply`), "their.ply");
        for (const key of ["means", "quats", "logScales", "opacityLogits", "sh"] as const) {
          assert.equal(maxAbsDiff(back[key], cloud[key]), 0, key);
        }
      }));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---- Reference decoder: Niantic's spz C++ library compiled to wasm (npm @spz-loader/core). It runs in a child
// Deno process with --no-lock (so the shared deno.lock is left alone) and browser-like globals (its build only
// knows browsers). It prints the decoded arrays as JSON: rotations (x, y, z, w), alphas after sigmoid, scales
// after exp, colours as dc + 0.5 (its colour mapping with the scale factor set to 1), sh raw.

const REFERENCE_SCRIPT = `
const g = globalThis;
g.process = undefined;
g.window = globalThis;
let mod;
try {
  mod = await import("npm:@spz-loader/core@0.3.1");
} catch (e) {
  console.log(String(e));
  Deno.exit(3);
}
const { loadSpz } = mod;
const c = await loadSpz(await Deno.readFile(Deno.args[0]), { colorScaleFactor: 1, unpackOptions: { coordinateSystem: "RUB" } });
const out = { numPoints: c.numPoints, shDegree: c.shDegree };
for (const k of ["positions", "rotations", "alphas", "colors", "scales", "sh"]) out[k] = Array.from(c[k]);
console.log(JSON.stringify(out));
`;

Deno.test("Niantic's reference SPZ decoder (wasm, @spz-loader/core) decodes our files as readSpz does", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "spz_ref_" });
  try {
    await Deno.writeTextFile(`${dir}/ref.ts`, REFERENCE_SCRIPT);
    for (const degree of [0, 1, 3]) {
      const cloud = randomCloud(50 + degree, 200, degree);
      const bytes = writeSpz(cloud);
      await Deno.writeFile(`${dir}/c.spz`, bytes);
      const r = await run(Deno.execPath(), [
        "run",
        "--no-lock",
        "--no-config",
        "-A",
        `${dir}/ref.ts`,
        `${dir}/c.spz`,
      ]);
      if (r.code === 3 || r.code === -1) { // 3: the package did not load; -1: no start or a timeout (offline fetch)
        console.warn(
          `SKIPPED: the reference decoder (npm:@spz-loader/core@0.3.1) cannot run here: ${
            r.out.slice(0, 300)
          }`,
        );
        await t.step({ name: "reference decoder unavailable", ignore: true, fn: () => {} });
        return;
      }
      assert.equal(r.code, 0, `reference decoder failed on our degree-${degree} file: ${r.out}`);
      // The JSON is stdout's last line (stderr may hold the package download's progress lines).
      const ref = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      const ours = readSpz(bytes, "c.spz");
      const n = ours.count, k = shCoefficients(degree);
      assert.equal(ref.numPoints, n);
      assert.equal(ref.shDegree, degree);
      assert.equal(maxAbsDiff(ref.positions, ours.means), 0, "positions");
      const expect = (name: string, values: number[], tol: number) =>
        assert.ok(maxAbsDiff(ref[name], values) <= tol, `${name}: ${maxAbsDiff(ref[name], values)}`);
      const q = ours.quats;
      expect(
        "rotations",
        Array.from({ length: 4 * n }, (_, i) => q[4 * Math.floor(i / 4) + ((i % 4) + 1) % 4]),
        1e-6,
      );
      expect("alphas", Array.from(ours.opacityLogits, (x) => 1 / (1 + Math.exp(-x))), 1e-6);
      assertClose(ref.scales, Array.from(ours.logScales, Math.exp), { atol: 0, rtol: 1e-6, what: "scales" });
      expect(
        "colors",
        Array.from({ length: 3 * n }, (_, i) => 0.5 + ours.sh[Math.floor(i / 3) * k * 3 + (i % 3)]),
        1e-6,
      );
      const rest = Array.from({ length: n * (k - 1) * 3 }, (_, i) => {
        const g = Math.floor(i / ((k - 1) * 3));
        return ours.sh[g * k * 3 + 3 + (i % ((k - 1) * 3))];
      });
      expect("sh", rest, 1e-7);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- A strict web viewer's loader: @sparkjsdev/spark's PackedSplats (its worker + wasm file parser, the code
// its viewer runs before drawing; it rejects truncated or miscounted files). It runs in a child Deno process with
// --no-lock; Spark starts classic workers, which Deno lacks, so the child makes them module workers. It prints,
// per file, the splat count, SH degree and splat centres (float16 inside Spark), or the error.

const SPARK_SCRIPT = `
const W = globalThis.Worker;
globalThis.Worker = class extends W {
  constructor(url, opts) {
    super(url, { ...opts, type: "module" });
  }
};
let spark;
try {
  spark = await import("npm:@sparkjsdev/spark@2.2.0");
} catch (e) {
  console.log(String(e));
  Deno.exit(3);
}
for (const file of Deno.args) {
  const fileType = file.endsWith(".ply") ? spark.SplatFileType.PLY : spark.SplatFileType.SPZ;
  try {
    const p = new spark.PackedSplats({ fileBytes: await Deno.readFile(file), fileType });
    await p.initialized;
    const centers = [];
    for (let i = 0; i < p.numSplats; i++) centers.push(...p.getSplat(i).center.toArray());
    console.log(JSON.stringify({ file, numSplats: p.numSplats, numSh: p.getNumSh(), centers }));
  } catch (e) {
    console.log(JSON.stringify({ file, error: String(e) }));
  }
}
Deno.exit(0);
`;

Deno.test("Spark's loader reads our PLY and SPZ with the expected splat count, SH degree and centres", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "spz_spark_" });
  try {
    await Deno.writeTextFile(`${dir}/spark.js`, SPARK_SCRIPT);
    const n = 200;
    const clouds = new Map<string, GaussianCloud>();
    const files: string[] = [];
    for (const degree of [0, 1, 3]) {
      const cloud = randomCloud(60 + degree, n, degree);
      const spz = writeSpz(cloud);
      await Deno.writeFile(`${dir}/d${degree}.ply`, writePly(cloud));
      await Deno.writeFile(`${dir}/d${degree}.spz`, spz);
      clouds.set(`${dir}/d${degree}.ply`, cloud);
      clouds.set(`${dir}/d${degree}.spz`, readSpz(spz, "d.spz"));
      files.push(`${dir}/d${degree}.ply`, `${dir}/d${degree}.spz`);
    }
    // Negative control: a PLY cut short must be rejected, so an accepted file means something.
    const ply = writePly(randomCloud(1, n, 1));
    await Deno.writeFile(`${dir}/cut.ply`, ply.slice(0, ply.length - 1000));
    const r = await run(Deno.execPath(), [
      "run",
      "--no-lock",
      "--no-config",
      "-A",
      `${dir}/spark.js`,
      ...files,
      `${dir}/cut.ply`,
    ]);
    if (r.code === 3 || r.code === -1) { // 3: the package did not load; -1: no start or a timeout (offline fetch)
      console.warn(`SKIPPED: Spark (npm:@sparkjsdev/spark@2.2.0) cannot run here: ${r.out.slice(0, 300)}`);
      await t.step({ name: "Spark unavailable", ignore: true, fn: () => {} });
      return;
    }
    assert.equal(r.code, 0, r.out);
    const results = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert.equal(results.length, files.length + 1, r.out);
    for (const res of results) {
      if (res.file.endsWith("cut.ply")) {
        assert.match(res.error ?? "", /Expected 200 splats/, "Spark must reject the truncated PLY");
        continue;
      }
      const cloud = clouds.get(res.file)!;
      assert.equal(res.error, undefined, `${res.file}: ${res.error}`);
      assert.equal(res.numSplats, n, res.file);
      assert.equal(res.numSh, cloud.shDegree, res.file);
      // Centres: Spark keeps them as float16 (relative step 2^-11).
      const tol = Array.from(cloud.means, (x) => Math.abs(x) * 2 ** -11 + 1e-7);
      for (let i = 0; i < 3 * n; i++) {
        assert.ok(Math.abs(res.centers[i] - cloud.means[i]) <= tol[i], `${res.file} centre ${i}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
