/**
 * A strict web viewer reads our files in a real browser: @sparkjsdev/spark's `PackedSplats` loader (its worker +
 * wasm file parser, the code its viewer runs before drawing) fetches our PLY and SPZ files in headless Chromium
 * (playwright-core) and must report the splat count, SH degree and centres we wrote; a truncated PLY, a truncated
 * SPZ and an SPZ whose header claims one splat more than it holds must be rejected.
 *
 * Everything is offline: a local `Deno.serve` on a free port serves the page, Spark and three.js straight from
 * the Deno npm cache (located with `deno info --json`, which fetches the packages from npm once if missing) and
 * the files. No rendering or WebGL is involved. Skipped, with a message, when /usr/bin/chromium is absent or
 * Spark cannot be resolved.
 */
import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "fflate";
import { chromium } from "playwright-core";
import { readSpz, writeSpz } from "../data/spz.ts";
import { writePly } from "../data/ply.ts";
import { type GaussianCloud, shCoefficients } from "../data/gaussian_cloud.ts";
import { Rng } from "../gpu/rng.ts";

const CHROMIUM = "/usr/bin/chromium";
const SPARK = "npm:@sparkjsdev/spark@2.2.0";

const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.warn(`Spark browser check: skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

/** Local folders of the Spark and three.js packages Spark resolves to, or the reason they cannot be found. */
async function sparkPackages(): Promise<{ spark: string; three: string } | string> {
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-lock", "--no-config", SPARK],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    if (!r.success) return `deno info ${SPARK} failed: ${new TextDecoder().decode(r.stderr).slice(0, 300)}`;
    const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
      npmPackages?: Record<string, { name: string; localPath?: string }>;
    };
    const pkgs = Object.values(info.npmPackages ?? {});
    const spark = pkgs.find((p) => p.name === "@sparkjsdev/spark")?.localPath;
    const three = pkgs.find((p) => p.name === "three")?.localPath;
    if (!spark || !three) return `deno info ${SPARK} lists no local Spark or three.js package`;
    Deno.statSync(`${spark}/dist/spark.module.js`);
    Deno.statSync(`${three}/build/three.module.js`);
    return { spark, three };
  } catch (e) {
    return String(e);
  }
}

const packages = hasChromium ? await sparkPackages() : "no browser";
if (hasChromium && typeof packages === "string") console.warn(`Spark browser check: skipped: ${packages}`);

/** A seeded random cloud inside SPZ's representable ranges (as in splat_interop_test.ts). */
function randomCloud(seed: number, n: number, degree: number): GaussianCloud {
  const rng = new Rng(seed);
  const k = shCoefficients(degree);
  const sh = rng.floats(n * k * 3, -0.95, 0.95);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) sh[i * k * 3 + c] = rng.uniform(-3, 3);
  return {
    count: n,
    shDegree: degree,
    means: rng.normals(n * 3, 0.3),
    quats: rng.normals(n * 4),
    logScales: rng.floats(n * 3, -9, 4),
    opacityLogits: rng.floats(n, -6, 6),
    sh,
  };
}

/** The page: an import map for three.js, then Spark; `window.loadSplats(url)` decodes one file. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8">
<script type="importmap">
{"imports": {"three": "/three/build/three.module.js", "three/addons/": "/three/examples/jsm/"}}
</script>
<script type="module">
import { PackedSplats } from "/spark/dist/spark.module.js";
window.loadSplats = async (url) => {
  try {
    const p = new PackedSplats({ url });
    await p.initialized;
    const centers = [];
    for (let i = 0; i < p.numSplats; i++) centers.push(...p.getSplat(i).center.toArray());
    return { numSplats: p.numSplats, numSh: p.getNumSh(), centers };
  } catch (e) {
    return { error: String(e) };
  }
};
window.sparkReady = true;
</script></head><body></body></html>`;

const TYPES: Record<string, string> = { js: "text/javascript", html: "text/html", json: "application/json" };

/** Serves the page, Spark and three.js package files, and `files` (under /files/) on a free local port. */
function serve(
  pkgs: { spark: string; three: string },
  files: Map<string, Uint8Array>,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path === "/") return new Response(PAGE, { headers: { "content-type": TYPES.html } });
    if (path.startsWith("/files/")) {
      const body = files.get(path.slice("/files/".length));
      return body
        ? new Response(body.slice(), { headers: { "content-type": "application/octet-stream" } })
        : new Response("not found", { status: 404 });
    }
    const root = path.startsWith("/spark/") ? pkgs.spark : path.startsWith("/three/") ? pkgs.three : null;
    const rel = path.slice(path.indexOf("/", 1));
    if (!root || rel.split("/").includes("..")) return new Response("not found", { status: 404 });
    try {
      const body = await Deno.readFile(root + rel);
      const type = TYPES[rel.split(".").at(-1) ?? ""] ?? "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** Decoded result of one file in the page. */
interface Loaded {
  numSplats?: number;
  numSh?: number;
  centers?: number[];
  error?: string;
}

Deno.test({
  name: "Spark in headless Chromium loads our PLY and SPZ with the written splat count; rejects bad files",
  ignore: typeof packages === "string",
  fn: async () => {
    const pkgs = packages as { spark: string; three: string };
    const n = 300;
    const files = new Map<string, Uint8Array>();
    const expected = new Map<string, GaussianCloud>();
    for (const degree of [0, 1, 3]) {
      const cloud = randomCloud(70 + degree, n, degree);
      const spz = writeSpz(cloud);
      files.set(`d${degree}.ply`, writePly(cloud));
      files.set(`d${degree}.spz`, spz);
      expected.set(`d${degree}.ply`, cloud);
      expected.set(`d${degree}.spz`, readSpz(spz, "d.spz"));
    }
    // Negative controls, so an accepted file means something: a PLY and an SPZ cut short, and an SPZ whose
    // header (u32 numPoints at byte 8 of the gunzipped data) claims one splat more than its streams hold.
    const ply = files.get("d1.ply")!, spz = files.get("d1.spz")!;
    const raw = gunzipSync(spz);
    new DataView(raw.buffer, raw.byteOffset).setUint32(8, n + 1, true);
    // Each with the reason Spark 2.2.0 gives (so a missing file, which also fails, cannot pass for a rejection).
    const bad: [string, Uint8Array, RegExp][] = [
      ["cut.ply", ply.slice(0, ply.length - 1000), new RegExp(`Expected ${n} splats`)],
      ["cut.spz", spz.slice(0, spz.length >> 1), /gzip/i],
      ["miscount.spz", gzipSync(raw), /Incomplete SPZ/],
    ];
    for (const [name, bytes] of bad) files.set(name, bytes);

    const server = serve(pkgs, files);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
      ],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction("window.sparkReady === true", undefined, { timeout: 15_000 })
        .catch((e) => assert.fail(`Spark did not load in the page: ${errors.join("; ") || e}`));
      const load = (name: string) =>
        page.evaluate(
          (url) => (globalThis as unknown as { loadSplats(u: string): Promise<Loaded> }).loadSplats(url),
          `/files/${name}`,
        );
      for (const [name, cloud] of expected) {
        const res = await load(name);
        assert.equal(res.error, undefined, `${name}: ${res.error}`);
        assert.equal(res.numSplats, n, `${name} splat count`);
        assert.equal(res.numSh, cloud.shDegree, `${name} SH degree`);
        // Centres: Spark keeps them as float16 (relative step 2^-11).
        for (let i = 0; i < 3 * n; i++) {
          const tol = Math.abs(cloud.means[i]) * 2 ** -11 + 1e-7;
          assert.ok(Math.abs(res.centers![i] - cloud.means[i]) <= tol, `${name} centre ${i}`);
        }
      }
      for (const [name, , reason] of bad) {
        const res = await load(name);
        assert.ok(res.error !== undefined, `Spark must reject ${name}, but it read ${res.numSplats} splats`);
        assert.match(res.error, reason, name);
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
