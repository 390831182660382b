/**
 * Dashboard request checks against the real server of a small (not running) trainer, with requests written
 * byte for byte over TCP (so Host, Origin and Sec-Fetch-Site are exactly what an attacking browser would send):
 * DNS-rebinding Host names, cross-origin and cross-site control posts, text/plain "simple" posts, and the
 * constant-time token comparison. Every refused control leaves the trainer untouched.
 */
import assert from "node:assert/strict";
import { startDashboard } from "../dashboard/start.ts";
import { constantTimeEqual, cookieValue } from "../dashboard/security.ts";
import { dashboardApp } from "../dashboard/server.ts";
import { frontEnd } from "../dashboard/bundle.ts";
import { DashboardSession, sceneFromDataset } from "../dashboard/session.ts";
import { tinyHead, tinyTrainer } from "./dashboard_fixture.ts";

/** One HTTP/1.1 request over a fresh TCP connection; returns status, headers and body text. */
async function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; head: string; body: string }> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body) lines.push(`content-length: ${new TextEncoder().encode(body).length}`);
  lines.push("connection: close", "", body);
  await c.write(new TextEncoder().encode(lines.join("\r\n")));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  c.close();
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((x) => [...x])));
  const [head, ...rest] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), head, body: rest.join("\r\n\r\n") };
}

Deno.test("dashboard security: rebinding Hosts, cross-origin and text/plain posts are refused", async () => {
  const { trainer, dataset } = await tinyTrainer([]);
  const d = await startDashboard({ dataset, port: 0, config: { test: true }, iters: 10 });
  d.attach(trainer);
  const port = Number(new URL(d.url).port), own = `127.0.0.1:${port}`;
  const json = { "content-type": "application/json" };
  try {
    // DNS rebinding: the attacker's name resolves to 127.0.0.1, so the browser sends its Host.
    for (const path of ["/", "/api/state", "/api/info", "/api/download/avatar", "/api/download/metrics"]) {
      const r = await raw(port, "GET", path, { host: `evil.example:${port}` });
      assert.equal(r.status, 421, path);
      assert.match(r.body, /unexpected Host 'evil\.example:\d+'/);
      assert.doesNotMatch(r.body, /losses|safetensors|npga_checkpoint/);
    }
    const stop = await raw(
      port,
      "POST",
      "/api/control/stop",
      { host: `evil.example:${port}`, ...json },
      "{}",
    );
    assert.equal(stop.status, 421);
    for (const host of [own, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await raw(port, "GET", "/api/state", { host })).status, 200, host);
    }

    // Cross-origin and cross-site requests (another port on 127.0.0.1 is "same-site" but not same-origin).
    const attacks: [string, Record<string, string>][] = [
      ["Origin of another site", { origin: "http://evil.example", ...json }],
      ["Origin of another port", { origin: "http://127.0.0.1:1", ...json }],
      ["Origin null (sandboxed frame)", { origin: "null", ...json }],
      ["Sec-Fetch-Site cross-site", { "sec-fetch-site": "cross-site", ...json }],
      ["Sec-Fetch-Site same-site", { "sec-fetch-site": "same-site", ...json }],
    ];
    for (const action of ["stop", "pause", "snapshot"]) {
      for (const [what, h] of attacks) {
        const r = await raw(port, "POST", `/api/control/${action}`, { host: own, ...h }, "{}");
        assert.equal(r.status, 403, `${action}: ${what}`);
        assert.match(r.body, /cross-(origin|site) request refused/);
      }
    }
    for (const [what, h] of attacks) {
      const r = await raw(port, "GET", "/api/download/avatar", { host: own, ...h });
      assert.equal(r.status, 403, `download: ${what}`);
      const s = await raw(port, "GET", "/api/events", { host: own, ...h });
      assert.equal(s.status, 403, `events: ${what}`);
    }
    // A "simple" cross-site post needs no preflight: text/plain, form-encoded, or no type at all.
    for (
      const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
    ) {
      const r = await raw(port, "POST", "/api/control/stop", { host: own, "content-type": type }, "{}");
      assert.equal(r.status, 415, type);
      const v = await raw(port, "POST", "/api/render", { host: own, "content-type": type }, '{"camera":0}');
      assert.equal(v.status, 415, `render ${type}`);
    }
    assert.equal((await raw(port, "POST", "/api/control/stop", { host: own }, "{}")).status, 415);
    assert.equal(trainer.paused, false, "no refused request paused the trainer");
    assert.ok(
      !d.session.hub.logs.some((l) => /stop requested|paused|snapshot saved/.test(l.message)),
      "no refused request reached a control",
    );

    // The page's own requests pass: same Origin, Sec-Fetch-Site same-origin, JSON.
    const ok = await raw(port, "POST", "/api/control/pause", {
      host: own,
      origin: `http://${own}`,
      "sec-fetch-site": "same-origin",
      ...json,
    }, "{}");
    assert.equal(ok.status, 200);
    assert.equal(trainer.paused, true);
    const typed = await raw(port, "GET", "/api/download/metrics", { host: own, "sec-fetch-site": "none" });
    assert.equal(typed.status, 200, "a typed URL (Sec-Fetch-Site: none) downloads");
  } finally {
    await d.close();
    trainer.destroy();
  }
});

Deno.test("dashboard security: a non-loopback server accepts any Host but needs the token", async () => {
  const { dataset } = await tinyHead();
  const session = new DashboardSession({ mode: "train", scene: sceneFromDataset(dataset) });
  // The app as served on a non-loopback address (no socket is opened: requests go to app.fetch).
  const app = dashboardApp(session, await frontEnd(), "tok3n", { loopback: false });
  try {
    const get = (path: string, headers: Record<string, string> = {}) =>
      app.fetch(new Request(`http://my-workstation.lan:8000${path}`, { headers }));
    const host = { host: "my-workstation.lan:8000" };
    let r = await get("/", host);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    r = await get("/api/state", host);
    assert.equal(r.status, 401);
    await r.body?.cancel();
    r = await get("/api/state", { ...host, cookie: "npga_token=tok3n" });
    assert.equal(r.status, 200);
    await r.body?.cancel();
  } finally {
    session.close();
  }
});

Deno.test("dashboard security: token comparison and cookie parsing", () => {
  assert.ok(constantTimeEqual("abc123", "abc123"));
  assert.ok(!constantTimeEqual("abc123", "abc124"));
  assert.ok(!constantTimeEqual("abc123", "abc12"));
  assert.ok(!constantTimeEqual("abc12", "abc123"));
  assert.ok(!constantTimeEqual("", "x"));
  assert.ok(constantTimeEqual("", ""));
  assert.equal(cookieValue("a=1; npga_token=t%20k; b=2", "npga_token"), "t k");
  assert.equal(cookieValue("xnpga_token=1", "npga_token"), undefined);
  assert.equal(cookieValue(undefined, "npga_token"), undefined);
});
