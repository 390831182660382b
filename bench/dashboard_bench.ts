/**
 * Training slowdown from dashboard clients: one training run (synthetic head, dashboard attached) alternates
 * between segments with no client and segments with 20 simulated pages, each a connected Server-Sent-Events
 * client that reads every byte and a render loop that asks for a new render as fast as the server allows (the
 * step gate serves each page's newest request within a 2% GPU-time budget).
 *
 * Training streams its steps (`syncEvery` N): their outcomes arrive in a burst at each sync point, so a segment
 * is one sync interval, timed from sync point to sync point (its N steps and everything the dashboard did
 * between them). Clients connect and leave at sync points, outside the timed spans. Alternating short segments
 * within one run cancels the slow drift of a shared machine's load, which dominates comparisons of separate
 * runs. The clients live in a separate Deno process (as browsers would), so the cost measured is the server's:
 * serializing events once, queuing them per client, writing the streams, answering the render requests (renders
 * between steps, PNG encoding) and the live-panel renders (which only run while someone watches).
 *
 * On the 2-core software adapter the client process competes with lavapipe's threads for the same cores, so
 * this is a pessimistic number for a real machine. A segment far slower than the warm-up ends the bench with
 * the gate's state (a stall is reported, not waited out).
 */
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { startDashboard } from "../dashboard/start.ts";
import type { GateStats } from "../dashboard/step_gate.ts";
import { Trainer, type TrainerEvent } from "../training/trainer.ts";
import type { BenchModule, Cell } from "./report.ts";

const CLIENTS = 20;

/**
 * Reads "open PORT N" / "close" lines. "open": N Server-Sent-Events streams (raw TCP, so "close" really closes
 * them) that read every byte, and N render loops (one per simulated page, each with its own x-npga-client id)
 * that POST /api/render with a random expression as fast as the server allows: at once after each answer, or
 * after Retry-After on 429 / 503. Answers "ok RENDERS" once the streams delivered their first bytes ("open") or
 * the loops ended ("close"), RENDERS being the renders served since the last command.
 */
const CLIENT_SCRIPT = `
let conns = [], loops = [], running = false, renders = 0, abort = new AbortController(), statuses = {};
const enc = new TextEncoder();
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
const pause = (ms) => new Promise((res) => {
  const t = setTimeout(res, ms);
  abort.signal.addEventListener("abort", () => (clearTimeout(t), res()));
});
async function renderLoop(port, id, info) {
  const url = "http://127.0.0.1:" + port + "/api/render";
  while (running) {
    const expression = Array.from({ length: info.expressionDim }, () => Math.random());
    const r = await fetch(url, {
      method: "POST",
      signal: abort.signal,
      headers: { "content-type": "application/json", "x-npga-client": id },
      body: JSON.stringify({ camera: info.cameras[0].index, expression, yaw: 20 * Math.random() }),
    }).catch(() => null);
    const key = r ? r.status : "error";
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (!r) continue;
    await r.arrayBuffer().catch(() => {});
    if (r.status === 200) renders++;
    else if (r.status === 429 || r.status === 503) await pause(1000 * Number(r.headers.get("retry-after") ?? 1));
  }
}
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const [cmd, port, n] = buf.slice(0, i).split(" ");
    buf = buf.slice(i + 1);
    if (cmd === "open") {
      conns = await Promise.all(Array.from({ length: Number(n) }, async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
        await c.write(enc.encode("GET /api/events HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAccept: text/event-stream\\r\\n\\r\\n"));
        const b = new Uint8Array(65536);
        await c.read(b);
        (async () => { try { while ((await c.read(b)) !== null); } catch {} })();
        return c;
      }));
      const info = await (await fetch("http://127.0.0.1:" + port + "/api/info")).json();
      running = true;
      abort = new AbortController();
      loops = Array.from({ length: Number(n) }, (_, k) => renderLoop(port, "bench-page-" + k, info));
    } else {
      // Leave at once, as closed tabs do: in-flight requests are aborted, not waited for.
      running = false;
      abort.abort();
      for (const c of conns) { try { c.close(); } catch {} }
      conns = [];
      await Promise.all(loops);
      loops = [];
    }
    await Deno.stdout.write(enc.encode("ok " + renders + " " + JSON.stringify(statuses) + "\\n"));
    renders = 0;
    statuses = {};
  }
}`;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const bench: BenchModule = {
  name: "dashboard",
  async run(ctx) {
    const size = ctx.quick ? 64 : 128, gaussians = ctx.quick ? 2000 : 10_000;
    // segment = one sync interval; the first `warm` segments are not timed: one without clients (pipeline
    // compilation of training), one with them (the render pipelines, the clients' first connections).
    const segment = ctx.quick ? 10 : 20, cycles = ctx.quick ? 2 : 8, warm = 2;
    ctx.log(`dashboard: synthesizing a ${size}x${size} head`);
    const dir = await Deno.makeTempDir({ prefix: "npga-dashboard-bench-" });
    const out = `${dir}/head`;
    await writeSyntheticDataset(ctx.gpu, { out, cameras: 6, timesteps: 8, testTimesteps: 2, size, seed: 2 });
    const dataset = await loadDataset(out);
    const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
    const iters = segment * (warm + 2 * cycles);
    const fwd: ((e: TrainerEvent) => void | Promise<void>)[] = [];
    const trainer = await Trainer.create(ctx.gpu, {
      dataset,
      rig,
      config: {
        gaussians,
        priorSteps: 0,
        distillSteps: 0,
        iters,
        logEvery: 1,
        checkpointEvery: 0,
        checkpointMinutes: 0,
        syncEvery: segment,
        seed: 3,
        // Density control changes the Gaussian count, and with it the cost of a step, on a schedule that
        // aliases with the alternation of segments: off, so every segment trains the same model size.
        densify: false,
      },
      listeners: [async (e) => {
        for (const l of fwd) await l(e);
      }],
    });
    const dash = await startDashboard({ dataset, port: 0, iters });
    fwd.push(dash.listener);
    dash.attach(trainer);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", CLIENT_SCRIPT],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const stdin = child.stdin.getWriter(),
      replies = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let rendersServed = 0;
    const answers: string[] = [];
    const command = async (line: string) => {
      await stdin.write(new TextEncoder().encode(line + "\n"));
      const r = await replies.read();
      if (!r.value?.startsWith("ok")) throw new Error("the client process did not answer");
      const [, served, statuses] = r.value.trim().split(" ");
      rendersServed += Number(served) || 0;
      if (statuses) answers.push(statuses);
    };
    // ms per step of each timed segment, by condition, and per cycle (a 0-client segment, then a 20-client one).
    const times: Record<"0" | "20", number[]> = { "0": [], "20": [] };
    let last = performance.now(), clients = 0, maxSeen = 0, staleSeen = 0, firstMs = 0, stall = "";
    // The gate's counters at the last sync point, and what its jobs cost in each timed 20-client segment (% of
    // the segment's time) and how many ran.
    let gate0: GateStats = dash.session.attached!.gate.stats;
    const share: number[] = [], jobsPer: number[] = [], share0: number[] = [];
    fwd.push(async (e) => {
      if (e.kind !== "progress" || e.step % segment !== 0) return;
      const seg = e.step / segment - 1, ms = (performance.now() - last) / segment;
      maxSeen = Math.max(maxSeen, dash.session.hub.clients);
      if (clients === 0) staleSeen = Math.max(staleSeen, dash.session.hub.clients);
      const stats = dash.session.attached!.gate.stats;
      if (seg === 0) firstMs = ms;
      else if (seg >= warm) {
        times[clients ? "20" : "0"].push(ms);
        const pct = (100 * (stats.spentMs - gate0.spentMs)) / (ms * segment);
        if (clients) {
          share.push(pct);
          jobsPer.push(stats.jobs - gate0.jobs);
        } else share0.push(pct);
      }
      gate0 = stats;
      if (seg >= warm && ms > 10 * firstMs) {
        const g = dash.session.attached?.gate;
        stall = `segment ${seg} took ${ms.toFixed(0)} ms/step (warm-up ${firstMs.toFixed(0)}); gate: ` +
          `${g?.pending} waiting, step in flight ${g?.busy}`;
        trainer.stop();
      }
      // The next segment's condition: 0 clients, then 20, alternating (the warm-up's second segment has them).
      const want = e.step < iters && (seg + 1) % 2 === 1 ? CLIENTS : 0;
      if (want !== clients) {
        await command(want ? `open ${new URL(dash.url).port} ${want}` : "close");
        clients = want;
      }
      last = performance.now();
    });
    ctx.log(`dashboard: ${iters} steps in ${segment}-step segments alternating 0 and ${CLIENTS} clients`);
    // A stall (a render that never finishes holds the step gate, and with it training) ends the bench with
    // the gate's state instead of hanging it: no sync point for 20 warm-up segments' time (at least 2 min).
    let watchdog: ReturnType<typeof setInterval> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        const idle = performance.now() - last, limit = Math.max(120_000, 20 * segment * firstMs);
        if (idle < limit) return;
        const g = dash.session.attached?.gate;
        reject(
          new Error(
            `dashboard bench stalled: no sync point for ${(idle / 1000).toFixed(0)} s with ${clients} ` +
              `clients; gate: ${g?.pending} waiting, step in flight ${g?.busy}`,
          ),
        );
      }, 5000);
    });
    try {
      await Promise.race([trainer.run(), stalled]);
    } finally {
      clearInterval(watchdog);
      await stdin.close().catch(() => {});
      child.kill();
      await child.status;
      await dash.close();
      trainer.destroy();
      await Deno.remove(dir, { recursive: true });
    }
    if (stall) throw new Error(`dashboard bench stalled: ${stall}`);
    const n = Math.min(times["0"].length, times["20"].length);
    const ratios = Array.from({ length: n }, (_, k) => times["20"][k] / times["0"][k]);
    const m0 = mean(times["0"]), m20 = mean(times["20"]);
    const rows: Record<string, Cell>[] = [
      {
        clients: 0,
        steps: times["0"].length * segment,
        "steps/s": 1000 / m0,
        "mean ms/step": m0,
        "median ms/step": median(times["0"]),
      },
      {
        clients: CLIENTS,
        steps: times["20"].length * segment,
        "steps/s": 1000 / m20,
        "mean ms/step": m20,
        "median ms/step": median(times["20"]),
        "slowdown % (means)": 100 * (m20 / m0 - 1),
        "slowdown % (median of per-cycle ratios)": 100 * (median(ratios) - 1),
      },
    ];
    return [{
      title:
        `Training steps with 0 vs ${CLIENTS} dashboard clients (${size}x${size}, ${gaussians} Gaussians)`,
      rows,
      notes: [
        `segments of ${segment} steps (one sync interval each), ${cycles} cycles of 0 then ${CLIENTS} clients; ` +
        "density control off (a constant Gaussian count)",
        `per-cycle slowdowns %: ${ratios.map((r) => (100 * (r - 1)).toFixed(1)).join(", ")}`,
        `most clients seen at once: ${maxSeen} (at the end of 0-client segments: ${staleSeen}); live images ` +
        `published: ${dash.session.hub.image?.id ?? 0}`,
        `renders served to the ${CLIENTS} polling pages: ${rendersServed} in ${
          (m20 * times["20"].length * segment / 1000).toFixed(0)
        } s of training with clients`,
        "live panel: every 20 logged steps, at most every 2 s, only while a client is connected",
        `dashboard jobs per 20-client segment: ${jobsPer.join(", ")}; their time (renders, read-backs, ` +
        `encoding) as % of the segment: ${share.map((x) => x.toFixed(1)).join(", ")}`,
        `dashboard jobs' time in the 0-client segments (renders the pages asked for before they left, run as ` +
        `credit allows): ${
          share0.map((x) => x.toFixed(1)).join(", ")
        } %; so against no dashboard at all the ` +
        `slowdown is at most about ${
          (100 * (m20 / m0 - 1) + mean(share0)).toFixed(1)
        }% (means plus their mean)`,
        `render answers by status, per segment with clients: ${answers.join(" ")}`,
        `gate totals at the last sync point: ${JSON.stringify(gate0)}`,
      ],
    }];
  },
};

export default bench;
