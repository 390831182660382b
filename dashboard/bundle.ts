/**
 * Bundles the front end (app/main.tsx: Preact + uPlot from the npm cache) with `deno bundle`, run through
 * `Deno.execPath()` when the server starts, so users never run a build step. The result is kept in memory for
 * the process. Works offline once the npm packages (and deno bundle's esbuild) are in Deno's cache, which the
 * first `deno task train` / `deno test` puts there.
 */
import type { FrontEnd } from "./server.ts";

let cached: Promise<FrontEnd> | null = null;

async function build(): Promise<FrontEnd> {
  const entry = new URL("./app/main.tsx", import.meta.url);
  const root = new URL("../", import.meta.url);
  const out = await Deno.makeTempDir({ prefix: "npga-dashboard-" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--minify", "--outdir", out, entry.pathname],
      cwd: root.pathname,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(`bundling the dashboard front end failed:\n${new TextDecoder().decode(r.stderr)}`);
    }
    const js = await Deno.readTextFile(`${out}/main.js`);
    const css = await Deno.readTextFile(`${out}/main.css`).catch(() => "");
    return { js, css };
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

/** The bundled front end (built once per process). */
export function frontEnd(): Promise<FrontEnd> {
  if (!cached) {
    cached = build().catch((e) => {
      cached = null;
      throw e;
    });
  }
  return cached;
}
