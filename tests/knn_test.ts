import assert from "node:assert/strict";
import { knn, KNN_NONE } from "../gpu/knn.ts";
import { knnBruteForce } from "../gpu/knn_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { testGpu } from "./helpers.ts";

/**
 * Runs the GPU kNN and compares with brute force on `queries` (default all points): the distance lists must match
 * (ties may pick different indices), every returned index must be another point whose distance matches the
 * reported one, with no repeats, and missing neighbours must be the sentinel.
 */
async function checkKnn(points: Float32Array, k: number, what: string, queries?: number[]): Promise<void> {
  const gpu = await testGpu();
  const n = points.length / 3;
  const pt = Tensor.from(gpu, points, [n, 3]);
  const { indices, dist2 } = knn(gpu, pt, k);
  assert.deepEqual(indices.shape, [n, k]);
  const gi = await indices.read(), gd = await dist2.read();
  const qs = queries ?? Array.from({ length: n }, (_, i) => i);
  const ref = knnBruteForce(points, k, qs);
  let scale = 0;
  for (const v of points) scale = Math.max(scale, Math.abs(v));
  const atol = 1e-5 * Math.max(scale * scale, 1e-30);
  for (let qi = 0; qi < qs.length; qi++) {
    const i = qs[qi];
    const seen = new Set<number>();
    for (let t = 0; t < k; t++) {
      const want = ref.dist2[qi * k + t], got = gd[i * k + t], j = gi[i * k + t];
      const at = `${what}: point ${i} neighbour ${t}`;
      if (want === Infinity) {
        assert.equal(j, KNN_NONE, `${at}: expected the sentinel index`);
        assert.equal(got, Infinity, `${at}: expected +inf`);
        continue;
      }
      assert.ok(Math.abs(got - want) <= atol + 1e-5 * want, `${at}: dist2 ${got}, brute force ${want}`);
      assert.ok(j !== i && j < n && !seen.has(j), `${at}: bad or repeated index ${j}`);
      seen.add(j);
      const dx = points[3 * j] - points[3 * i], dy = points[3 * j + 1] - points[3 * i + 1];
      const dz = points[3 * j + 2] - points[3 * i + 2];
      const d = dx * dx + dy * dy + dz * dz;
      assert.ok(Math.abs(d - got) <= atol + 1e-5 * d, `${at}: index ${j} is at dist2 ${d}, reported ${got}`);
    }
  }
  for (const t of [pt, indices, dist2]) t.destroy();
}

function uniformCloud(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return rng.floats(3 * n, lo, hi);
}

Deno.test("knn: uniform random points match brute force (k = 1, 8, 16; sizes across workgroups)", async () => {
  const rng = new Rng(41);
  for (const n of [2, 17, 64, 65, 257, 1009]) {
    for (const k of [1, 8, 16]) await checkKnn(uniformCloud(rng, n), k, `uniform n=${n} k=${k}`);
  }
});

Deno.test("knn: fewer than k + 1 points fill the rest with the sentinel", async () => {
  const rng = new Rng(42);
  await checkKnn(uniformCloud(rng, 1), 4, "n=1");
  await checkKnn(uniformCloud(rng, 5), 8, "n=5 k=8");
  await checkKnn(uniformCloud(rng, 16), 16, "n=16 k=16");
});

Deno.test("knn: duplicates, all-identical points, a plane, a line, and a far-off centre", async () => {
  const rng = new Rng(43);
  const sites = uniformCloud(rng, 40);
  const dup = new Float32Array(3 * 700);
  for (let i = 0; i < 700; i++) dup.set(sites.subarray(3 * (i % 40), 3 * (i % 40) + 3), 3 * i);
  await checkKnn(dup, 16, "40 sites x 17-18 copies");
  await checkKnn(dup.slice(0, 3 * 300), 8, "duplicates k=8");
  await checkKnn(new Float32Array(3 * 50).fill(0.25), 8, "all identical");
  await checkKnn(new Float32Array(3 * 70000).fill(-2), 16, "70k identical", [0, 1, 5, 16, 17, 69999]);
  const plane = uniformCloud(rng, 1500);
  for (let i = 0; i < 1500; i++) plane[3 * i + 2] = 0.5;
  await checkKnn(plane, 8, "plane z = 0.5");
  const line = new Float32Array(3 * 800);
  for (let i = 0; i < 800; i++) line[3 * i] = rng.uniform(-5, 5);
  await checkKnn(line, 16, "line along x");
  const far = uniformCloud(rng, 1200, -0.01, 0.01);
  for (let i = 0; i < far.length; i++) far[i] += 1000;
  await checkKnn(far, 8, "small cloud centred at 1000");
});

Deno.test("knn: clustered points with outliers match brute force", async () => {
  const rng = new Rng(44);
  const n = 4000;
  const pts = new Float32Array(3 * n);
  const centres = [[0, 0, 0], [5, 1, -2], [5.02, 1, -2], [-30, 40, 10]];
  const spread = [0.3, 0.01, 0.001, 2];
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    for (let a = 0; a < 3; a++) pts[3 * i + a] = centres[c][a] + spread[c] * rng.normal();
  }
  for (let i = 0; i < 10; i++) pts.set([rng.uniform(-100, 100), rng.uniform(-100, 100), 200], 3 * i);
  await checkKnn(pts, 16, "clusters k=16");
  await checkKnn(pts, 3, "clusters k=3");
});

Deno.test("knn: a dense cluster with far floaters stays exact (and fast: the grid ignores the outliers)", async () => {
  const rng = new Rng(46);
  const n = 20000;
  const pts = new Float32Array(3 * n);
  for (let i = 0; i < 3 * n; i++) pts[i] = 0.05 * rng.normal();
  for (let i = 0; i < 20; i++) {
    pts.set([rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-50, 50)], 3 * i);
  }
  const qs = [...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 200 }, () => rng.int(n))];
  await checkKnn(pts, 16, "cluster + floaters", qs);
});

Deno.test("knn: 30k uniform points, brute force on a sample of queries", async () => {
  const rng = new Rng(45);
  const n = 30011;
  const pts = uniformCloud(rng, n, 0, 3);
  const qs = Array.from({ length: 300 }, () => rng.int(n));
  await checkKnn(pts, 16, "30k k=16", qs);
});
