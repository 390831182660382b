/**
 * Live stream test: a real (short) training run with the dashboard attached. A client receives the snapshot,
 * progress (status + loss) and a live image (a PNG panel ground truth | prediction | error); clients that
 * never read and a client that disconnects mid-stream do not stop training, and are forgotten.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../data/image_io.ts";
import { startDashboard } from "../dashboard/start.ts";
import { tinyTrainer } from "./dashboard_fixture.ts";

/** Reads SSE messages from a response body until `done` says stop. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  done: (event: string, data: unknown) => boolean,
): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
    .getReader();
  let buf = "";
  try {
    while (true) {
      const { value, done: end } = await reader.read();
      if (end) throw new Error("the stream ended");
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join(
          "\n",
        );
        if (done(event, JSON.parse(data))) return;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

Deno.test("dashboard stream: progress and a live image arrive; silent and vanished clients cost nothing", async () => {
  const listeners: ((e: never) => void)[] = [];
  const { trainer, dataset } = await tinyTrainer([(e) => listeners.forEach((l) => l(e as never))], {
    iters: 14,
  });
  const d = await startDashboard({ dataset, port: 0, iters: 14, liveEvery: 1, liveIntervalMs: 0 });
  listeners.push(d.listener);
  d.attach(trainer);
  const base = d.url.replace(/\/$/, "");
  // Twenty clients that connect and never read.
  const silent = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/api/events`)));
  // One that reads a little and disconnects mid-stream.
  const quitter = new AbortController();
  const q = await fetch(`${base}/api/events`, { signal: quitter.signal });
  const qr = q.body!.getReader();
  await qr.read();
  quitter.abort();
  await qr.cancel().catch(() => {});

  // And one whose connection is closed outright (as when a browser tab dies): it is unsubscribed at once.
  const before = d.session.hub.clients;
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(d.url).port) });
  await tcp.write(new TextEncoder().encode("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  await tcp.read(new Uint8Array(4096));
  assert.ok(d.session.hub.clients >= before, "connected");
  const withTcp = d.session.hub.clients;
  tcp.close();
  for (let i = 0; i < 50 && d.session.hub.clients >= withTcp; i++) {
    d.session.hub.setStatus({});
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok(d.session.hub.clients < withTcp, "a closed connection is forgotten");

  const r = await fetch(`${base}/api/events`);
  assert.equal(r.headers.get("content-type"), "text/event-stream");
  const run = trainer.run();
  const seen = new Set<string>();
  let progress = 0;
  let image: { png: string; width: number; height: number; step: number; kind: string } | null = null;
  await readEvents(r.body!, (event, data) => {
    seen.add(event);
    if (event === "loss") progress++;
    if (event === "image" && (data as { kind: string }).kind === "live") image = data as typeof image;
    return progress >= 2 && image !== null;
  });
  assert.ok(seen.has("snapshot") && seen.has("status") && seen.has("loss"), [...seen].join(","));
  const img = image as unknown as { png: string; width: number; height: number };
  assert.equal(img.width, 3 * 64, "ground truth | prediction | error");
  assert.equal(img.height, 64);
  const png = decodeImage(Uint8Array.from(atob(img.png), (c) => c.charCodeAt(0)), "live.png");
  assert.equal(png.width, 192);
  const summary = await run;
  assert.equal(summary.step, 14, "training finished with 21 connected clients, 20 of them never reading");
  for (const s of silent) await s.body?.cancel();
  for (let i = 0; i < 50 && d.session.hub.clients > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(d.session.hub.clients, 0, "disconnected clients are forgotten");
  await d.close();
  trainer.destroy();
});
