import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { cameraFromOpenGL, lookAt } from "../render/camera.ts";
import { renderCpu } from "../render/rasterize_cpu.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { destroyGaussians, randomGaussians, ringCameras, uploadGaussians } from "../render/random_scene.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Columns of `arr` [P, S] at `k` (e.g. alpha of aux). */
function column(arr: ArrayLike<number>, stride: number, k: number): number[] {
  const out: number[] = [];
  for (let i = k; i < arr.length; i += stride) out.push(arr[i]);
  return out;
}

Deno.test("camera: OpenGL camera-to-world converts to the OpenCV world-to-camera of lookAt", () => {
  const intr = { fx: 50, fy: 50, cx: 32, cy: 24, width: 64, height: 48 };
  const cam = lookAt([1, 2, 3], [0, 0, 0], [0, 1, 0], intr);
  // Build the OpenGL camera-to-world: columns x, -y, -z of the OpenCV rotation's rows, position = eye.
  const R = cam.rotation;
  const c2w = [
    [R[0], -R[3], -R[6], 1],
    [R[1], -R[4], -R[7], 2],
    [R[2], -R[5], -R[8], 3],
    [0, 0, 0, 1],
  ];
  const back = cameraFromOpenGL(c2w, intr);
  assertClose(back.rotation, cam.rotation, { atol: 1e-12, what: "rotation" });
  assertClose(back.translation, cam.translation, { atol: 1e-12, what: "translation" });
  // The target projects to the principal point and lies in front (z > 0).
  const t = [0, 1, 2].map((r) => back.translation[r]);
  assert.ok(t[2] > 0);
  assert.ok(Math.abs(t[0]) < 1e-12 && Math.abs(t[1]) < 1e-12);
  // World up projects upwards in the image (smaller y).
  const up = [0, 1, 2].map((r) => R[3 * r + 1]);
  assert.ok(up[1] < 0);
});

Deno.test("render forward: GPU matches the float64 CPU reference on a hard random scene", async () => {
  const gpu = await testGpu();
  const rng = new Rng(7);
  const shDegree = 3, C = 5;
  const n = 400;
  const d = randomGaussians(rng, n, { shDegree, extraChannels: C, extent: 1.2 });
  // Special cases: huge, tiny, equal depth pairs, behind the camera, non-finite values of every kind.
  for (let i = 0; i < 6; i++) d.logScales.set([0.2, -0.3, 0.1], 3 * i); // huge (cover many tiles)
  for (let i = 6; i < 20; i++) d.logScales.set([-7, -7, -6.5], 3 * i); // tiny (sub-pixel, dilated)
  for (let i = 20; i < 40; i += 2) {
    // equal depth for camera 0 (looking along -z from +z): same z, different x
    d.means.set([d.means[3 * i] + 0.05, d.means[3 * i + 1], d.means[3 * i + 2]], 3 * (i + 1));
  }
  for (let i = 40; i < 50; i++) {
    d.means.set([rng.uniform(-1, 1), rng.uniform(-1, 1), 4.5 + rng.uniform(0, 3)], 3 * i);
  }
  d.means[3 * 50] = NaN;
  d.quats[4 * 51 + 2] = Infinity;
  d.logScales[3 * 52 + 1] = NaN;
  d.opacityLogits[53] = NaN;
  d.sh[54 * 16 * 3 + 5] = -Infinity;
  d.extras[55 * C + 2] = NaN;
  d.quats.set([0, 0, 0, 0], 4 * 56);
  const cams = [
    lookAt([0, 0, 4], [0, 0, 0], [0, 1, 0], { fx: 60, fy: 62, cx: 35.5, cy: 24, width: 70, height: 50 }),
    ...ringCameras(2, 70, 50, { radius: 3.5, phase: 0.7 }),
  ];
  const background = [0.2, 0.4, 0.9];
  const raster = new GaussianRasterizer(gpu, { shDegree, extraChannels: C, background });
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, cams);
  const rgb = await out.rgb.read();
  const ext = await out.extras.read();
  const aux = await out.aux.read();
  const stats = await out.stats.read();
  const ref = renderCpu(d, cams, { shDegree, extraChannels: C, background });

  assert.deepEqual([...stats], ref.stats, "cull statistics");
  assert.ok(ref.stats[1] >= 4 * 3, `non-finite culls ${ref.stats[1]}`); // the other 3 may be off-image first
  assert.ok(ref.stats[2] > 0, "some Gaussians behind the near plane");
  assert.ok(!rgb.some((x) => !Number.isFinite(x)), "image is finite");
  assertClose(rgb, ref.rgb, { atol: 1e-4, rtol: 0, what: "rgb" });
  assertClose(ext, ref.extras, { atol: 1e-4, rtol: 0, what: "extras" });
  assertClose(column(aux, 4, 0), column(ref.aux, 4, 0), { atol: 1e-4, rtol: 0, what: "alpha" });
  assertClose(column(aux, 4, 1), column(ref.aux, 4, 1), { atol: 1e-4, rtol: 1e-4, what: "depth" });
  assertClose(column(aux, 4, 2), column(ref.aux, 4, 2), { atol: 1e-4, rtol: 0, what: "transmittance" });
  assert.deepEqual(column(aux, 4, 3), column(ref.aux, 4, 3), "last contributor");
  // The scene really is non-trivial: many tiles covered, a mix of opaque and empty pixels.
  const alpha = column(aux, 4, 0);
  const opaque = alpha.filter((a) => a > 0.9).length, clear = alpha.filter((a) => a < 0.1).length;
  assert.ok(opaque > 300 && clear > 30, `opaque ${opaque}, clear ${clear}`);
  assert.ok(out.pairs > 1000, `pairs ${out.pairs}`);
  out.destroy();
  destroyGaussians(g);
  raster.destroy();
});

Deno.test("render forward: many views in one batch equal one view at a time; degree 0 and no extras", async () => {
  const gpu = await testGpu();
  const rng = new Rng(8);
  const d = randomGaussians(rng, 300, { shDegree: 0, extraChannels: 0 });
  const cams = ringCameras(5, 40, 33);
  const raster = new GaussianRasterizer(gpu, { shDegree: 0, extraChannels: 0 });
  const g = uploadGaussians(gpu, d);
  const all = await raster.render(g, cams);
  const rgbAll = await all.rgb.read();
  const ref = renderCpu(d, cams, { shDegree: 0, extraChannels: 0 });
  assertClose(rgbAll, ref.rgb, { atol: 1e-4, rtol: 0, what: "batched rgb" });
  for (let v = 0; v < cams.length; v++) {
    const one = await raster.render(g, [cams[v]]);
    const rgb = await one.rgb.read();
    const px = 40 * 33 * 3;
    assertClose(rgb, rgbAll.subarray(v * px, (v + 1) * px), { atol: 1e-6, what: `view ${v}` });
    one.destroy();
  }
  all.destroy();
  destroyGaussians(g);
  raster.destroy();
});

Deno.test("render forward: 32 extra channels (smaller staging batches) match the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(9);
  const C = 32;
  const d = randomGaussians(rng, 600, {
    shDegree: 1,
    extraChannels: C,
    logScale: [-3, -2],
    opacityLogit: [-3, 0],
  });
  const cams = ringCameras(2, 40, 33);
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: C });
  assert.ok(raster.blendBatch < 256, `batch ${raster.blendBatch}`);
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, cams);
  const ref = renderCpu(d, cams, { shDegree: 1, extraChannels: C });
  assertClose(await out.rgb.read(), ref.rgb, { atol: 1e-4, rtol: 0, what: "rgb" });
  assertClose(await out.extras.read(), ref.extras, { atol: 1e-4, rtol: 0, what: "extras" });
  const last = column(await out.aux.read(), 4, 3);
  assert.ok(
    Math.max(...last) > raster.blendBatch,
    `a tile list longer than one batch (${Math.max(...last)})`,
  );
  out.destroy();
  destroyGaussians(g);
  raster.destroy();
});

Deno.test("render forward: an empty scene renders the background", async () => {
  const gpu = await testGpu();
  const d = randomGaussians(new Rng(10), 0, { shDegree: 0, extraChannels: 0 });
  const raster = new GaussianRasterizer(gpu, { shDegree: 0, extraChannels: 0, background: [0.25, 0.5, 1] });
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, ringCameras(2, 20, 17));
  const rgb = await out.rgb.read();
  assert.equal(out.pairs, 0);
  for (let i = 0; i < rgb.length; i += 3) assert.deepEqual([...rgb.subarray(i, i + 3)], [0.25, 0.5, 1]);
  out.destroy();
  destroyGaussians(g);
  raster.destroy();
});
