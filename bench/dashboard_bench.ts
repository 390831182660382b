/**
 * Training slowdown from dashboard clients: one training run (synthetic head, dashboard attached) alternates
 * between segments with no client and segments with 20 simulated pages, each a connected Server-Sent-Events
 * client that reads every byte and a render loop that asks for a new render as fast as the server allows (the
 * step gate serves each page's newest request within a 3% GPU-time budget); each step's wall time is attributed to its segment's condition (the two steps after a switch are left
 * out). Alternating short segments within one run cancels the slow drift of a shared machine's load, which
 * dominates comparisons of separate runs. The clients live in a separate Deno process (as browsers would), so
 * the cost measured is the server's: serializing events once, queuing them per client, writing the streams,
 * answering the render requests (renders between steps, PNG encoding) and the live-panel renders (which only
 * run while someone watches).
 *
 * On the 2-core software adapter the client process competes with lavapipe's threads for the same cores, so
 * this is a pessimistic number for a real machine.
 */
import { loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import { startDashboard } from "../dashboard/start.ts";
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
let conns = [], loops = [], running = false, renders = 0;
const enc = new TextEncoder();
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
async function renderLoop(port, id, info) {
  const url = "http://127.0.0.1:" + port + "/api/render";
  while (running) {
    const expression = Array.from({ length: info.expressionDim }, () => Math.random());
    const r = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-npga-client": id },
      body: JSON.stringify({ camera: info.cameras[0].index, expression, yaw: 20 * Math.random() }),
    }).catch(() => null);
    if (!r) continue;
    await r.arrayBuffer().catch(() => {});
    if (r.status === 200) renders++;
    else if (r.status === 429 || r.status === 503) {
      await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get("retry-after") ?? 1)));
    }
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
      loops = Array.from({ length: Number(n) }, (_, k) => renderLoop(port, "bench-page-" + k, info));
    } else {
      running = false;
      for (const c of conns) { try { c.close(); } catch {} }
      conns = [];
      await Promise.all(loops);
      loops = [];
    }
    await Deno.stdout.write(enc.encode("ok " + renders + "\\n"));
    renders = 0;
  }
}`;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const bench: BenchModule = {
  name: "dashboard",
  async run(ctx) {
    const size = ctx.quick ? 64 : 128, gaussians = ctx.quick ? 2000 : 10_000;
    const segment = ctx.quick ? 6 : 15, cycles = ctx.quick ? 2 : 6, skip = 2;
    ctx.log(`dashboard: synthesizing a ${size}x${size} head`);
    const dir = await Deno.makeTempDir({ prefix: "npga-dashboard-bench-" });
    const out = `${dir}/head`;
    await writeSyntheticDataset(ctx.gpu, { out, cameras: 6, timesteps: 8, testTimesteps: 2, size, seed: 2 });
    const dataset = await loadDataset(out);
    const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
    const iters = 2 * segment * cycles + 3;
    const fwd: ((e: TrainerEvent) => void | Promise<void>)[] = [];
    const trainer = await Trainer.create(ctx.gpu, {
      dataset,
      rig,
      config: { gaussians, priorSteps: 0, distillSteps: 0, iters, logEvery: 1, checkpointEvery: 0, seed: 3 },
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
    const command = async (line: string) => {
      await stdin.write(new TextEncoder().encode(line + "\n"));
      const r = await replies.read();
      if (!r.value?.startsWith("ok")) throw new Error("the client process did not answer");
      rendersServed += Number(r.value.split(" ")[1]) || 0;
    };
    const times: Record<"0" | "20", number[]> = { "0": [], "20": [] };
    const perCycle: { c0: number[]; c20: number[] }[] = [];
    let last = performance.now(), clients = 0, sinceSwitch = 0, maxSeen = 0, staleSeen = 0;
    fwd.push(async (e) => {
      if (e.kind !== "progress") return;
      const now = performance.now(), dt = now - last;
      last = now;
      const k = e.step - 3; // the first 3 steps compile pipelines
      if (k < 0) return;
      maxSeen = Math.max(maxSeen, dash.session.hub.clients);
      if (clients === 0 && sinceSwitch >= skip) staleSeen = Math.max(staleSeen, dash.session.hub.clients);
      const cycle = Math.floor(k / (2 * segment));
      if (sinceSwitch >= skip && cycle < cycles) {
        times[clients ? "20" : "0"].push(dt);
        perCycle[cycle] ??= { c0: [], c20: [] };
        perCycle[cycle][clients ? "c20" : "c0"].push(dt);
      }
      sinceSwitch++;
      if ((k + 1) % segment === 0) {
        const want = ((k + 1) / segment) % 2 === 1 ? CLIENTS : 0;
        if (want !== clients) {
          await command(want ? `open ${new URL(dash.url).port} ${want}` : "close");
          clients = want;
          sinceSwitch = 0;
          last = performance.now();
        }
      }
    });
    ctx.log(`dashboard: ${iters} steps alternating ${segment}-step segments of 0 and ${CLIENTS} clients`);
    try {
      await trainer.run();
    } finally {
      await stdin.close().catch(() => {});
      child.kill();
      await child.status;
      await dash.close();
      trainer.destroy();
      await Deno.remove(dir, { recursive: true });
    }
    const ratios = perCycle.filter((c) => c.c0.length && c.c20.length).map((c) => mean(c.c20) / mean(c.c0));
    const m0 = mean(times["0"]), m20 = mean(times["20"]);
    const rows: Record<string, Cell>[] = [
      {
        clients: 0,
        steps: times["0"].length,
        "steps/s": 1000 / m0,
        "mean ms/step": m0,
        "median ms/step": median(times["0"]),
      },
      {
        clients: CLIENTS,
        steps: times["20"].length,
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
        `per-cycle slowdowns %: ${ratios.map((r) => (100 * (r - 1)).toFixed(1)).join(", ")}`,
        `most clients seen at once: ${maxSeen} (in 0-client segments: ${staleSeen}); live images published: ${
          dash.session.hub.image?.id ?? 0
        }`,
        `renders served to the ${CLIENTS} polling pages: ${rendersServed} in ${
          (mean(times["20"]) * times["20"].length / 1000).toFixed(0)
        } s of training`,
        "live panel: every 20 logged steps, at most every 2 s, only while a client is connected",
      ],
    }];
  },
};

export default bench;
