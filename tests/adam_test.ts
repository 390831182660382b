import assert from "node:assert/strict";
import { Adam, adamStep, adamStepCpu } from "../gpu/adam.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assertClose, testGpu } from "./helpers.ts";

Deno.test("adam: GPU steps match the CPU reference (Adam, AdamW, L2), with offsets and lr changing per step", async () => {
  const gpu = await testGpu();
  const rng = new Rng(7);
  for (
    const [n, offset, count, wd, decoupled] of [
      [1, 0, 1, 0, true],
      [257, 0, 257, 0.01, true],
      [1031, 100, 700, 0.1, false],
    ] as const
  ) {
    const p = rng.floats(n), m = new Float32Array(n), v = new Float32Array(n);
    const tp = Tensor.from(gpu, p), tm = Tensor.from(gpu, m), tv = Tensor.from(gpu, v);
    for (let step = 1; step <= 5; step++) {
      const g = rng.normals(n);
      const tg = Tensor.from(gpu, g);
      const lr = 0.01 / step;
      adamStep(gpu, {
        params: tp,
        grads: tg,
        m: tm,
        v: tv,
        step,
        lr,
        weightDecay: wd,
        decoupled,
        offset,
        count,
      });
      const sub = (a: Float32Array) => a.subarray(offset, offset + count);
      adamStepCpu(sub(p), sub(g), sub(m), sub(v), step, { lr, weightDecay: wd, decoupled });
      tg.destroy();
    }
    assertClose(await tp.read(), p, { atol: 1e-6, rtol: 1e-5, what: `params n=${n}` });
    assertClose(await tm.read(), m, { atol: 1e-6, rtol: 1e-5, what: `m n=${n}` });
    assertClose(await tv.read(), v, { atol: 1e-7, rtol: 1e-4, what: `v n=${n}` });
  }
});

Deno.test("adam: minimizes a quadratic with two groups at different learning rates", async () => {
  const gpu = await testGpu();
  const target = new Float32Array([3, -2, 0.5, 1]);
  const a = Tensor.from(gpu, new Float32Array(2)), ga = Tensor.empty(gpu, [2]);
  const b = Tensor.from(gpu, new Float32Array(2)), gb = Tensor.empty(gpu, [2]);
  const opt = new Adam(gpu, [{ name: "a", params: a, grads: ga, lr: 0.1 }, {
    name: "b",
    params: b,
    grads: gb,
    lr: 0.05,
  }]);
  for (let i = 0; i < 300; i++) {
    const pa = await a.read(), pb = await b.read();
    ga.upload(new Float32Array([2 * (pa[0] - target[0]), 2 * (pa[1] - target[1])]));
    gb.upload(new Float32Array([2 * (pb[0] - target[2]), 2 * (pb[1] - target[3])]));
    opt.setLr("a", 0.1 * 0.99 ** i);
    opt.step();
  }
  const got = [...await a.read(), ...await b.read()];
  assertClose(got, target, { atol: 0.05, what: "minimum" });
  const st = await opt.state();
  assert.deepEqual(st.map((s) => [s.name, s.step]), [["a", 300], ["b", 300]]);
  assert.throws(() => opt.setLr("c", 1), /no parameter group 'c'/);
  opt.destroy();
});
