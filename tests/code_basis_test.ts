import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import {
  codeBasisBackward,
  codeBasisBackwardCpu,
  codeBasisForward,
  codeBasisForwardCpu,
} from "../training/code_basis.ts";
import { canonicalCode, headFrame } from "../training/deform_inputs.ts";
import { DeformNet } from "../training/deform_net.ts";
import { posedPositions } from "../data/rig.ts";
import { formatFieldFit, measureFieldFit, movingVertices } from "../training/field_fit.ts";
import { samplePairs } from "../training/prior_pairs.ts";
import { posedPoints, type RigMesh, sampleSurface } from "../training/rig_sampling.ts";
import { tinyRig } from "./deform_fixture.ts";
import { formatShapeFits, measureShapeFits } from "../training/shape_fit.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Central differences (step 1e-2) of `loss` at `p0` against `grads` at the parameters `at` (2% relative). */
async function assertParamGradsMatchFd(
  loss: (p: Float32Array) => Promise<number>,
  p0: Float32Array,
  grads: ArrayLike<number>,
  at: number[],
): Promise<void> {
  const h = 1e-2;
  for (const j of at) {
    const a = p0.slice(), b = p0.slice();
    a[j] += h;
    b[j] -= h;
    const fd = ((await loss(a)) - (await loss(b))) / (2 * h);
    assert.ok(
      Math.abs(fd - grads[j]) < 2e-2 * Math.max(1, Math.abs(fd)),
      `param ${j}: ${grads[j]} vs FD ${fd}`,
    );
  }
}

Deno.test("code basis: forward and backward kernels match the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(21);
  const N = 333, D = 7, stride = 3 + 5 + D, off = 8, s = 0.37;
  const raw = rng.floats(N * 3 * D),
    rows = rng.floats(N * stride),
    z0 = rng.floats(D, 0, 1),
    g = rng.floats(3 * N);
  const t = { raw: Tensor.from(gpu, raw), rows: Tensor.from(gpu, rows), z0: Tensor.from(gpu, z0) };
  const tg = Tensor.from(gpu, g), out = Tensor.empty(gpu, [N, 3]), dRaw = Tensor.empty(gpu, [N, 3 * D]);
  const args = { d: D, rows: t.rows, stride, off, z0: t.z0, s };
  codeBasisForward(gpu, args, t.raw, out);
  codeBasisBackward(gpu, args, tg, dRaw);
  const cpu = { d: D, rows, stride, off, z0, s };
  assertClose(await out.read(), codeBasisForwardCpu(cpu, raw), { atol: 1e-5, rtol: 1e-5, what: "forward" });
  assertClose(await dRaw.read(), codeBasisBackwardCpu(cpu, g), { atol: 1e-6, rtol: 1e-5, what: "backward" });
  // The backward is the adjoint of the forward: <g, F(raw)> = <F^T(g), raw>.
  const f = codeBasisForwardCpu(cpu, raw), b = codeBasisBackwardCpu(cpu, g);
  const lhs = f.reduce((a, v, i) => a + v * g[i], 0), rhs = b.reduce((a, v, i) => a + v * raw[i], 0);
  assert.ok(Math.abs(lhs - rhs) < 1e-9 * Math.max(1, Math.abs(lhs)), `adjoint ${lhs} vs ${rhs}`);
  assert.throws(() => codeBasisForward(gpu, { ...args, d: D + 1 }, t.raw, out), /basis must have/);
  for (const v of [...Object.values(t), tg, out, dRaw]) v.destroy();
});

Deno.test("code basis network: zero at the canonical code, parameter gradients match finite differences", async () => {
  const gpu = await testGpu();
  const rng = new Rng(22);
  const N = 24, D = 3, E = 2, inputs = 3 + E + D;
  const z0 = [0, 0.5, 0];
  const net = new DeformNet(gpu, {
    inputs,
    width: 8,
    layers: 3,
    codeDim: D,
    codeColumn: 3 + E,
    output: "codeBasis",
    canonicalCode: z0,
  });
  net.mlp.init(5);
  const rows = rng.floats(N * inputs, -0.8, 0.8);
  const atCanonical = rows.slice();
  for (let i = 0; i < N; i++) atCanonical.set(z0, i * inputs + 3 + E);
  const w = rng.floats(3 * N);
  const input = Tensor.from(gpu, rows), out = Tensor.empty(gpu, [N, 3]);
  const canon = Tensor.from(gpu, atCanonical);
  net.forward(canon, out, 2);
  assert.ok((await out.read()).every((v) => v === 0), "no offset at the canonical expression");
  const loss = async (p: Float32Array) => {
    net.mlp.setParams(p);
    net.forward(input, out, 2);
    return (await out.read()).reduce((a, v, i) => a + v * w[i], 0);
  };
  const p0 = await net.mlp.getParams();
  const st = net.forwardTrain(input, out, 2);
  const tw = Tensor.from(gpu, w);
  net.backward(st, tw, 2);
  const grads = await net.mlp.getGrads();
  await assertParamGradsMatchFd(loss, p0, grads, [0, 17, 80, p0.length - 1, p0.length - 20]);
  for (const v of [input, out, canon, tw]) v.destroy();
  net.destroy();
});

Deno.test("code-blind basis network: linear in the code, a spatial basis, no code gradient; gradients match FD", async () => {
  const gpu = await testGpu();
  const rng = new Rng(23);
  const N = 20, D = 3, E = 2, inputs = 3 + E + D, col = 3 + E;
  for (const bands of [0, 2]) {
    const spec = { inputs, width: 8, layers: 3, codeDim: D, codeColumn: col, bands };
    const blind = new DeformNet(gpu, {
      ...spec,
      output: "codeBasis",
      canonicalCode: [0, 0.5, 0],
      codeInput: false,
    });
    blind.mlp.init(6);
    const rows = rng.floats(N * inputs, -0.8, 0.8);
    const withCode = (z: (i: number) => number[]) => {
      const r = rows.slice();
      for (let i = 0; i < N; i++) r.set(z(i), i * inputs + col);
      return r;
    };
    const za = (i: number) => [Math.sin(i), 0.3, -0.2 * i / N], zb = (i: number) => [0.1, -0.4 + i / N, 0.7];
    const run = async (net: DeformNet, r: Float32Array) => {
      const t = Tensor.from(gpu, r), out = Tensor.empty(gpu, [N, 3]);
      net.forward(t, out, 1.5);
      const v = await out.read();
      t.destroy();
      out.destroy();
      return v;
    };
    const fa = await run(blind, withCode(za)), fb = await run(blind, withCode(zb));
    const fm = await run(blind, withCode((i) => za(i).map((v, k) => 0.25 * v + 0.75 * zb(i)[k])));
    const lin = fa.map((v, i) => 0.25 * v + 0.75 * fb[i]);
    assertClose(fm, lin, { atol: 1e-5, rtol: 1e-4, what: `bands ${bands}: linear in the code` });
    // The code columns do not reach the MLP: moving one coefficient away from the canonical code scales the
    // offset exactly (the basis does not change with the code).
    const e0 = await run(blind, withCode(() => [1, 0.5, 0])),
      e0b = await run(blind, withCode(() => [2, 0.5, 0]));
    assertClose(e0b, e0.map((v) => 2 * v), {
      atol: 1e-5,
      rtol: 1e-4,
      what: `bands ${bands}: basis is spatial`,
    });
    // Parameter and input gradients by central differences.
    const w = rng.floats(3 * N), input = Tensor.from(gpu, withCode(za)), out = Tensor.empty(gpu, [N, 3]);
    const tw = Tensor.from(gpu, w), dIn = Tensor.empty(gpu, [N, inputs]);
    const st = blind.forwardTrain(input, out, 1.5);
    blind.backward(st, tw, 1.5, dIn);
    const grads = await blind.mlp.getGrads(), dRows = await dIn.read();
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < D; k++) {
        assert.equal(dRows[i * inputs + col + k], 0, "no gradient into the code columns");
      }
    }
    const p0 = await blind.mlp.getParams();
    const loss = async (p: Float32Array) => {
      blind.mlp.setParams(p);
      return (await run(blind, withCode(za))).reduce((a, v, i) => a + v * w[i], 0);
    };
    await assertParamGradsMatchFd(loss, p0, grads, [0, 9, 40, p0.length - 1, p0.length - 7]);
    for (const v of [input, out, tw, dIn]) v.destroy();
    blind.destroy();
  }
});

Deno.test("canonical expression: jawOpen is found by name, pairs are canonical at it", () => {
  assert.deepEqual(canonicalCode(["eyeBlink_L", "JawOpen"], 2, 0.4), new Float32Array([0, 0.4]));
  assert.equal(canonicalCode(["eyeBlink_L"], 1, 0.4), null);
  assert.equal(canonicalCode(["jawOpen"], 1, 0), null);
  const rig = tinyRig();
  const z0 = new Float32Array([0.5, 0, 0]);
  const a = samplePairs(rig, 100, new Rng(3), { perCode: 10, canonicalCode: z0 });
  const b = samplePairs(rig, 100, new Rng(3), { perCode: 10 });
  assert.deepEqual(a.posed, b.posed, "posed points do not depend on the canonical expression");
  // Canonical = neutral + 0.5 jaw delta at each sample (the jaw moves the lower half of the sphere).
  let moved = 0;
  for (let i = 0; i < 100; i++) {
    const d = Math.hypot(...[0, 1, 2].map((c) => a.canonical[3 * i + c] - b.canonical[3 * i + c]));
    if (d > 1e-4) moved++;
  }
  assert.ok(moved > 10 && moved < 90, `${moved} of 100 canonical samples moved by the open jaw`);
  // Reproduce the draws: canonical points are the samples posed at z0.
  const s = sampleSurface(rig, 100, new Rng(3), 0.01 * headFrame(rig).diagonal);
  for (let i = 0; i < 100; i += 2) s.offsets[i] = 0;
  assertClose(a.canonical, posedPoints(rig, s, z0), { atol: 1e-7, what: "canonical at z0" });
});

Deno.test("field fit: exact field has zero error, the zero field a ratio of one, regions partition", async () => {
  const rig = tinyRig();
  const D = 3;
  const train = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const held = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.9, 0.5]);
  const { index } = movingVertices(rig, train);
  assert.ok(index.length > 10 && index.length < rig.positions.length / 3, `${index.length} moving vertices`);
  const z0 = new Float32Array([0.5, 0, 0]);
  const C = posedPositions(rig, z0);
  // The exact forward field: F(c_v, z) = p_v(z) - c_v, looked up per vertex from the canonical position.
  const exact = (pts: Float32Array, z: Float32Array) => Promise.resolve(exactOffsets(rig, C, pts, z));
  const f = await measureFieldFit(rig, train, held, z0, "forward", exact);
  assert.ok(f.all.errorMm < 1e-4, `exact field error ${f.all.errorMm} mm`);
  assert.equal(f.codes, held.length / D);
  assert.equal(f.mouth.vertices + f.eyes.vertices + f.rest.vertices, f.all.vertices);
  const zero = await measureFieldFit(
    rig,
    train,
    held,
    z0,
    "backward",
    (p) => Promise.resolve(new Float32Array(p.length)),
  );
  assert.ok(Math.abs(zero.all.ratio - 1) < 1e-9, `zero field ratio ${zero.all.ratio}`);
  assert.ok(zero.all.zeroMm > 1, `mean motion ${zero.all.zeroMm} mm`);
  assert.ok(C.some((v, i) => v !== rig.positions[i]));
});

/** F(c_v, z) = p_v(z) - c_v at canonical vertex positions `pts` (each looked up among `C`, the canonical rig). */
function exactOffsets(rig: RigMesh, C: Float32Array, pts: Float32Array, z: Float32Array): Float32Array {
  const P = posedPositions(rig, z), V = C.length / 3, out = new Float32Array(pts.length);
  for (let i = 0; i < pts.length / 3; i++) {
    let v = 0;
    while (v < V && ![0, 1, 2].every((c) => C[3 * v + c] === pts[3 * i + c])) v++;
    if (v === V) throw new Error(`point ${i} is not a rig vertex`);
    for (let c = 0; c < 3; c++) out[3 * i + c] = P[3 * v + c] - pts[3 * i + c];
  }
  return out;
}

Deno.test("field fit: still vertices near motion, where the exact field is 0 and a leaking one is not", async () => {
  // About 1 cm between vertices, so some still vertices lie within 1 cm of moving ones.
  const rig = tinyRig(30, 60);
  const train = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const held = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.9, 0.5]);
  const { index, still } = movingVertices(rig, train);
  const V = rig.positions.length / 3, P0 = rig.positions, moving = new Set(index);
  assert.ok(
    still.length > 0 && still.length + index.length < V,
    `${still.length} still vertices near motion`,
  );
  // Each is still and within 1 cm of a moving vertex (brute force).
  for (const v of still) {
    assert.ok(!moving.has(v));
    const d = Math.min(
      ...index.map((m) => Math.hypot(...[0, 1, 2].map((c) => P0[3 * m + c] - P0[3 * v + c]))),
    );
    assert.ok(d <= 0.01, `still vertex ${v} is ${d} m from motion`);
  }
  const z0 = new Float32Array([0.5, 0, 0]);
  const C = posedPositions(rig, z0);
  const exact = (pts: Float32Array, z: Float32Array) => Promise.resolve(exactOffsets(rig, C, pts, z));
  const f = await measureFieldFit(rig, train, held, z0, "forward", exact);
  assert.equal(f.still?.vertices, still.length);
  assert.ok(
    f.still!.errorMm < 1e-4 && f.still!.maxMm < 1e-4,
    `exact field at still vertices ${f.still!.errorMm}`,
  );
  // The exact field plus 0.5 mm along x everywhere: 0.5 mm at every still vertex.
  const leaky = async (pts: Float32Array, z: Float32Array) =>
    (await exact(pts, z)).map((d, j) => (j % 3 === 0 ? d + 5e-4 : d));
  const g = await measureFieldFit(rig, train, held, z0, "forward", leaky);
  assert.ok(Math.abs(g.still!.errorMm - 0.5) < 1e-3 && Math.abs(g.still!.maxMm - 0.5) < 1e-3);
  assert.match(formatFieldFit(g), /still vertices within 1 cm: 0\.50 mm \(max 0\.50\)/);
});

Deno.test("shape fit: per blendshape, the exact field scores 0, the zero field 1, a field missing one shape 1 there", async () => {
  const rig = { ...tinyRig(), blendshapeNames: ["jaw", "puff", "brow"] };
  const z0 = new Float32Array([0.5, 0, 0]);
  const C = posedPositions(rig, z0), V = C.length / 3;
  const vertexAt = (pts: Float32Array, i: number) => {
    for (let v = 0; v < V; v++) {
      if ([0, 1, 2].every((c) => C[3 * v + c] === pts[3 * i + c])) return v;
    }
    throw new Error("not a canonical vertex");
  };
  // Exact forward field (per vertex, from the canonical position), optionally blind to shape `skip`.
  const field = (skip: number) => (pts: Float32Array, z: Float32Array) => {
    const seen = Float32Array.from(z);
    if (skip >= 0) seen[skip] = z0[skip];
    const P = posedPositions(rig, seen);
    return Promise.resolve(pts.map((x, j) => P[3 * vertexAt(pts, Math.floor(j / 3)) + (j % 3)] - x));
  };
  const exact = await measureShapeFits(rig, z0, "forward", field(-1));
  assert.deepEqual(exact.map((f) => f.name), ["jaw", "puff", "brow"]);
  for (const f of exact) {
    assert.ok(f.vertices > 0 && f.zeroMm > 1, `${f.name}: ${f.vertices} vertices, ${f.zeroMm} mm`);
    assert.ok(f.errorMm < 1e-4, `${f.name}: exact field error ${f.errorMm} mm`);
  }
  const blind = await measureShapeFits(rig, z0, "forward", field(2));
  assert.ok(blind[0].ratio < 1e-6 && blind[1].ratio < 1e-6, "the shapes it knows");
  assert.ok(Math.abs(blind[2].ratio - 1) < 1e-6, `the shape it misses: ${blind[2].ratio}`);
  const zero = await measureShapeFits(
    rig,
    null,
    "backward",
    (p) => Promise.resolve(new Float32Array(p.length)),
  );
  for (const f of zero) assert.ok(Math.abs(f.ratio - 1) < 1e-9, `${f.name}: zero field ratio ${f.ratio}`);
  assert.match(formatShapeFits(blind), /^per shape \(toggled alone\): jaw 0%, puff 0%, brow 100%$/);
});
