/**
 * GET /api/download/npga against the real Hono app of a small (not running) trainer: the token guards it, and the
 * response is an .npga file that `decodeNpga` reads back as the same avatar the checkpoint download holds (step,
 * Gaussian count, SH degree, networks, config; positions within the 12-bit quantization step).
 */
import assert from "node:assert/strict";
import { decodeNpga } from "../data/npga_format.ts";
import { decodeCheckpoint } from "../training/checkpoint.ts";
import { startDashboard } from "../dashboard/start.ts";
import { tinyTrainer } from "./dashboard_fixture.ts";

Deno.test("dashboard api: GET /api/download/npga is token-guarded and decodes as the current avatar", async () => {
  const { trainer, dataset } = await tinyTrainer([]);
  const d = await startDashboard({ dataset, port: 0, config: { test: true }, iters: 10, token: "s3cret" });
  d.attach(trainer);
  try {
    const base = d.url.replace(/\?.*$/, "").replace(/\/$/, "");
    let r = await fetch(`${base}/api/download/npga`);
    assert.equal(r.status, 401);
    await r.body?.cancel();
    r = await fetch(`${base}/api/download/npga`, { headers: { authorization: "Bearer s3cret" } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-disposition") ?? "", /avatar-step-0\.npga/);
    const npga = decodeNpga(new Uint8Array(await r.arrayBuffer()), "download.npga");
    r = await fetch(`${base}/api/download/avatar`, { headers: { cookie: "npga_token=s3cret" } });
    assert.equal(r.status, 200);
    const state = decodeCheckpoint(new Uint8Array(await r.arrayBuffer()), "download.safetensors");
    const want = state.avatar.cloud, got = npga.cloud;

    assert.equal(npga.step, state.step);
    assert.equal(got.count, 1500);
    assert.equal(got.count, want.count);
    assert.equal(got.shDegree, want.shDegree);
    assert.equal(npga.detailParams.length, state.avatar.detailParams.length);
    assert.deepEqual(npga.config, { test: true });
    // The file stores Gaussians in Morton order: compare each axis's sorted positions, which a reordering keeps,
    // within one 12-bit step of that axis's range.
    for (let c = 0; c < 3; c++) {
      const axis = (m: Float32Array) =>
        Float64Array.from({ length: want.count }, (_, i) => m[3 * i + c]).sort();
      const a = axis(got.means), b = axis(want.means);
      const step = (b[b.length - 1] - b[0]) / 4095;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= step, `axis ${c} rank ${i}`);
    }
  } finally {
    await d.close();
    trainer.destroy();
  }
});
