/**
 * Bounded dashboard load: the stream cap (a clear 503), the step gate's newest-render-per-page queue, its
 * queue cap and its GPU-time budget (dashboard jobs never take more than their share of training time), and the
 * rate limits of snapshots and downloads (429 with Retry-After).
 */
import assert from "node:assert/strict";
import { startDashboard } from "../dashboard/start.ts";
import { GateFullError, JobAbortedError, StepGate, SupersededError } from "../dashboard/step_gate.ts";
import { tinyTrainer } from "./dashboard_fixture.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A trainer stand-in whose steps take `ms` of wall time. */
function fakeTrainer(ms: number) {
  return {
    steps: 0,
    /** Wall time spent inside steps. */
    ms: 0,
    async trainStep() {
      const t0 = performance.now();
      await sleep(ms);
      this.steps++;
      this.ms += performance.now() - t0;
    },
    evaluate: () => Promise.resolve(),
    state: () => Promise.resolve(),
  };
}

Deno.test("step gate: a page's newer render replaces its queued one; a full queue refuses", async () => {
  const t = fakeTrainer(30);
  const gate = new StepGate(t, { maxQueue: 2 });
  const step = t.trainStep();
  const ran: string[] = [];
  const job = (name: string) => () => (ran.push(name), Promise.resolve(name));
  const a1 = gate.run(job("a1"), "page-a");
  const b1 = gate.run(job("b1"), "page-b");
  const a2 = gate.run(job("a2"), "page-a");
  await assert.rejects(a1, SupersededError);
  await assert.rejects(gate.run(job("c1"), "page-c"), GateFullError);
  assert.equal(gate.pending, 2);
  await step;
  assert.equal(await b1, "b1");
  assert.equal(await a2, "a2");
  // a2 took a1's place in the queue.
  assert.deepEqual(ran, ["a2", "b1"], "the superseded and the refused job never ran");
  gate.close();
});

Deno.test("step gate: dashboard jobs stay within their share of training time, and run once it idles", async () => {
  const t = fakeTrainer(40);
  const budget = 0.05, burstMs = 20, jobMs = 25;
  const gate = new StepGate(t, { budget, burstMs, idleMs: 150, maxQueue: 64 });
  let jobTime = 0, longest = 0, done = 0;
  const pending: Promise<unknown>[] = [];
  const first = t.trainStep(); // training is under way when the pages ask
  for (let i = 0; i < 40; i++) {
    pending.push(gate.run(async () => {
      const t0 = performance.now();
      await sleep(jobMs);
      const dt = performance.now() - t0;
      jobTime += dt;
      longest = Math.max(longest, dt);
      done++;
    }));
  }
  await first;
  for (let i = 1; i < 30; i++) await t.trainStep();
  const atEnd = done, during = jobTime;
  // Jobs took at most the budget of the steps' time, plus the saved-up burst, plus the one job that overdrew.
  const allowed = budget * t.ms + burstMs + longest + 5;
  assert.ok(
    during <= allowed,
    `jobs took ${during.toFixed(0)} ms beside ${t.ms.toFixed(0)} ms of steps (allowed ${allowed.toFixed(0)})`,
  );
  assert.ok(atEnd >= 2 && atEnd < 10, `${atEnd} of 40 jobs ran while training`);
  // Training stops (paused or finished): the rest run after idleMs without credit.
  await Promise.all(pending);
  assert.equal(done, 40);
  gate.close();
});

Deno.test("step gate: jobs run while training idles cost no credit, so pages are not starved after", async () => {
  const t = fakeTrainer(40);
  const budget = 0.05, burstMs = 20, jobMs = 25;
  const gate = new StepGate(t, { budget, burstMs, idleMs: 100, maxQueue: 64 });
  await t.trainStep();
  // Training stalls (its loop busy elsewhere): ten jobs, 250 ms of work, run once it has idled.
  await Promise.all(Array.from({ length: 10 }, () => gate.run(() => sleep(jobMs))));
  // Training resumes: a page's next render waits at most for one overdrawn job's debt (25 ms at 2 ms of credit
  // a step: 13 steps), not for the idle spell's 250 ms (125 steps).
  let ran = false, steps = 0;
  const first = t.trainStep();
  const next = gate.run(() => sleep(jobMs)).then(() => (ran = true));
  await first;
  while (!ran && steps < 20) {
    await t.trainStep();
    steps++;
  }
  assert.ok(ran, `the job waited ${steps} steps after the idle spell`);
  assert.ok(steps <= 16, `the job waited ${steps} steps after the idle spell`);
  await next;
  gate.close();
});

Deno.test("step gate: with streamed steps, jobs run only at sync points (no GPU work queued)", async () => {
  // Steps record without waiting; every fourth reads back, so between those the GPU still has work queued.
  const t = {
    ...fakeTrainer(10),
    unsyncedSteps: 0,
    async trainStep() {
      await sleep(10);
      this.unsyncedSteps = (this.unsyncedSteps + 1) % 4;
    },
  };
  const gate = new StepGate(t, { budget: 1, burstMs: 1000, idleMs: 10_000 });
  const ranAt: number[] = [];
  for (let step = 1; step <= 12; step++) {
    const job = gate.run(() => (ranAt.push(t.unsyncedSteps), Promise.resolve()), "page")
      .catch((e) => assert.ok(e instanceof SupersededError, String(e)));
    await t.trainStep();
    if (t.unsyncedSteps === 0) await job;
  }
  assert.ok(ranAt.length >= 3, `jobs ran ${ranAt.length} times in 12 steps (3 sync points)`);
  assert.deepEqual(ranAt, ranAt.map(() => 0), "every job ran with no step's GPU work queued");
  gate.close();
});

Deno.test("step gate: a job whose request went away leaves the queue without running", async () => {
  const t = fakeTrainer(30);
  const gate = new StepGate(t);
  const step = t.trainStep();
  const gone = new AbortController(), ran: string[] = [];
  const left = gate.run(() => (ran.push("left"), Promise.resolve()), "page-a", gone.signal);
  const stays = gate.run(
    () => (ran.push("stays"), Promise.resolve()),
    "page-b",
    new AbortController().signal,
  );
  assert.equal(gate.pending, 2);
  gone.abort();
  await assert.rejects(left, JobAbortedError);
  assert.equal(gate.pending, 1);
  await step;
  await stays;
  assert.deepEqual(ran, ["stays"]);
  const st = gate.stats;
  assert.equal(st.aborted, 1);
  assert.equal(st.jobs, 1);
  gate.close();
});

Deno.test("step gate: pages that ask again at once cannot hold training at a step boundary", async () => {
  const t = fakeTrainer(10);
  // The saved-up burst outlasts idleMs: the drain after a step is still going when the trainer would count
  // as idle.
  const budget = 0.05, burstMs = 100, jobMs = 30;
  const gate = new StepGate(t, { budget, burstMs, idleMs: 40, maxQueue: 64 });
  let done = false, jobTime = 0;
  // Twenty pages, each asking for its next render as soon as the last one is answered.
  const pages = Array.from({ length: 20 }, async (_, p) => {
    while (!done) {
      await gate.run(async () => {
        await sleep(jobMs);
        jobTime += jobMs;
      }, `page-${p}`).catch(() => {});
    }
  });
  const training = (async () => {
    for (let i = 0; i < 40; i++) await t.trainStep();
  })();
  const limit = sleep(5000).then(() => "held");
  const outcome = await Promise.race([training.then(() => "done"), limit]);
  done = true;
  gate.close();
  await Promise.all(pages);
  assert.equal(outcome, "done", `training made ${t.steps} of 40 steps in 5 s`);
  const allowed = budget * t.ms + burstMs + 2 * jobMs;
  assert.ok(jobTime <= allowed, `jobs took ${jobTime} ms beside ${t.ms.toFixed(0)} ms of steps`);
});

Deno.test("dashboard load: stream cap, snapshot and download rate limits", async () => {
  const { trainer, dataset } = await tinyTrainer([]);
  const d = await startDashboard({
    dataset,
    port: 0,
    iters: 10,
    limits: { maxClients: 2, snapshotIntervalMs: 60_000, downloadIntervalMs: 60_000 },
  });
  d.attach(trainer);
  const base = d.url.replace(/\/$/, "");
  const json = { "content-type": "application/json" };
  const streams: ReadableStreamDefaultReader<Uint8Array>[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${base}/api/events`);
      assert.equal(r.status, 200);
      const reader = r.body!.getReader();
      await reader.read();
      streams.push(reader);
    }
    let r = await fetch(`${base}/api/events`);
    assert.equal(r.status, 503);
    assert.match((await r.json()).error, /too many dashboard pages are open \(2\): close one/);
    await streams.shift()!.cancel();
    for (let i = 0; i < 50 && d.session.hub.clients > 1; i++) await sleep(20);
    r = await fetch(`${base}/api/events`);
    assert.equal(r.status, 200, "a closed page frees its place");
    streams.push(r.body!.getReader());

    r = await fetch(`${base}/api/control/snapshot`, { method: "POST", headers: json, body: "{}" });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    r = await fetch(`${base}/api/control/snapshot`, { method: "POST", headers: json, body: "{}" });
    assert.equal(r.status, 429);
    assert.match((await r.json()).error, /snapshots are allowed at most once every 60 s: try again in \d+ s/);
    assert.ok(Number(r.headers.get("retry-after")) >= 59);
    for (const what of ["avatar", "npga"]) {
      r = await fetch(`${base}/api/download/${what}`);
      assert.equal(r.status, 200, what);
      await r.body?.cancel();
      r = await fetch(`${base}/api/download/${what}`);
      assert.equal(r.status, 429, what);
      assert.ok(Number(r.headers.get("retry-after")) > 0);
      await r.body?.cancel();
    }
  } finally {
    for (const s of streams) await s.cancel().catch(() => {});
    await d.close();
    trainer.destroy();
  }
});

Deno.test("dashboard load: a full render queue answers 503; a page's newer render supersedes its older", async () => {
  const { trainer, dataset } = await tinyTrainer([]);
  const d = await startDashboard({ dataset, port: 0, iters: 10, gate: { maxQueue: 2 } });
  d.attach(trainer);
  const base = d.url.replace(/\/$/, "");
  const gate = d.session.attached!.gate;
  // Hold the gate with a job of our own, so the requests below wait in its queue. (Attaching queued the first
  // live panel, so the blocker may wait behind it: go on only once the blocker runs and the queue is empty.)
  let release: (() => void) | undefined;
  const blocker = gate.run(() => new Promise<void>((r) => (release = r)));
  for (let i = 0; i < 3000 && !release; i++) await sleep(10);
  assert.ok(release, "the blocking job runs");
  assert.equal(gate.pending, 0);
  const render = (page: string) =>
    fetch(`${base}/api/render`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-npga-client": page },
      body: JSON.stringify({ camera: dataset.cameras[0].index, timestep: 0 }),
    });
  try {
    const a1 = render("a"), b1 = render("b");
    for (let i = 0; i < 200 && gate.pending < 2; i++) await sleep(10);
    assert.equal(gate.pending, 2);
    const c1 = await render("c");
    assert.equal(c1.status, 503);
    assert.match((await c1.json()).error, /the dashboard is busy \(2 renders waiting\)/);
    assert.equal(c1.headers.get("retry-after"), "1");
    const a2 = render("a");
    const old = await a1;
    assert.equal(old.status, 409);
    assert.deepEqual(await old.json(), {
      error: "replaced by a newer request from the same page",
      superseded: true,
    });
    release!();
    await blocker;
    const [ra, rb] = await Promise.all([a2, b1]);
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 200);
    assert.equal(ra.headers.get("content-type"), "image/png");
    await ra.body?.cancel();
    await rb.body?.cancel();
  } finally {
    release?.();
    await d.close();
    trainer.destroy();
  }
});
