import assert from "node:assert/strict";
import { Adam, adamStepCpu } from "../gpu/adam.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { GATE_ROW, GATE_VALUES, parseRecord, UpdateGate, updateGateCpu } from "../training/update_gate.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** One step's inputs: values [GATE_VALUES + 1], Laplacian losses [2], pair info [total, used, overflow, cap]. */
interface GateCase {
  values: Float32Array;
  lap: Float32Array;
  pairs: Uint32Array;
}

function cases(rng: Rng, n: number, bad: Record<number, "nan" | "inf" | "lap" | "overflow">): GateCase[] {
  return Array.from({ length: n }, (_, s) => {
    const values = rng.normals(GATE_VALUES + 1);
    const lap = rng.floats(2);
    const cap = 1000;
    let total = 100 + s;
    if (bad[s] === "nan") values[4] = NaN;
    if (bad[s] === "inf") values[0] = -Infinity;
    if (bad[s] === "lap") lap[1] = Infinity;
    if (bad[s] === "overflow") total = 5000;
    const pairs = Uint32Array.from([total, Math.min(total, cap), total > cap ? 1 : 0, cap]);
    return { values, lap, pairs };
  });
}

Deno.test("update gate: GPU decisions and ring records match the CPU reference (skips, overflow halt, clear)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(14);
  const steps = cases(rng, 7, { 1: "nan", 2: "lap", 4: "overflow" });
  const gate = new UpdateGate(gpu, 8);
  const cpu = new Uint32Array(4);
  const rows: Uint32Array[] = [];
  for (let s = 0; s < steps.length; s++) {
    const c = steps[s];
    if (s === 6) {
      // As the trainer does before redoing an overflowed step.
      gate.clearHalt();
      cpu[2] = 0;
    }
    const tv = Tensor.from(gpu, c.values), tl = Tensor.from(gpu, c.lap), tp = Tensor.from(gpu, c.pairs);
    gate.record(10 + s, tv, tl, tp);
    gate.recordCycle(tv, GATE_VALUES);
    const row = updateGateCpu(cpu, c.values, c.lap, c.pairs, 10 + s);
    row[18] = new Uint32Array(Float32Array.of(c.values[GATE_VALUES]).buffer)[0];
    rows.push(row);
    tv.destroy(), tl.destroy(), tp.destroy();
  }
  assert.deepEqual(await gate.state.read(), cpu, "gate state");
  const ring = await gate.ring.read() as Uint32Array;
  for (let s = 0; s < rows.length; s++) {
    assert.deepEqual(ring.subarray(s * GATE_ROW, (s + 1) * GATE_ROW), rows[s], `ring row ${s}`);
  }
  const records = await gate.drain();
  assert.deepEqual(records.map((r) => r.step), [10, 11, 12, 13, 14, 15, 16]);
  assert.deepEqual(records.map((r) => r.applied), [true, false, false, true, false, false, true]);
  assert.deepEqual(records.map((r) => r.overflow), [false, false, false, false, true, false, false]);
  assert.deepEqual(records.map((r) => r.halted), [false, false, false, false, false, true, false]);
  assert.deepEqual(records.map((r) => r.skips), [0, 1, 2, 2, 3, 4, 4]);
  assert.equal(gate.knownSkips, 4);
  assert.equal(gate.pending, 0);
  assert.equal(records[4].pairs, 5000);
  assert.equal(records[4].capacity, 1000);
  assert.deepEqual(records[0].values, steps[0].values.subarray(0, GATE_VALUES));
  assert.equal(records[3].cycle, steps[3].values[GATE_VALUES]);
  assert.deepEqual(parseRecord(ring, 3), records[3]);
  gate.destroy();
});

Deno.test("update gate: gated Adam equals Adam run on the applied steps only (unseen skips, drains between)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(3);
  const n = 300;
  const p0 = rng.floats(n);
  const params = Tensor.from(gpu, p0), grads = Tensor.empty(gpu, [n]);
  const gate = new UpdateGate(gpu, 4);
  const opt = new Adam(gpu);
  opt.gate = gate;
  opt.setGroup({ name: "x", params, grads, lr: 0.02, weightDecay: 0.01 });
  const p = p0.slice(), m = new Float32Array(n), v = new Float32Array(n);
  const steps = cases(rng, 11, { 0: "nan", 3: "inf", 4: "lap", 8: "nan" });
  let applied = 0;
  for (let s = 0; s < steps.length; s++) {
    const c = steps[s], g = rng.normals(n);
    grads.upload(g);
    const tv = Tensor.from(gpu, c.values), tl = Tensor.from(gpu, c.lap), tp = Tensor.from(gpu, c.pairs);
    gate.record(s, tv, tl, tp);
    opt.step();
    tv.destroy(), tl.destroy(), tp.destroy();
    if (Number.isFinite(c.values[0]) && Number.isFinite(c.values[4]) && Number.isFinite(c.lap[1])) {
      applied++;
      adamStepCpu(p, g, m, v, applied, { lr: 0.02, weightDecay: 0.01 });
    }
    // Drain every 4th step (the ring's size) and once mid-way, so the bias table spans unseen skips.
    if (gate.pending === gate.rows || s === 5) await gate.drain();
  }
  await gate.drain();
  assert.equal(applied, 7);
  assert.equal(gate.knownSkips, 4);
  const st = await opt.state();
  assert.equal(st[0].step, applied, "Adam's step counts applied steps only");
  assertClose(st[0].m, m, { atol: 1e-6, rtol: 1e-5, what: "m" });
  assertClose(st[0].v, v, { atol: 1e-7, rtol: 1e-4, what: "v" });
  assertClose(await params.read(), p, { atol: 1e-6, rtol: 1e-5, what: "params" });
  opt.destroy();
  gate.destroy();
  params.destroy();
  grads.destroy();
});
