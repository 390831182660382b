/**
 * Renders recorded without a read-back (`GaussianRasterizer.record`): the pair sizing kernel against its CPU
 * reference, a record with enough capacity equals the exact render bit for bit (forward and backward), an
 * exceeded capacity is flagged on the GPU and grows the capacity so the redone render is exact, and the radix
 * sort honours a GPU-side count with an indirect grid.
 */
import assert from "node:assert/strict";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { radixSort, radixSortCpu, SORT_TILE } from "../gpu/radix_sort.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { pairArgsCpu, PairCapacity } from "../render/pair_capacity.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { destroyGaussians, randomGaussians, ringCameras, uploadGaussians } from "../render/random_scene.ts";
import pairArgsSrc from "../render/pair_args.wgsl" with { type: "text" };
import { testGpu } from "./helpers.ts";

Deno.test("pair args: the GPU sizing kernel matches its CPU reference", async () => {
  const gpu = await testGpu();
  for (const [total, cap, maxDim] of [[0, 10, 65535], [5000, 9000, 65535], [9001, 9000, 3], [3e6, 4e6, 7]]) {
    const offsets = Tensor.from(gpu, Uint32Array.from([0, 7, total]));
    const info = Tensor.empty(gpu, [4], "u32");
    const args = gpu.device.createBuffer({
      size: 32,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_SRC,
    });
    dispatch(gpu, gpu.pipeline(pairArgsSrc), {
      bindings: [offsets, info, args, uniforms(gpu, [2, cap, SORT_TILE, 128, maxDim])],
      workgroups: 1,
    });
    const a = new Tensor(gpu, args, [8], "u32", "args");
    const ref = pairArgsCpu(total, cap, 128, maxDim);
    assert.deepEqual([...await info.read()], [...ref.info], `info ${total}/${cap}`);
    assert.deepEqual([...await a.read()], [...ref.args], `args ${total}/${cap}`);
    offsets.destroy();
    info.destroy();
    args.destroy();
  }
});

Deno.test("radix sort: a GPU-side count with an indirect grid sorts only the counted prefix", async () => {
  const gpu = await testGpu();
  const rng = new Rng(5);
  const cap = 3 * SORT_TILE + 17, used = SORT_TILE + 300;
  const keys = Uint32Array.from({ length: cap }, () => rng.int(1 << 12));
  const vals = Uint32Array.from({ length: cap }, (_, i) => i);
  const k = Tensor.from(gpu, keys), v = Tensor.from(gpu, vals);
  const count = Tensor.from(gpu, Uint32Array.from([99, used]));
  const args = gpu.device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST,
  });
  gpu.device.queue.writeBuffer(args, 0, Uint32Array.from([Math.ceil(used / SORT_TILE), 1, 1, 0]));
  radixSort(gpu, k, v, {
    bits: 12,
    count: cap,
    countFrom: { tensor: count, index: 1 },
    indirect: { buffer: args, offset: 0 },
  });
  const ref = radixSortCpu(keys, vals, 12, used);
  const gk = await k.read(), gv = await v.read();
  assert.deepEqual([...gk.subarray(0, used)], [...ref.keys]);
  assert.deepEqual([...gv.subarray(0, used)], [...ref.values]);
  for (const t of [k, v, count]) t.destroy();
  args.destroy();
});

Deno.test("render record: enough capacity equals the exact render; an exceeded one is flagged, grown, redone", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11);
  const d = randomGaussians(rng, 1500, { shDegree: 1, extraChannels: 0, extent: 1.2 });
  const cams = ringCameras(2, 64, 48, { radius: 3.5 });
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 0 });
  const g = uploadGaussians(gpu, d);
  const exact = await raster.render(g, cams);
  const total = exact.pairs;
  assert.ok(total > 2000, `pairs ${total}`);
  const rgb = await exact.rgb.read();
  const grads = () => ({
    means: Tensor.empty(gpu, [3 * 1500]),
    quats: Tensor.empty(gpu, [4 * 1500]),
    logScales: Tensor.empty(gpu, [3 * 1500]),
    opacityLogits: Tensor.empty(gpu, [1500]),
    sh: Tensor.empty(gpu, [12 * 1500]),
  });
  const up = Tensor.from(gpu, Float32Array.from({ length: rgb.length }, () => rng.uniform(-1, 1)));
  const ge = grads();
  raster.backward(g, exact, { rgb: up }, ge);
  const exactMeans = await ge.means.read();
  exact.destroy();

  const capacity = new PairCapacity(raster.maxPairs, Math.floor(total / 3));
  const small = raster.record(g, cams, capacity.value);
  const info = await small.pairInfo.read();
  assert.deepEqual([...info], [total, capacity.value, 1, capacity.value], "overflow flagged on the GPU");
  const before = capacity.value;
  assert.equal(capacity.observe(info[0], info[3]), true, "observe reports the overflow");
  assert.ok(capacity.value >= total && capacity.value > before, `grown to ${capacity.value}`);
  small.destroy();

  const redo = raster.record(g, cams, capacity.value);
  assert.deepEqual([...await redo.pairInfo.read()], [total, total, 0, capacity.value]);
  assert.deepEqual([...await redo.rgb.read()], [...rgb], "the redone render equals the exact one");
  const gr = grads();
  raster.backward(g, redo, { rgb: up }, gr);
  assert.deepEqual([...await gr.means.read()], [...exactMeans], "and so does its backward");
  redo.destroy();
  for (const t of [...Object.values(ge), ...Object.values(gr), up]) t.destroy();
  destroyGaussians(g);
  raster.destroy();
});

Deno.test("pair capacity: grows near the limit and on overflow, never shrinks, refuses the impossible", () => {
  const c = new PairCapacity(10_000, 1000);
  assert.equal(c.observe(800), false);
  assert.equal(c.value, 1000);
  assert.equal(c.observe(950), false);
  assert.equal(c.value, 1188);
  assert.equal(c.observe(2000, 1188), true);
  assert.equal(c.value, 2500);
  assert.equal(c.observe(10), false);
  assert.equal(c.value, 2500);
  assert.equal(c.observe(9900), true);
  assert.equal(c.value, 10_000);
  assert.throws(() => c.observe(10_001), /exceed the device's largest storage buffer/);
});
