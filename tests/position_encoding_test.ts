import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { DeformNet } from "../training/deform_net.ts";
import {
  decodePositionGrad,
  decodePositionGradCpu,
  encodedColumns,
  encodePositions,
  encodePositionsCpu,
} from "../training/position_encoding.ts";
import { assertClose, testGpu } from "./helpers.ts";

Deno.test("position encoding: encode and its gradient match the CPU reference; the gradient matches finite differences", async () => {
  const gpu = await testGpu();
  const rng = new Rng(41);
  const N = 301, K = 9, L = 5, W = encodedColumns(K, L);
  const rows = rng.floats(N * K, -1, 1), dEnc = rng.floats(N * W);
  const t = { rows: Tensor.from(gpu, rows), dEnc: Tensor.from(gpu, dEnc) };
  const enc = Tensor.empty(gpu, [N, W]), dRows = Tensor.empty(gpu, [N, K]);
  encodePositions(gpu, t.rows, K, L, enc);
  decodePositionGrad(gpu, t.rows, K, L, t.dEnc, dRows);
  const encCpu = encodePositionsCpu(rows, K, L);
  assertClose(await enc.read(), encCpu, { atol: 2e-5, what: "encode" });
  const dCpu = decodePositionGradCpu(rows, K, L, dEnc);
  assertClose(await dRows.read(), dCpu, { atol: 1e-3, rtol: 1e-4, what: "decode" });
  // Rows come first unchanged; the bands are sin / cos of pi 2^k x.
  assert.equal(encCpu[W + 2], rows[K + 2]);
  assert.ok(Math.abs(encCpu[K + 6 * 2 + 3 + 1] - Math.cos(4 * Math.PI * rows[1])) < 1e-12);
  // Finite differences of <dEnc, encode(rows)> in float64 against the CPU gradient.
  const h = 1e-6;
  for (const j of [0, 1, 2, 5, K + 1, 7 * K + 2]) {
    const a = Float64Array.from(rows), b = Float64Array.from(rows);
    a[j] += h;
    b[j] -= h;
    const dot = (r: Float64Array) => encodePositionsCpu(r, K, L).reduce((s, v, i) => s + v * dEnc[i], 0);
    const fd = (dot(a) - dot(b)) / (2 * h);
    assert.ok(
      Math.abs(fd - dCpu[j]) < 1e-5 * Math.max(1, Math.abs(fd)),
      `row element ${j}: ${dCpu[j]} vs FD ${fd}`,
    );
  }
  assert.throws(() => encodePositions(gpu, t.rows, K, L + 1, enc), /must have/);
  for (const v of [...Object.values(t), enc, dRows]) v.destroy();
});

Deno.test("deformation net with Fourier bands: input and parameter gradients match finite differences", async () => {
  const gpu = await testGpu();
  const rng = new Rng(42);
  const N = 16, D = 3, E = 2, inputs = 3 + E + D;
  const net = new DeformNet(gpu, {
    inputs,
    width: 8,
    layers: 3,
    codeDim: D,
    codeColumn: 3 + E,
    output: "codeBasis",
    canonicalCode: [0, 0.5, 0],
    bands: 3,
  });
  assert.equal(net.mlp.spec.inputs, inputs + 18);
  net.mlp.init(7);
  const rows = rng.floats(N * inputs, -0.8, 0.8), w = rng.floats(3 * N);
  const input = Tensor.from(gpu, rows), out = Tensor.empty(gpu, [N, 3]), tw = Tensor.from(gpu, w);
  const dInput = Tensor.empty(gpu, [N, inputs]);
  const st = net.forwardTrain(input, out, 1.5);
  net.backward(st, tw, 1.5, dInput);
  const dIn = await dInput.read(), grads = await net.mlp.getGrads();
  const loss = async (r: Float32Array) => {
    input.upload(r);
    net.forward(input, out, 1.5);
    return (await out.read()).reduce((a, v, i) => a + v * w[i], 0);
  };
  const h = 2e-3;
  // Position columns (through the encoding) and a feature column; code columns get the MLP's part only.
  for (const j of [0, 1, 2, inputs + 2, 5 * inputs + 3]) {
    const a = rows.slice(), b = rows.slice();
    a[j] += h;
    b[j] -= h;
    const fd = ((await loss(a)) - (await loss(b))) / (2 * h);
    assert.ok(Math.abs(fd - dIn[j]) < 3e-2 * Math.max(1, Math.abs(fd)), `input ${j}: ${dIn[j]} vs FD ${fd}`);
  }
  input.upload(rows);
  const p0 = await net.mlp.getParams();
  const lossP = async (p: Float32Array) => {
    net.mlp.setParams(p);
    net.forward(input, out, 1.5);
    return (await out.read()).reduce((a, v, i) => a + v * w[i], 0);
  };
  for (const j of [0, 40, 100, p0.length - 1]) {
    const a = p0.slice(), b = p0.slice();
    a[j] += 1e-2;
    b[j] -= 1e-2;
    const fd = ((await lossP(a)) - (await lossP(b))) / 2e-2;
    assert.ok(
      Math.abs(fd - grads[j]) < 2e-2 * Math.max(1, Math.abs(fd)),
      `param ${j}: ${grads[j]} vs FD ${fd}`,
    );
  }
  for (const v of [input, out, tw, dInput]) v.destroy();
  net.destroy();
});
