/**
 * Dashboard API tests against the real Hono app of a small (not running) trainer: pages and routes, request
 * validation (unknown camera/timestep, malformed bodies, oversized bodies, no path traversal), the token rules,
 * controls, renders, and the downloads (the avatar file decodes as a checkpoint). Plus unit tests of the
 * bounded client queue, the step gate and the panel composition.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../data/image_io.ts";
import { decodeCheckpoint } from "../training/checkpoint.ts";
import { ClientQueue } from "../dashboard/client_queue.ts";
import { composePanel, ERROR_SCALE, heatColour } from "../dashboard/panel.ts";
import { isLoopback, PortInUseError, startDashboard, startViewer } from "../dashboard/start.ts";
import { encodeCheckpoint } from "../training/checkpoint.ts";
import { StepGate } from "../dashboard/step_gate.ts";
import { tinyTrainer } from "./dashboard_fixture.ts";

async function withDashboard(
  opts: { token?: string },
  fn: (base: string, d: Awaited<ReturnType<typeof startDashboard>>) => Promise<void>,
) {
  const { trainer, dataset } = await tinyTrainer([]);
  const d = await startDashboard({ dataset, port: 0, config: { test: true }, iters: 10, ...opts });
  d.attach(trainer);
  try {
    await fn(d.url.replace(/\?.*$/, "").replace(/\/$/, ""), d);
  } finally {
    await d.close();
    trainer.destroy();
  }
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

async function errorOf(r: Response): Promise<string> {
  const j = await r.json();
  assert.equal(typeof j.error, "string");
  return j.error;
}

Deno.test("dashboard api: pages, info, validation, render, controls, downloads", async () => {
  await withDashboard({}, async (base, d) => {
    assert.equal(d.token, null, "no token on loopback");
    let r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<script type="module" src="\/app.js">/);
    r = await fetch(`${base}/app.js`);
    assert.equal(r.status, 200);
    assert.ok((await r.text()).length > 10_000, "bundled front end (preact + uplot)");
    r = await fetch(`${base}/app.css`);
    assert.match(await r.text(), /uplot/);
    for (
      const p of [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/dashboard/server.ts",
        "/app.js/../deno.json",
      ]
    ) {
      r = await fetch(`${base}${p}`);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(await r.text(), /root:|"imports"/);
    }
    const info = await (await fetch(`${base}/api/info`)).json();
    assert.equal(info.expressionDim, 20);
    assert.equal(info.blendshapeNames[0], "jawOpen");
    assert.equal(info.cameras.length, 4);
    assert.equal(info.expressions.length, info.timesteps * 20);

    // Validation.
    r = await postJson(`${base}/api/render`, { camera: 99, timestep: 0 });
    assert.equal(r.status, 404);
    assert.match(await errorOf(r), /unknown camera 99/);
    r = await postJson(`${base}/api/render`, { camera: info.cameras[0].index, timestep: 1000 });
    assert.equal(r.status, 404);
    assert.match(await errorOf(r), /unknown timestep 1000/);
    r = await postJson(`${base}/api/render`, { camera: 0, expression: [1, 2] });
    assert.equal(r.status, 400);
    assert.match(await errorOf(r), /20 numbers/);
    r = await postJson(`${base}/api/render`, { camera: 0, expression: new Array(20).fill(1e9) });
    assert.equal(r.status, 400);
    r = await postJson(`${base}/api/render`, { camera: 0, timestep: 0, yaw: "left" });
    assert.equal(r.status, 400);
    r = await fetch(`${base}/api/render`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(r.status, 400);
    r = await postJson(`${base}/api/render`, { camera: 0, expression: new Array(20_000).fill(0.5) });
    assert.equal(r.status, 413);
    await r.body?.cancel();
    r = await postJson(`${base}/api/live`, { camera: 0, timestep: -1 });
    assert.equal(r.status, 404);
    await r.body?.cancel();
    r = await postJson(`${base}/api/control/explode`, {});
    assert.equal(r.status, 404);
    await r.body?.cancel();

    // A render at a timestep's code, and an orbited one that differs from it.
    const cam = info.cameras[0].index;
    r = await postJson(`${base}/api/render`, { camera: cam, timestep: 0 });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "image/png");
    const a = decodeImage(new Uint8Array(await r.arrayBuffer()), "render.png");
    assert.equal(a.width, 64);
    assert.equal(a.height, 64);
    r = await postJson(`${base}/api/render`, { camera: cam, timestep: 0, yaw: 60 });
    const b = decodeImage(new Uint8Array(await r.arrayBuffer()), "render.png");
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) diff += Math.abs(a.data[i] - b.data[i]);
    assert.ok(diff / a.data.length > 1, `orbit changes the image (mean diff ${diff / a.data.length})`);

    // Controls.
    r = await postJson(`${base}/api/control/pause`, {});
    assert.equal(r.status, 200);
    assert.equal(d.session.hub.status.paused, true);
    r = await postJson(`${base}/api/control/resume`, {});
    assert.equal(r.status, 200);
    assert.equal(d.session.hub.status.paused, false);
    r = await postJson(`${base}/api/control/snapshot`, {});
    assert.equal(r.status, 200);
    assert.match((await r.json()).saved, /step 0/);

    // Downloads.
    r = await fetch(`${base}/api/download/avatar`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-disposition") ?? "", /avatar-step-0\.safetensors/);
    const state = decodeCheckpoint(new Uint8Array(await r.arrayBuffer()), "download");
    assert.equal(state.avatar.cloud.count, 1500);
    r = await fetch(`${base}/api/download/metrics`);
    const m = await r.json();
    assert.deepEqual(m.config, { test: true });
    assert.ok(Array.isArray(m.losses));
  });
});

Deno.test("dashboard api: a token guards every route but the page; the printed URL sets a cookie", async () => {
  await withDashboard({ token: "s3cret" }, async (base, d) => {
    assert.match(d.url, /\?token=s3cret$/);
    for (
      const [method, path] of [
        ["POST", "/api/control/pause"],
        ["POST", "/api/control/stop"],
        ["POST", "/api/control/snapshot"],
        ["POST", "/api/render"],
        ["POST", "/api/live"],
        ["GET", "/api/download/avatar"],
        ["GET", "/api/download/npga"],
        ["GET", "/api/download/metrics"],
        ["GET", "/api/info"],
        ["GET", "/api/state"],
        ["GET", "/api/events"],
      ]
    ) {
      const body = method === "POST" ? "{}" : undefined, json = { "content-type": "application/json" };
      const r = await fetch(`${base}${path}`, { method, headers: json, body });
      assert.equal(r.status, 401, path);
      assert.match(await errorOf(r), /token/);
      const wrong: Record<string, string>[] = [
        { authorization: "Bearer wrong" },
        { authorization: "Bearer s3cre" },
        { cookie: "npga_token=s3cretX" },
      ];
      for (const headers of wrong) {
        const w = await fetch(`${base}${path}`, { method, headers: { ...json, ...headers }, body });
        assert.equal(w.status, 401, `${path} ${JSON.stringify(headers)}`);
        await w.body?.cancel();
      }
      // A token in the query string is not accepted (links would leak it).
      const q = await fetch(`${base}${path}?token=s3cret`, { method, headers: json, body });
      assert.equal(q.status, 401, `${path}?token=`);
      await q.body?.cancel();
    }
    let r = await postJson(`${base}/api/control/pause`, {}, { authorization: "Bearer s3cret" });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    r = await fetch(`${base}/api/download/metrics`, { headers: { cookie: "npga_token=s3cret" } });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    r = await fetch(`${base}/`);
    assert.equal(r.status, 200, "the page itself needs no token");
    await r.body?.cancel();
    // Opening the printed URL stores the token in an HttpOnly, SameSite=Strict cookie and drops it from the URL.
    r = await fetch(d.url, { redirect: "manual" });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get("location"), "/");
    assert.match(
      r.headers.get("set-cookie") ?? "",
      /^npga_token=s3cret; Path=\/; HttpOnly; SameSite=Strict$/,
    );
    await r.body?.cancel();
    r = await fetch(`${base}/?token=wrong`, { redirect: "manual" });
    assert.equal(r.status, 200, "a wrong token sets no cookie");
    assert.equal(r.headers.get("set-cookie"), null);
    await r.body?.cancel();
  });
  assert.ok(isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("::1"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.168.1.2"));
});

Deno.test("dashboard: client queues are bounded, drop when full and keep only the newest image", () => {
  const q = new ClientQueue(3);
  assert.ok(q.push({ event: "loss", data: "1" }));
  assert.ok(q.push({ event: "image", data: "a" }));
  assert.ok(q.push({ event: "image", data: "b" }), "a newer image replaces the queued one");
  assert.equal(q.length, 2);
  assert.ok(q.push({ event: "loss", data: "2" }));
  assert.equal(q.push({ event: "loss", data: "3" }), false);
  assert.equal(q.dropped, 1);
  q.close();
  assert.equal(q.push({ event: "loss", data: "4" }), false);
  assert.equal(q.length, 0);
});

Deno.test("dashboard: the step gate runs jobs only between steps", async () => {
  const order: string[] = [];
  let release!: () => void;
  const fake = {
    async trainStep() {
      order.push("step-start");
      await new Promise<void>((r) => (release = r));
      order.push("step-end");
    },
    evaluate: () => Promise.resolve(),
    state: () => Promise.resolve(),
  };
  const gate = new StepGate(fake);
  const step = fake.trainStep();
  await Promise.resolve();
  const job = gate.run(() => {
    order.push("job");
    return Promise.resolve(7);
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(order, ["step-start"], "the job waits for the step");
  release();
  await step;
  assert.equal(await job, 7);
  assert.deepEqual(order, ["step-start", "step-end", "job"]);
  assert.equal(await gate.run(() => Promise.resolve(1)), 1, "runs at once between steps");
});

Deno.test("dashboard: panel is ground truth | prediction | error heat map", () => {
  const W = 2, H = 1;
  const pred = new Float32Array([0, 0, 0, 1, 1, 1]);
  const gt = new Uint8Array([0, 0, 0, 0, 0, 0]);
  const p = composePanel(pred, gt, W, H);
  assert.equal(p.width, 6);
  assert.deepEqual([...p.data.subarray(0, 6)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...p.data.subarray(6, 12)], [0, 0, 0, 255, 255, 255]);
  assert.deepEqual([...p.data.subarray(12, 15)], [0, 0, 0], "no error is black");
  assert.deepEqual([...p.data.subarray(15, 18)], heatColour(1 / ERROR_SCALE), "error 1 saturates");
  assert.deepEqual(heatColour(1), [255, 255, 255]);
  assert.throws(() => composePanel(pred, new Uint8Array(3), W, H), /composePanel/);
});

Deno.test("dashboard viewer: serves a saved avatar without training; renders match the trainer's", async () => {
  const { trainer, dataset, gpu } = await tinyTrainer([]);
  const state = await trainer.state();
  const bytes = encodeCheckpoint(state);
  const t = await startDashboard({ dataset, port: 0 });
  t.attach(trainer);
  const v = await startViewer(gpu, { state: decodeCheckpoint(bytes, "mem"), bytes, dataset, port: 0 });
  try {
    const vb = v.url.replace(/\/$/, ""), tb = t.url.replace(/\/$/, "");
    const info = await (await fetch(`${vb}/api/info`)).json();
    assert.equal(info.mode, "view");
    const body = { camera: info.cameras[1].index, timestep: 2, yaw: 20 };
    const a = new Uint8Array(await (await postJson(`${vb}/api/render`, body)).arrayBuffer());
    const b = new Uint8Array(await (await postJson(`${tb}/api/render`, body)).arrayBuffer());
    assert.deepEqual(
      decodeImage(a, "viewer").data,
      decodeImage(b, "trainer").data,
      "same avatar, same pixels",
    );
    let r = await postJson(`${vb}/api/control/pause`, {});
    assert.equal(r.status, 409);
    assert.match(await errorOf(r), /viewer/);
    r = await fetch(`${vb}/api/download/avatar`);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), bytes);
    const port = Number(new URL(v.url).port);
    await assert.rejects(startDashboard({ dataset, port }), PortInUseError);
  } finally {
    await v.close();
    await t.close();
    trainer.destroy();
  }
});
