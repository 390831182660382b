/**
 * In headless Chromium, against a real training run's dashboard on 127.0.0.1 (no token, the default):
 *
 * - a page served from another origin (another port of 127.0.0.1, so "same-site") tries to stop, pause and
 *   snapshot the run and to read its state and avatar: text/plain and JSON fetches, a text/plain form post, a
 *   beacon and an image; every request is refused and training goes on;
 * - a DNS-rebinding name (`rebind.test`, mapped to 127.0.0.1 by the browser's resolver) gets 421 and no data;
 * - on a 390 px wide viewport, a failed control (a rate-limited snapshot) is shown inline and the page stays;
 *   nothing overflows horizontally. Screenshot: test-output/dashboard_390.png.
 * Skipped (with a message) when /usr/bin/chromium is absent.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startDashboard } from "../dashboard/start.ts";
import { tinyTrainer } from "./dashboard_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) console.warn(`dashboard browser security: skipped: ${CHROMIUM} is absent`);

/** The attacker's page: every way a web page can send or read cross-origin without CORS. */
const attackPage = (target: string) =>
  `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" action="${target}/api/control/stop" enctype="text/plain" target="sink">
  <input name='{"a":"' value='"}'></form>
<img id="img" src="${target}/api/download/avatar">
<pre id="results"></pre>
<script>
const results = {};
const tryIt = async (name, f) => {
  try { results[name] = await f(); } catch (e) { results[name] = "blocked: " + e.name; }
};
(async () => {
  document.getElementById("f").submit();
  await tryIt("text/plain stop", () => fetch("${target}/api/control/stop",
    { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: "{}" }).then((r) => r.type));
  await tryIt("json pause", () => fetch("${target}/api/control/pause",
    { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }).then((r) => r.status));
  await tryIt("beacon snapshot", () => navigator.sendBeacon("${target}/api/control/snapshot", "{}"));
  await tryIt("read state", () => fetch("${target}/api/state").then((r) => r.text()));
  await tryIt("read avatar", () => fetch("${target}/api/download/avatar").then((r) => r.status));
  await new Promise((r) => setTimeout(r, 500));
  document.getElementById("results").textContent = JSON.stringify(results);
})();
</script></body></html>`;

async function until(what: string, f: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const t0 = performance.now();
  while (!(await f())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name: "dashboard browser: another origin cannot steer or read the run; errors inline at 390 px",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fwd: ((e: never) => void)[] = [];
    const { trainer, dataset } = await tinyTrainer([(e) => fwd.forEach((l) => l(e as never))]);
    const d = await startDashboard({ dataset, port: 0, iters: trainer.config.iters, config: trainer.config });
    fwd.push(d.listener);
    d.attach(trainer);
    const run = trainer.run();
    const target = d.url.replace(/\/$/, ""), port = new URL(d.url).port;
    const evil = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(attackPage(target), { headers: { "content-type": "text/html" } }),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--host-resolver-rules=MAP rebind.test 127.0.0.1",
      ],
    });
    try {
      // The attack.
      const page = await browser.newPage();
      const statuses: string[] = [];
      page.on("response", (r) => {
        if (r.url().startsWith(target)) {
          statuses.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
        }
      });
      await until("a few steps", () => trainer.step >= 2);
      await page.goto(`http://127.0.0.1:${evil.addr.port}/`);
      await page.waitForFunction("document.getElementById('results').textContent !== ''", null, {
        timeout: 20_000,
      });
      const results = JSON.parse((await page.textContent("#results"))!);
      console.log(`attack results: ${JSON.stringify(results)}\nserver answers: ${statuses.join(", ")}`);
      assert.equal(results["json pause"], "blocked: TypeError", "the JSON post needs a preflight, refused");
      assert.equal(results["read state"], "blocked: TypeError");
      assert.equal(results["read avatar"], "blocked: TypeError");
      assert.ok(statuses.length >= 3, "the browser did send the simple requests");
      assert.ok(statuses.every((s) => / (403|415)$/.test(s)), statuses.join(", "));
      const s0 = trainer.step;
      await until("training to go on", () => trainer.step > s0 + 1);
      assert.equal(trainer.paused, false);
      assert.ok(
        !d.session.hub.logs.some((l) => /stop requested|paused|snapshot saved/.test(l.message)),
        "no control reached the trainer",
      );

      // DNS rebinding: the dashboard under the attacker's name answers 421 and nothing else.
      const rebound = await page.goto(`http://rebind.test:${port}/api/state`);
      assert.equal(rebound?.status(), 421);
      assert.doesNotMatch(await page.content(), /losses/);
      assert.equal((await page.goto(`http://rebind.test:${port}/`))?.status(), 421);
      const st = await page.evaluate(() => fetch("/api/download/metrics").then((r) => r.status));
      assert.equal(st, 421);
      await page.close();

      // The real page on a phone-sized viewport: a failed control is shown inline.
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
      const errors: string[] = [];
      phone.on("pageerror", (e) => errors.push(String(e)));
      await phone.goto(d.url);
      await phone.waitForSelector("#connection.ok", { timeout: 20_000 });
      await phone.click("#snapshot");
      await until(
        "the first snapshot",
        () => d.session.hub.logs.some((l) => /snapshot saved/.test(l.message)),
      );
      await phone.click("#snapshot");
      await phone.waitForSelector("#control-error", { timeout: 10_000 });
      assert.match(
        (await phone.textContent("#control-error"))!,
        /snapshot failed: 429: snapshots are allowed/,
      );
      assert.ok(await phone.isVisible("#pause"), "the page is still there");
      assert.ok(await phone.isVisible("#loss-chart"));
      const overflow = Number(await phone.evaluate("document.documentElement.scrollWidth"));
      await phone.screenshot({ path: "test-output/dashboard_390.png", fullPage: true });
      assert.ok(overflow <= 390, `the page is ${overflow} px wide at a 390 px viewport`);
      await phone.click("#control-error .dismiss");
      assert.equal(await phone.$("#control-error"), null);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await evil.shutdown();
      trainer.stop();
      await run;
      await d.close();
      trainer.destroy();
    }
  },
});
