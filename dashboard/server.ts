/**
 * The dashboard's HTTP API (Hono). Routes:
 *
 *   GET  /                      the page (with ?token=: sets the token cookie, redirects to /)
 *   GET  /app.js, /app.css      the bundled front end (bundle.ts)
 *   GET  /api/info              scene: blendshape names, cameras, timesteps, expression codes, config
 *   GET  /api/state             snapshot: status, loss history, evaluations, log, latest image
 *   GET  /api/events            Server-Sent Events: snapshot, status, loss, eval, log, image   (capped: 503)
 *   POST /api/control/ACTION    pause | resume | stop | snapshot                   (snapshot: rate-limited)
 *   POST /api/live              {camera, timestep}: what the live panel shows
 *   POST /api/render            {camera, timestep | expression, yaw?, pitch?, zoom?} -> PNG  (newest per page)
 *   GET  /api/download/avatar   the current avatar file (checkpoint, safetensors)          (rate-limited)
 *   GET  /api/download/npga     the current avatar compressed for use (.npga, data/npga_format.ts) (rate-limited)
 *   GET  /api/download/metrics  losses, evaluations, log as JSON
 *
 * Every route checks the Host header; `/api/` routes refuse cross-origin requests and non-JSON POSTs; with a
 * token (always when bound to a non-loopback address) every route but the page and its assets needs it
 * (security.ts). Request bodies are limited to 16 KiB; unknown cameras and timesteps are 404 with a message;
 * malformed requests are 400; too many streams or waiting renders 503; rate-limited actions 429 with
 * Retry-After. A page identifies itself with the `x-npga-client` header (its renders replace each other).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DashboardSession, RenderRequest } from "./session.ts";
import { npgaOfCheckpoint } from "../data/npga_format.ts";
import { Cooldown } from "./rate_limit.ts";
import {
  constantTimeEqual,
  hostCheck,
  sameOriginCheck,
  SecurityError,
  type SecurityOptions,
  tokenCheck,
  tokenCookie,
} from "./security.ts";
import { GateClosedError, GateFullError, JobAbortedError, SupersededError } from "./step_gate.ts";

/** Largest request body accepted. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Largest |value| of an expression coefficient in a render request. */
export const MAX_EXPRESSION_VALUE = 10;

/** Load limits of a server. */
export interface DashboardLimits {
  /** Open event streams (default 32). */
  maxClients: number;
  /** Snapshots: at most one per this many ms (default 10,000). */
  snapshotIntervalMs: number;
  /** Avatar / .npga downloads: at most one per this many ms each (default 2,000). */
  downloadIntervalMs: number;
}

export const DEFAULT_LIMITS: DashboardLimits = {
  maxClients: 32,
  snapshotIntervalMs: 10_000,
  downloadIntervalMs: 2_000,
};

/** The front end, as served. */
export interface FrontEnd {
  js: string;
  css: string;
}

/** A request error with its status. */
class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 429 | 503,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function cooldown(c: Cooldown, what: string): void {
  const wait = c.take();
  if (wait > 0) {
    throw new HttpError(
      429,
      `${what} at most once every ${c.intervalMs / 1000} s: try again in ${Math.ceil(wait / 1000)} s`,
      wait,
    );
  }
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NPGA training dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/app.css"></head>
<body><div id="app">Loading…</div><script type="module" src="/app.js"></script></body></html>`;

function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new HttpError(400, `${what} must be an integer`);
  return v;
}

function num(v: unknown, what: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) {
    throw new HttpError(400, `${what} must be a number in ${lo}..${hi}`);
  }
  return v;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new HttpError(400, "the request body must be JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "the request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function checkCameraTimestep(s: DashboardSession, camera: number, timestep: number | undefined): void {
  if (!s.camera(camera)) {
    throw new HttpError(
      404,
      `unknown camera ${camera} (cameras: ${s.scene.cameras.map((c) => c.index).join(", ")})`,
    );
  }
  if (timestep !== undefined && !(timestep >= 0 && timestep < s.scene.timesteps)) {
    throw new HttpError(404, `unknown timestep ${timestep} (0..${s.scene.timesteps - 1})`);
  }
}

/** Validates a render request body. */
export function parseRenderRequest(s: DashboardSession, b: Record<string, unknown>): RenderRequest {
  const camera = int(b.camera, "camera");
  const timestep = b.timestep === undefined ? undefined : int(b.timestep, "timestep");
  checkCameraTimestep(s, camera, timestep);
  let expression: Float32Array;
  if (b.expression !== undefined) {
    const e = b.expression, D = s.scene.expressionDim;
    if (!Array.isArray(e) || e.length !== D) {
      throw new HttpError(400, `expression must be an array of ${D} numbers`);
    }
    e.forEach((v, i) => num(v, `expression[${i}]`, -MAX_EXPRESSION_VALUE, MAX_EXPRESSION_VALUE));
    expression = Float32Array.from(e as number[]);
  } else if (timestep !== undefined) {
    expression = s.expression(timestep);
  } else {
    throw new HttpError(400, "give an expression (array) or a timestep");
  }
  return {
    camera,
    expression,
    yaw: num(b.yaw, "yaw", -360, 360),
    pitch: num(b.pitch, "pitch", -90, 90),
    zoom: num(b.zoom, "zoom", 0.25, 4),
  };
}

/**
 * Builds the Hono app of a session; `token` (if any) guards every route but the page and its assets.
 * `loopback` says the server is bound to a loopback address (then only loopback Host names are accepted).
 */
export function dashboardApp(
  session: DashboardSession,
  front: FrontEnd,
  token: string | null = null,
  o: { loopback?: boolean; limits?: Partial<DashboardLimits> } = {},
): Hono {
  const app = new Hono();
  const s = session;
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const sec: SecurityOptions = { token, loopback: o.loopback ?? true };
  const snapshots = new Cooldown(limits.snapshotIntervalMs);
  const downloads = {
    avatar: new Cooldown(limits.downloadIntervalMs),
    npga: new Cooldown(limits.downloadIntervalMs),
  };

  app.onError((err, c) => {
    if (err instanceof HttpError || err instanceof SecurityError) {
      if (err instanceof HttpError && err.retryAfterMs) {
        c.header("retry-after", String(Math.ceil(err.retryAfterMs / 1000)));
      }
      return c.json({ error: err.message }, err.status);
    }
    if (err instanceof SupersededError) return c.json({ error: err.message, superseded: true }, 409);
    // Shutting down, or the page left before its render ran: nobody to tell, nothing to log.
    if (err instanceof GateClosedError || err instanceof JobAbortedError) {
      return c.json({ error: err.message }, 503);
    }
    if (err instanceof GateFullError) {
      c.header("retry-after", "1");
      return c.json({ error: err.message }, 503);
    }
    console.error(`dashboard: ${err.stack ?? err}`);
    return c.json({ error: err.message }, 500);
  });
  app.notFound((c) =>
    c.json({ error: `no such route: ${c.req.method} ${new URL(c.req.url).pathname}` }, 404)
  );

  app.use("*", hostCheck(sec));
  app.use("/api/*", sameOriginCheck());
  app.use("/api/*", tokenCheck(sec));
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: `the request body is larger than ${MAX_BODY_BYTES} bytes` }, 413),
  });
  const attached = () => {
    const a = s.attached;
    if (!a) throw new HttpError(503, "the avatar is not initialized yet (the prior is still being fitted)");
    return a;
  };

  app.get("/", (c) => {
    const given = c.req.query("token");
    if (token && given !== undefined && constantTimeEqual(given, token)) {
      c.header("set-cookie", tokenCookie(token));
      c.header("cache-control", "no-store");
      return c.redirect("/", 303);
    }
    return c.html(PAGE);
  });
  app.get("/app.js", (c) => c.body(front.js, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/app.css", (c) => c.body(front.css, 200, { "content-type": "text/css; charset=utf-8" }));

  app.get("/api/info", (c) =>
    c.json({
      mode: s.hub.status.mode,
      tokenRequired: !!token,
      blendshapeNames: s.scene.blendshapeNames,
      expressionDim: s.scene.expressionDim,
      timesteps: s.scene.timesteps,
      expressions: Array.from(s.scene.expressions),
      splitTimesteps: s.scene.splitTimesteps,
      cameras: s.scene.cameras.map((cam) => ({ index: cam.index, width: cam.width, height: cam.height })),
      live: s.live,
      config: s.config,
    }));
  app.get("/api/state", (c) => c.json(s.hub.snapshot()));

  // Server-Sent Events with a pull-driven body: a message leaves the client's bounded queue only when the
  // connection has taken the previous one, so a slow client's backlog stays in its queue (where images are
  // coalesced and overflow is dropped) instead of piling up in stream buffers; when the client goes away Deno
  // cancels the body, which unsubscribes it at once.
  app.get("/api/events", (c) => {
    if (s.hub.clients >= limits.maxClients) {
      throw new HttpError(
        503,
        `too many dashboard pages are open (${limits.maxClients}): close one and reload this page`,
      );
    }
    const q = s.hub.subscribe();
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const m = await q.next();
        if (!m) return ctl.close();
        const data = m.data.split("\n").map((l) => `data: ${l}`).join("\n");
        ctl.enqueue(enc.encode(`event: ${m.event}\n${data}\n\n`));
      },
      cancel() {
        s.hub.unsubscribe(q);
      },
    }, { highWaterMark: 0 });
    return c.body(body, 200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
  });

  app.post("/api/control/:action", limit, async (c) => {
    const action = c.req.param("action");
    const a = attached();
    const ctl = a.controls;
    if (!ctl && action !== "snapshot") throw new HttpError(409, "nothing is training: this is a viewer");
    switch (action) {
      case "pause":
        ctl!.pause();
        s.hub.setStatus({ paused: true });
        s.hub.log("info", "paused from the dashboard");
        break;
      case "resume":
        ctl!.resume();
        s.hub.setStatus({ paused: false });
        s.hub.log("info", "resumed from the dashboard");
        break;
      case "stop":
        ctl!.stop();
        s.hub.log("info", "stop requested from the dashboard: the run saves a checkpoint and ends");
        break;
      case "snapshot": {
        if (!a.snapshot) throw new HttpError(409, "snapshots need a training run");
        cooldown(snapshots, "snapshots are allowed");
        let where: string;
        try {
          where = await a.snapshot();
        } finally {
          snapshots.restart();
        }
        s.hub.log("info", `snapshot saved: ${where}`);
        return c.json({ ok: true, saved: where });
      }
      default:
        throw new HttpError(404, `unknown action '${action}' (pause, resume, stop, snapshot)`);
    }
    return c.json({ ok: true, status: s.hub.status });
  });

  app.post("/api/live", limit, async (c) => {
    const b = await jsonBody(c);
    const camera = int(b.camera, "camera"), timestep = int(b.timestep, "timestep");
    checkCameraTimestep(s, camera, timestep);
    if (!s.frame(camera, timestep)) {
      throw new HttpError(404, `the dataset has no image of camera ${camera} at timestep ${timestep}`);
    }
    s.live = { camera, timestep };
    s.refreshLive(true);
    return c.json({ ok: true, live: s.live });
  });

  app.post("/api/render", limit, async (c) => {
    const req = parseRenderRequest(s, await jsonBody(c));
    attached();
    const r = await s.render(req, c.req.header("x-npga-client") ?? undefined, c.req.raw.signal);
    return c.body(r.png as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "image/png",
      "cache-control": "no-store",
      "x-step": String(r.step),
    });
  });

  app.get("/api/download/avatar", async (c) => {
    cooldown(downloads.avatar, "avatar downloads are allowed");
    const f = await attached().avatarFile();
    return c.body(f.bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="avatar-step-${f.step}.safetensors"`,
    });
  });
  app.get("/api/download/npga", async (c) => {
    cooldown(downloads.npga, ".npga downloads are allowed");
    const f = await attached().avatarFile();
    const bytes = npgaOfCheckpoint(f.bytes, s.config);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="avatar-step-${f.step}.npga"`,
    });
  });
  app.get("/api/download/metrics", (c) => {
    c.header("content-disposition", `attachment; filename="metrics.json"`);
    return c.json(s.metrics());
  });

  return app;
}
