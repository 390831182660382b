/**
 * End-to-end: a real short training run with the dashboard, driven in headless Chromium (playwright-core).
 * The page is opened with the printed token URL (which sets the token cookie), loads and connects, the loss chart gains points, the live panel updates, moving an expression
 * slider produces a new render, pause and resume work, and the downloaded avatar file decodes as a checkpoint.
 * A screenshot goes to test-output/dashboard_e2e.png. Skipped (with a message) when /usr/bin/chromium is
 * absent (Debian: apt-get install -y chromium).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { decodeCheckpoint } from "../training/checkpoint.ts";
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
if (!hasChromium) console.warn(`dashboard e2e: skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

async function until(what: string, f: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const t0 = performance.now();
  while (!(await f())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name: "dashboard e2e: headless Chromium watches, steers and downloads a real training run",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fwd: ((e: never) => void)[] = [];
    const { trainer, dataset } = await tinyTrainer([(e) => fwd.forEach((l) => l(e as never))]);
    const d = await startDashboard({
      dataset,
      port: 0,
      iters: trainer.config.iters,
      config: trainer.config,
      liveEvery: 1,
      liveIntervalMs: 300,
      // With a token: the printed URL sets the cookie that every request of the page then carries.
      token: "e2e-t0ken",
    });
    fwd.push(d.listener);
    d.attach(trainer);
    const run = trainer.run();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1300 }, acceptDownloads: true });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(d.url);
      assert.equal(new URL(page.url()).search, "", "the token left the address bar");
      await page.waitForSelector("#connection.ok", { timeout: 20_000 });
      const points = async () => Number(await page.getAttribute("#loss-chart", "data-points"));
      const p0 = await points();
      await until("the loss chart to gain points", async () => (await points()) >= p0 + 2);
      await page.waitForSelector("#live-image", { timeout: 20_000 });
      const liveId = async () => Number(await page.getAttribute("#live-image", "data-id"));
      const l0 = await liveId();
      await until("the live panel to update", async () => (await liveId()) > l0);
      await until(
        "eval points",
        async () => Number(await page.getAttribute("#metric-chart", "data-points")) >= 1,
      );

      // An expression slider change produces a new render.
      await page.waitForSelector("#expr-image", { timeout: 20_000 });
      const renders = async () => Number(await page.getAttribute("#render-count", "data-count"));
      const src0 = await page.getAttribute("#expr-image", "src");
      const r0 = await renders();
      await page.$eval('input[data-index="0"]', (el) => {
        (el as unknown as { value: string }).value = "1.2";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await until("a render after the slider moved", async () => (await renders()) > r0);
      assert.notEqual(await page.getAttribute("#expr-image", "src"), src0);

      // Pause and resume.
      await page.click("#pause");
      await page.waitForSelector("#phase:has-text('paused')");
      assert.equal(trainer.paused, true);
      await new Promise((r) => setTimeout(r, 1500));
      const s0 = trainer.step;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(trainer.step, s0, "no steps while paused");
      await page.screenshot({ path: "test-output/dashboard_e2e.png", fullPage: true });
      await page.click("#resume");
      await until("training to continue after resume", () => trainer.step > s0 + 1);

      // Download the avatar: the file loads as a checkpoint.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-avatar")]);
      const bytes = await Deno.readFile(await download.path());
      const state = decodeCheckpoint(bytes, download.suggestedFilename());
      assert.equal(state.avatar.cloud.count, trainer.avatar.count);
      assert.ok(state.step > 0);
      assert.deepEqual(errors, [], "no page errors");
    } finally {
      await browser.close();
      trainer.stop();
      await run;
      await d.close();
      trainer.destroy();
    }
  },
});
