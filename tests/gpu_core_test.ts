import assert from "node:assert/strict";
import { dispatch, linearWorkgroups, uniforms } from "../gpu/dispatch.ts";
import { GpuValidationError } from "../gpu/device.ts";
import { readTensors, Tensor, TensorPool } from "../gpu/tensor.ts";
import { Rng } from "../gpu/rng.ts";
import { assertClose, testGpu } from "./helpers.ts";

// y[i] = a * x[i] + b, with the 2-D split grid convention of gpu/dispatch.ts.
const AXPB = /* wgsl */ `
struct P { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
override WG: u32 = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= p.n) { return; }
  y[i] = p.a * x[i] + p.b;
}`;

Deno.test("gpu: acquisition reports adapter, limits and features", async () => {
  const gpu = await testGpu();
  assert.ok(gpu.adapterName.length > 0);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024);
  assert.equal(typeof gpu.features.shaderF16, "boolean");
});

Deno.test("gpu: on Linux only the Vulkan backend is loaded (no EGL / GL driver beside it)", async () => {
  await testGpu();
  const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (Deno.build.os !== "linux" || backend !== "vulkan") {
    console.warn(`skipped: ${Deno.build.os}, DENO_WEBGPU_BACKEND=${backend ?? "(unset)"}`);
    return;
  }
  const libs = new Set(
    Deno.readTextFileSync("/proc/self/maps").split("\n").map((l) => l.split(/\s+/)[5] ?? "").filter((p) => p),
  );
  const gl = [...libs].filter((p) => /\/lib(EGL|GLX|GL|gbm)[._]|swrast|_dri\.so/.test(p));
  assert.deepEqual(gl, [], "GL stack mapped although DENO_WEBGPU_BACKEND=vulkan");
});

Deno.test("gpu: linearWorkgroups splits past the per-dimension limit", () => {
  assert.deepEqual(linearWorkgroups(10), [10, 1, 1]);
  const [x, y] = linearWorkgroups(200000);
  assert.ok(x <= 65535 && x * y >= 200000 && (x - 1) * y < 200000 + y);
  assert.deepEqual(linearWorkgroups(7, 3), [3, 3, 1]);
});

Deno.test("gpu: tensor round trip, dispatch with uniforms and override constants, split grid", async () => {
  const gpu = await testGpu();
  const rng = new Rng(1);
  for (const [n, wg] of [[1, 64], [257, 64], [4_300_000, 32]] as const) {
    const x = rng.floats(n);
    const tx = Tensor.from(gpu, x);
    const ty = Tensor.empty(gpu, [n]);
    const pipe = gpu.pipeline(AXPB, "main", { WG: wg }, "axpb");
    dispatch(gpu, pipe, {
      bindings: [tx, ty, uniforms(gpu, [n, { f32: 2 }, { f32: -1 }])],
      workgroups: Math.ceil(n / wg),
    });
    const y = await ty.read();
    const want = x.map((v) => 2 * v - 1);
    assertClose(y, want, { atol: 1e-6, what: `axpb n=${n}` });
    tx.destroy();
    ty.destroy();
  }
});

Deno.test("gpu: upload after recorded work does not change what that work saw", async () => {
  const gpu = await testGpu();
  const tx = Tensor.from(gpu, new Float32Array([1, 2, 3]));
  const ty = Tensor.empty(gpu, [3]);
  dispatch(gpu, gpu.pipeline(AXPB, "main", {}, "axpb"), {
    bindings: [tx, ty, uniforms(gpu, [3, { f32: 1 }, { f32: 0 }])],
    workgroups: 1,
  });
  tx.upload(new Float32Array([7, 8, 9]));
  assert.deepEqual([...await ty.read()], [1, 2, 3]);
  assert.deepEqual([...await tx.read()], [7, 8, 9]);
});

Deno.test("gpu: readTensors reads several tensors (odd sizes, dtypes, empty) with one wait", async () => {
  const gpu = await testGpu();
  const rng = new Rng(9);
  const a = rng.floats(5), b = rng.uints(3), c = Int32Array.from([-7, 0, 7, 1 << 30]);
  const ts = [Tensor.from(gpu, a), Tensor.from(gpu, b), Tensor.empty(gpu, [0]), Tensor.from(gpu, c)];
  const w0 = gpu.waits;
  const got = await readTensors(gpu, ts);
  assert.equal(gpu.waits - w0, 1);
  assert.deepEqual(got, [a, b, new Float32Array(0), c]);
  assert.notEqual(got[0].buffer, got[1].buffer, "each result owns its buffer");
  assert.deepEqual(await readTensors(gpu, []), []);
  for (const t of ts) t.destroy();
});

Deno.test("gpu: pool reuses buffers and hands them out zeroed", async () => {
  const gpu = await testGpu();
  const pool = new TensorPool(gpu);
  const a = pool.acquire([100]);
  a.upload(new Float32Array(100).fill(5));
  const buf = a.buffer;
  a.destroy();
  const b = pool.acquire([10, 10]);
  assert.equal(b.buffer, buf);
  assert.ok((await b.read()).every((v) => v === 0));
  b.destroy();
  pool.clear();
});

Deno.test("gpu: a WGSL compile error surfaces as one GpuValidationError naming the kernel", async () => {
  const gpu = await testGpu();
  gpu.pipeline("@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }", "main", {}, "broken-kernel");
  await assert.rejects(
    () => gpu.sync(),
    (e: Error) => e instanceof GpuValidationError && /broken-kernel/.test(e.message),
  );
  await gpu.sync();
});
