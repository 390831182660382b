/**
 * Training slowdown from the dashboard: seconds per training step of the same short run (synthetic head,
 * fresh trainer with the same seed each time, so identical work) without a dashboard, with the dashboard and
 * no client, and with 20 connected Server-Sent-Events clients that read everything. The clients run in a
 * separate Deno process (as browsers would), so the cost measured is the server's: serializing events once,
 * queuing them per client, writing the streams, and the live-panel renders (which only run while someone
 * watches). Conditions are interleaved and repeated; the table gives the median.
 *
 * On the 2-core software adapter the client process competes with lavapipe's threads for the same cores, so
 * this is a pessimistic number for a real machine.
 */
import { type Dataset, loadDataset } from "../data/dataset.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import type { Rig } from "../data/rig.ts";
import { writeSyntheticDataset } from "../data/synth.ts";
import type { Gpu } from "../gpu/device.ts";
import { startDashboard } from "../dashboard/start.ts";
import { Trainer, type TrainerEvent } from "../training/trainer.ts";
import type { BenchContext, BenchModule } from "./report.ts";

const CLIENTS = 20;

const CLIENT_SCRIPT = `
const url = Deno.args[0], n = Number(Deno.args[1]);
let bytes = 0;
await Promise.all(Array.from({ length: n }, async () => {
  const r = await fetch(url);
  for await (const chunk of r.body) bytes += chunk.length;
}));`;

async function smallHead(gpu: Gpu, size: number): Promise<{ dataset: Dataset; rig: Rig; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "npga-dashboard-bench-" });
  const out = `${dir}/head`;
  await writeSyntheticDataset(gpu, { out, cameras: 6, timesteps: 8, testTimesteps: 2, size, seed: 2 });
  const dataset = await loadDataset(out);
  const rig = await readRigGlb(await Deno.readFile(`${out}/rig.glb`), `${out}/rig.glb`);
  return { dataset, rig, dir };
}

type Condition = "no dashboard" | "dashboard, 0 clients" | `dashboard, ${number} clients`;

async function timedRun(
  ctx: BenchContext,
  head: { dataset: Dataset; rig: Rig },
  cond: Condition,
  steps: number,
  gaussians: number,
): Promise<{ secondsPerStep: number; images: number; clients: number }> {
  const fwd: ((e: TrainerEvent) => void)[] = [];
  const trainer = await Trainer.create(ctx.gpu, {
    ...head,
    config: {
      gaussians,
      priorSteps: 0,
      distillSteps: 0,
      iters: steps,
      logEvery: 1,
      checkpointEvery: 0,
      seed: 3,
    },
    listeners: [(e) => fwd.forEach((l) => l(e))],
  });
  // Warm up the pipelines outside the timing (one step, then back to a fresh trainer state).
  const dash = cond === "no dashboard" ? null : await startDashboard({ dataset: head.dataset, port: 0 });
  let child: Deno.ChildProcess | null = null;
  let images = 0, clients = 0;
  try {
    if (dash) {
      fwd.push(dash.listener);
      dash.attach(trainer);
      const n = Number(/(\d+) clients/.exec(cond)?.[1] ?? 0);
      if (n > 0) {
        child = new Deno.Command(Deno.execPath(), {
          args: ["eval", CLIENT_SCRIPT, `${dash.url}api/events`, String(n)],
          stdout: "null",
          stderr: "inherit",
        }).spawn();
        for (let i = 0; i < 200 && dash.session.hub.clients < n; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        if (dash.session.hub.clients < n) {
          throw new Error(`only ${dash.session.hub.clients} of ${n} clients connected`);
        }
      }
      fwd.push((e) => {
        if (e.kind === "progress") clients = Math.max(clients, dash.session.hub.clients);
      });
    }
    const t0 = performance.now();
    await trainer.run();
    const seconds = (performance.now() - t0) / 1000;
    images = dash?.session.hub.image?.id ?? 0;
    return { secondsPerStep: seconds / steps, images, clients };
  } finally {
    child?.kill();
    await child?.status;
    await dash?.close();
    trainer.destroy();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const bench: BenchModule = {
  name: "dashboard",
  async run(ctx) {
    const size = ctx.quick ? 64 : 128, steps = ctx.quick ? 20 : 60, gaussians = ctx.quick ? 2000 : 10_000;
    const reps = ctx.quick ? 1 : 3;
    ctx.log(`dashboard: synthesizing a ${size}x${size} head`);
    const head = await smallHead(ctx.gpu, size);
    const conds: Condition[] = ["no dashboard", "dashboard, 0 clients", `dashboard, ${CLIENTS} clients`];
    const results = new Map<Condition, { t: number[]; images: number[]; clients: number }>();
    await timedRun(ctx, head, "no dashboard", 3, gaussians); // pipelines compiled before timing
    for (let r = 0; r < reps; r++) {
      for (const c of conds) {
        ctx.log(`dashboard: ${c}, repetition ${r + 1}/${reps}`);
        const res = await timedRun(ctx, head, c, steps, gaussians);
        const e = results.get(c) ?? { t: [], images: [], clients: 0 };
        e.t.push(res.secondsPerStep);
        e.images.push(res.images);
        e.clients = Math.max(e.clients, res.clients);
        results.set(c, e);
      }
    }
    await Deno.remove(head.dir, { recursive: true });
    const base = median(results.get("no dashboard")!.t);
    return [{
      title:
        `Training with the dashboard (${size}x${size}, ${gaussians} Gaussians, ${steps} steps, median of ${reps})`,
      rows: conds.map((c) => {
        const e = results.get(c)!, t = median(e.t);
        return {
          condition: c,
          "ms/step": 1000 * t,
          "slowdown %": 100 * (t / base - 1),
          "live images": median(e.images),
          "clients seen": e.clients,
          "runs ms/step": e.t.map((x) => (1000 * x).toFixed(0)).join(" "),
        };
      }),
      notes: [
        "live panel: every 20 logged steps, at most every 2 s, only while a client is connected",
        "clients: a separate deno process reading every SSE byte",
      ],
    }];
  },
};

export default bench;
