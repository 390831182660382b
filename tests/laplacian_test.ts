import assert from "node:assert/strict";
import { KNN_NONE } from "../gpu/knn.ts";
import { knnBruteForce } from "../gpu/knn_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { LaplacianGraph, LaplacianRegularizer } from "../training/laplacian.ts";
import { laplacianCpu } from "../training/laplacian_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Random out-neighbours: distinct non-self indices, about `missing` of the slots KNN_NONE. */
function randomGraph(rng: Rng, n: number, k: number, missing: number): Uint32Array {
  const nbr = new Uint32Array(n * k).fill(KNN_NONE);
  for (let i = 0; i < n; i++) {
    const used = new Set<number>([i]);
    for (let t = 0; t < k; t++) {
      if (used.size >= n || rng.next() < missing) continue;
      // A few hubs get many in-edges (like points in dense regions of a kNN graph).
      let j = rng.next() < 0.2 ? rng.int(Math.min(n, 4)) : rng.int(n);
      while (used.has(j)) j = rng.int(n);
      used.add(j);
      nbr[i * k + t] = j;
    }
  }
  return nbr;
}

/** Dense [N, C] block out of rows of `stride` starting at `offset`. */
function columns(x: ArrayLike<number>, n: number, stride: number, offset: number, c: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) out[i * c + j] = x[i * stride + offset + j];
  return out;
}

/** CPU transpose: for each target, its sources ascending. */
function transposeCpu(nbr: Uint32Array, n: number, k: number): { start: Uint32Array; src: Uint32Array } {
  const rows: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) if (nbr[i * k + t] < n) rows[nbr[i * k + t]].push(i);
  }
  const start = new Uint32Array(n + 1);
  for (let p = 0; p < n; p++) start[p + 1] = start[p] + rows[p].length;
  return { start, src: Uint32Array.from(rows.flat()) };
}

Deno.test("laplacian: graph transpose, loss and gradient match the CPU reference (strided columns)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(81);
  const lap = new LaplacianRegularizer(gpu);
  const cases = [
    { n: 1, k: 4, stride: 3, offset: 0, c: 3, missing: 0 },
    { n: 2, k: 1, stride: 1, offset: 0, c: 1, missing: 0 },
    { n: 37, k: 8, stride: 8, offset: 0, c: 8, missing: 0.1 },
    { n: 300, k: 5, stride: 14, offset: 3, c: 7, missing: 0.3 },
    { n: 2500, k: 16, stride: 14, offset: 0, c: 14, missing: 0.05 },
  ];
  for (const { n, k, stride, offset, c, missing } of cases) {
    const what = `n=${n} k=${k} cols ${offset}..${offset + c} of ${stride}`;
    const nbr = randomGraph(rng, n, k, missing);
    const x = rng.normals(n * stride);
    const g0 = rng.normals(n * stride);
    const w = 0.37;
    const graph = LaplacianGraph.fromNeighbours(gpu, Tensor.from(gpu, nbr, [n, k]), k);
    const xt = Tensor.from(gpu, x, [n, stride]);
    const gt = Tensor.from(gpu, g0, [n, stride]);
    const out = Tensor.empty(gpu, [3], "f32");
    const r = lap.forward(graph, { tensor: xt, stride, offset, columns: c }, w, { out, offset: 1 });
    lap.backward(graph, r, { tensor: gt, stride, offset, columns: c });
    const ref = laplacianCpu(nbr, k, columns(x, n, stride, offset, c), c, w);
    const tr = transposeCpu(nbr, n, k);
    assert.deepEqual(await graph.inStart.read(), tr.start, `${what}: in-edge starts`);
    assert.deepEqual(
      (await graph.inSources.read()).slice(0, tr.src.length),
      tr.src,
      `${what}: in-edge sources`,
    );
    assertClose(await r.residual.read(), ref.residual, { atol: 1e-5, rtol: 1e-5, what: `${what}: residual` });
    const loss = (await out.read())[1];
    assertClose([loss], [ref.loss], { atol: 1e-6, rtol: 1e-5, what: `${what}: loss` });
    const want = Float64Array.from(g0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < c; j++) want[i * stride + offset + j] += ref.grad[i * c + j];
    }
    assertClose(await gt.read(), want, { atol: 1e-5, rtol: 1e-5, what: `${what}: accumulated gradient` });
    r.destroy();
    for (const t of [xt, gt, out]) t.destroy();
    graph.destroy();
  }
  lap.destroy();
});

Deno.test("laplacian: gradient matches central finite differences of the GPU loss", async () => {
  const gpu = await testGpu();
  const rng = new Rng(82);
  const lap = new LaplacianRegularizer(gpu);
  const n = 200, k = 6, c = 4, w = 2.5;
  const nbr = randomGraph(rng, n, k, 0.1);
  const graph = LaplacianGraph.fromNeighbours(gpu, Tensor.from(gpu, nbr, [n, k]), k);
  const x = rng.normals(n * c);
  const xt = Tensor.from(gpu, x, [n, c]);
  const gt = Tensor.empty(gpu, [n, c], "f32");
  const out = Tensor.empty(gpu, [1], "f32");
  const lossAt = async (v: Float32Array) => {
    xt.upload(v);
    lap.forward(graph, { tensor: xt, stride: c, columns: c }, w, { out }).destroy();
    return (await out.read())[0];
  };
  lap.backward(graph, lap.forward(graph, { tensor: xt, stride: c, columns: c }, w), {
    tensor: gt,
    stride: c,
    columns: c,
  });
  const grad = await gt.read();
  // The loss is quadratic, so central differences are exact up to f32 rounding; a large step keeps that small.
  const h = 0.25;
  const hubs = [0, 1, 2, 3].map((p) => p * c);
  const picks = [...hubs, ...Array.from({ length: 20 }, () => rng.int(n * c))];
  for (const e of picks) {
    const p = x.slice(), m = x.slice();
    p[e] += h;
    m[e] -= h;
    const fd = (await lossAt(p) - await lossAt(m)) / (2 * h);
    assertClose([grad[e]], [fd], { atol: 2e-4, rtol: 2e-3, what: `dL/dx[${e}]` });
  }
  for (const t of [xt, gt, out]) t.destroy();
  graph.destroy();
  lap.destroy();
});

/** Checks a kNN-built graph against brute force (distances, as ties may pick other indices) and the CPU loss. */
async function checkBuilt(points: Float32Array, k: number, what: string): Promise<void> {
  const gpu = await testGpu();
  const n = points.length / 3;
  const pt = Tensor.from(gpu, points, [n, 3]);
  const graph = LaplacianGraph.build(gpu, pt, k);
  assert.equal(graph.n, n, `${what}: node count`);
  const nbr = await graph.neighbours.read();
  const bf = knnBruteForce(points, k);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = nbr[i * k + t], want = bf.dist2[i * k + t];
      if (want === Infinity) {
        assert.equal(j, KNN_NONE, `${what}: node ${i} slot ${t} should be missing`);
        continue;
      }
      let d = 0;
      for (let a = 0; a < 3; a++) d += (points[3 * j + a] - points[3 * i + a]) ** 2;
      assert.ok(
        Math.abs(d - want) <= 1e-5 * (1 + want),
        `${what}: node ${i} slot ${t}: dist2 ${d} vs ${want}`,
      );
    }
  }
  const tr = transposeCpu(nbr, n, k);
  assert.deepEqual(await graph.inStart.read(), tr.start, `${what}: in-edge starts`);
  const lap = new LaplacianRegularizer(gpu);
  const x = new Rng(n).normals(n * 2);
  const xt = Tensor.from(gpu, x, [n, 2]);
  const out = Tensor.empty(gpu, [1], "f32");
  lap.forward(graph, { tensor: xt, stride: 2, columns: 2 }, 1, { out }).destroy();
  const ref = laplacianCpu(nbr, k, x, 2, 1);
  assertClose([(await out.read())[0]], [ref.loss], { atol: 1e-6, rtol: 1e-5, what: `${what}: loss` });
  for (const t of [pt, xt, out]) t.destroy();
  graph.destroy();
  lap.destroy();
}

Deno.test("laplacian: graph from knn, rebuilt on a changed point set", async () => {
  const rng = new Rng(83);
  const before = rng.floats(3 * 1500, -1, 1);
  await checkBuilt(before, 8, "initial points");
  // Densification-like change: points are moved, some dropped and new ones appended.
  const kept = before.slice(0, 3 * 1200).map((v) => v + 0.05 * rng.normal());
  const after = new Float32Array(3 * 1700);
  after.set(kept);
  after.set(rng.floats(3 * 500, -0.5, 0.5), kept.length);
  await checkBuilt(after, 8, "changed points");
  await checkBuilt(rng.floats(3 * 5, -1, 1), 8, "fewer points than k");
});

Deno.test("laplacian: invalid arguments fail with a clear message", async () => {
  const gpu = await testGpu();
  const pt = Tensor.empty(gpu, [10, 3], "f32");
  assert.throws(() => LaplacianGraph.build(gpu, pt, 0), /k must be an integer in 1\.\.16/);
  const graph = LaplacianGraph.build(gpu, pt, 4);
  const lap = new LaplacianRegularizer(gpu);
  assert.throws(
    () => lap.forward(graph, { tensor: pt, stride: 3, offset: 2, columns: 2 }, 1),
    /exceed the row/,
  );
  assert.throws(() => lap.forward(graph, { tensor: pt, stride: 4, columns: 4 }, 1), /at least 10 rows of 4/);
  const wide = Tensor.empty(gpu, [10, 40], "f32");
  assert.throws(
    () => lap.forward(graph, { tensor: wide, stride: 40, columns: 33 }, 1),
    /1\.\.32 columns, got 33/,
  );
  wide.destroy();
  graph.destroy();
  lap.destroy();
  pt.destroy();
});
