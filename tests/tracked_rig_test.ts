import assert from "node:assert/strict";
import { validateRig } from "../data/rig.ts";
import { buildSyntheticHeadModel } from "../data/synthetic_head.ts";
import { adjacency, DROPPED_PARTS, fieldRoughness, taubinSmooth, trackedRig } from "../data/tracked_rig.ts";
import { addTrackingNoise } from "../data/tracking_noise.ts";

const model = buildSyntheticHeadModel({ rows: 60, cols: 64 });
const full = model.rig;
const V = full.positions.length / 3;

Deno.test("synthetic head model: part ranges tile the vertices, geometry is the rig's neutral and deltas", () => {
  const ranges = Object.values(model.parts).sort((a, b) => a[0] - b[0]);
  assert.equal(ranges[0][0], 0);
  for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i][0], ranges[i - 1][1]);
  assert.equal(ranges[ranges.length - 1][1], V);
  const [s0, s1] = model.parts.skin;
  assert.ok(model.slitVertices.length > 10 && model.slitVertices.every((v) => v >= s0 && v < s1));
  assert.ok(model.lipVertices.length > 50 && model.lipVertices.every((v) => v >= s0 && v < s1));
  const K = full.deltas.length;
  assert.deepEqual(model.geometry(new Float32Array(K)), full.positions);
  const w = new Float32Array(K);
  w[full.blendshapeNames.indexOf("mouthSmile_L")] = 1;
  const posed = model.geometry(w), d = full.deltas[full.blendshapeNames.indexOf("mouthSmile_L")];
  let err = 0;
  for (let i = 0; i < posed.length; i++) err = Math.max(err, Math.abs(posed[i] - full.positions[i] - d[i]));
  assert.ok(err < 1e-6, `one blendshape at full weight is its delta (max error ${err})`);
  // Where shapes combine the geometry is not the linear blend (the eyelids, jaw rotation with offsets).
  w.fill(0.8);
  const blend = full.positions.map((p, i) => p + full.deltas.reduce((s, dk) => s + 0.8 * dk[i], 0));
  const g = model.geometry(w);
  let gap = 0;
  for (let i = 0; i < g.length; i++) gap = Math.max(gap, Math.abs(g[i] - blend[i]));
  assert.ok(gap > 5e-4, `combined expression differs from the blend by ${gap} m`);
});

Deno.test("tracked rig: outer surface only, about the target vertex count, exact vertex map, open lips", async () => {
  const tr = await trackedRig(model, { targetVertices: 1500 });
  const rig = tr.rig, n = rig.positions.length / 3;
  validateRig(rig, "tracked rig");
  assert.ok(Math.abs(n - 1500) <= 0.05 * 1500, `${n} vertices for a target of 1500`);
  assert.equal(tr.vertexMap.length, n);
  for (let i = 1; i < n; i++) assert.ok(tr.vertexMap[i] > tr.vertexMap[i - 1], "vertex map increasing");
  const inPart = (v: number, p: keyof typeof model.parts) => v >= model.parts[p][0] && v < model.parts[p][1];
  for (const p of DROPPED_PARTS) {
    assert.ok(tr.vertexMap.every((v) => !inPart(v, p)), `no ${p} vertex kept`);
    assert.equal(tr.dropped[p], model.parts[p][1] - model.parts[p][0]);
  }
  for (const p of ["skin", "eyes", "ears"] as const) {
    assert.ok(tr.vertexMap.some((v) => inPart(v, p)), `${p} kept`);
  }
  const kept = new Set(tr.vertexMap);
  assert.ok(model.slitVertices.every((v) => kept.has(v)), "every lip-slit vertex is kept (locked)");
  tr.vertexMap.forEach((v, i) => {
    for (let k = 0; k < 3; k++) {
      assert.equal(rig.positions[i * 3 + k], full.positions[v * 3 + k]);
      assert.equal(rig.colors[i * 3 + k], full.colors[v * 3 + k]);
    }
  });
  const raw = await trackedRig(model, { targetVertices: 1500, smoothIterations: 0 });
  assert.deepEqual(raw.vertexMap, tr.vertexMap);
  raw.rig.deltas.forEach((d, k) => {
    tr.vertexMap.forEach((v, i) => assert.equal(d[i * 3 + 1], full.deltas[k][v * 3 + 1]));
  });
  // Mouth vertices: the kept lip-region vertices, so a mouth region is still found.
  const lips = new Set(model.lipVertices);
  assert.ok(rig.mouthVertices.length > 20);
  assert.ok(Array.from(rig.mouthVertices).every((i) => lips.has(tr.vertexMap[i])));
  // The slit stays open: no edge of the decimated mesh joins an upper-lip slit vertex (left by jawOpen) to a
  // lower-lip one (carried by it).
  const jaw = raw.rig.deltas[full.blendshapeNames.indexOf("jawOpen")];
  const index = new Map(Array.from(tr.vertexMap, (v, i) => [v, i]));
  const slit = new Set(Array.from(model.slitVertices, (v) => index.get(v)!));
  const move = (i: number) => Math.hypot(jaw[i * 3], jaw[i * 3 + 1], jaw[i * 3 + 2]);
  const peak = Math.max(...Array.from(slit, move));
  const { offsets, neighbours } = adjacency(rig.indices, n);
  let slitEdges = 0;
  for (const i of slit) {
    for (let j = offsets[i]; j < offsets[i + 1]; j++) {
      if (!slit.has(neighbours[j])) continue;
      slitEdges++;
      assert.ok(
        Math.abs(move(i) - move(neighbours[j])) < 0.5 * peak,
        `edge ${i}-${neighbours[j]} crosses the slit`,
      );
    }
  }
  assert.ok(slitEdges >= slit.size, `${slitEdges} edges along the slit`);
  assert.deepEqual(
    (await trackedRig(model, { targetVertices: 1500 })).rig.indices,
    rig.indices,
    "deterministic",
  );
});

Deno.test("tracked rig: smoothed deltas are less rough and still close to the originals", async () => {
  const tr = await trackedRig(model, { targetVertices: 1500, smoothIterations: 3 });
  const raw = await trackedRig(model, { targetVertices: 1500, smoothIterations: 0 });
  const graph = adjacency(tr.rig.indices, tr.vertexMap.length);
  tr.rig.deltas.forEach((s, k) => {
    const name = full.blendshapeNames[k], d = raw.rig.deltas[k];
    assert.ok(fieldRoughness(s, graph) < 0.8 * fieldRoughness(d, graph), `${name} roughness decreases`);
    let dev = 0, mag = 0;
    for (let i = 0; i < d.length; i += 3) {
      dev += Math.hypot(s[i] - d[i], s[i + 1] - d[i + 1], s[i + 2] - d[i + 2]);
      mag += Math.hypot(d[i], d[i + 1], d[i + 2]);
    }
    // The eyelid shapes sit on a thin band of vertices and blur most (a tracked blink is incomplete too).
    const limit = /^eye/.test(name) ? 0.8 : 0.25;
    assert.ok(
      dev < limit * mag,
      `${name}: smoothing moved the deltas by ${(dev / mag).toFixed(3)} of their size`,
    );
  });
  // Taubin: a constant field stays constant (no shrinkage of a uniform translation).
  const c = new Float32Array(tr.vertexMap.length * 3).fill(0.01);
  const sc = taubinSmooth(c, graph, 5);
  assert.ok(sc.every((x) => Math.abs(x - 0.01) < 1e-7));
});

Deno.test("tracking noise: seeded, in range, about sigma, correlated in time, fresh after a break", () => {
  const T = 400, K = 10, codes = new Float32Array(T * K).fill(0.5);
  const a = addTrackingNoise(codes, K, { sigma: 0.04, correlation: 0.6, seed: 3 });
  assert.deepEqual(addTrackingNoise(codes, K, { sigma: 0.04, correlation: 0.6, seed: 3 }), a);
  assert.notDeepEqual(addTrackingNoise(codes, K, { sigma: 0.04, correlation: 0.6, seed: 4 }), a);
  let s2 = 0, lag = 0;
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      const e = a[t * K + k] - 0.5;
      s2 += e * e;
      if (t > 0) lag += e * (a[(t - 1) * K + k] - 0.5);
    }
  }
  const sd = Math.sqrt(s2 / (T * K)), rho = lag / s2;
  assert.ok(Math.abs(sd - 0.04) < 0.005, `noise sd ${sd}`);
  assert.ok(rho > 0.45 && rho < 0.75, `lag-1 correlation ${rho}`);
  const edge = addTrackingNoise(new Float32Array(T * K).fill(0.99), K, { sigma: 0.2, seed: 1 });
  assert.ok(edge.every((x) => x >= 0 && x <= 1), "clamped to [0, 1]");
  assert.deepEqual(addTrackingNoise(codes, K, { sigma: 0, seed: 1 }), codes);
  const broken = addTrackingNoise(codes, K, { sigma: 0.04, correlation: 0.6, seed: 3 }, [200]);
  assert.deepEqual(broken.subarray(0, 200 * K), a.subarray(0, 200 * K));
  assert.notDeepEqual(broken.subarray(200 * K), a.subarray(200 * K));
});
