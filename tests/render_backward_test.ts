import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type GaussianArrays, projectCpu, renderCpu } from "../render/rasterize_cpu.ts";
import { rasterizeBackward } from "../render/rasterize_backward.ts";
import { GaussianRasterizer, readRenderStats } from "../render/rasterizer.ts";
import { destroyGaussians, randomGaussians, ringCameras, uploadGaussians } from "../render/random_scene.ts";
import type { Camera } from "../render/camera.ts";
import { assertClose, testGpu } from "./helpers.ts";

type Field = "means" | "quats" | "logScales" | "opacityLogits" | "sh" | "extras";
const FIELDS: Field[] = ["means", "quats", "logScales", "opacityLogits", "sh", "extras"];

interface Upstream {
  rgb: Float32Array;
  extras: Float32Array;
  alpha: Float32Array;
}

/** L = sum(wRgb * rgb) + sum(wExtra * extras) + sum(wAlpha * alpha) of the float64 CPU render. */
function cpuLoss(
  g: GaussianArrays,
  cams: Camera[],
  up: Upstream,
  shDegree: number,
  C: number,
  bg: number[],
): number {
  const r = renderCpu(g, cams, { shDegree, extraChannels: C, background: bg });
  let l = 0;
  for (let i = 0; i < r.rgb.length; i++) l += up.rgb[i] * r.rgb[i];
  for (let i = 0; i < r.extras.length; i++) l += up.extras[i] * r.extras[i];
  for (let i = 0; i < up.alpha.length; i++) l += up.alpha[i] * r.aux[4 * i];
  return l;
}

Deno.test("render backward: every parameter gradient matches central differences of the CPU reference", async () => {
  const gpu = await testGpu();
  const rng = new Rng(21);
  const shDegree = 3, C = 5, n = 14;
  const bg = [0.3, 0.1, 0.6];
  const d = randomGaussians(rng, n, {
    shDegree,
    extraChannels: C,
    extent: 0.6,
    logScale: [-1.7, -1.0],
    opacityLogit: [-1, 1],
    shStd: 0.15,
  });
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) d.sh[i * 48 + c] = rng.uniform(-0.5, 1.2);
  const cams = ringCameras(2, 40, 36, { radius: 4, fovDeg: 45 });
  const px = 2 * 40 * 36;
  const up: Upstream = { rgb: rng.floats(px * 3), extras: rng.floats(px * C), alpha: rng.floats(px) };

  const raster = new GaussianRasterizer(gpu, { shDegree, extraChannels: C, background: bg });
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, cams);
  const grads = {
    means: Tensor.empty(gpu, [n * 3]),
    quats: Tensor.empty(gpu, [n * 4]),
    logScales: Tensor.empty(gpu, [n * 3]),
    opacityLogits: Tensor.empty(gpu, [n]),
    sh: Tensor.empty(gpu, [n * 48]),
    extras: Tensor.empty(gpu, [n * C]),
    densify: Tensor.empty(gpu, [n, 4]),
  };
  const upT = {
    rgb: Tensor.from(gpu, up.rgb),
    extras: Tensor.from(gpu, up.extras),
    alpha: Tensor.from(gpu, up.alpha),
  };
  rasterizeBackward(raster, g, out, upT, grads);

  // Every Gaussian visible in both views (the test is meant to exercise all of them).
  for (const cam of cams) {
    for (let i = 0; i < n; i++) assert.equal(typeof projectCpu(d, shDegree, C, cam, i), "object");
  }
  const f64: Record<Field, Float64Array> = {
    means: Float64Array.from(d.means),
    quats: Float64Array.from(d.quats),
    logScales: Float64Array.from(d.logScales),
    opacityLogits: Float64Array.from(d.opacityLogits),
    sh: Float64Array.from(d.sh),
    extras: Float64Array.from(d.extras),
  };
  const scene: GaussianArrays = { count: n, ...f64 };
  const h = 1e-6;
  for (const field of FIELDS) {
    const got = await grads[field].read();
    const arr = f64[field];
    const fd = new Float64Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      arr[i] = x + h;
      const lp = cpuLoss(scene, cams, up, shDegree, C, bg);
      arr[i] = x - h;
      const lm = cpuLoss(scene, cams, up, shDegree, C, bg);
      arr[i] = x;
      fd[i] = (lp - lm) / (2 * h);
    }
    let num = 0, den = 0, maxRef = 0;
    for (let i = 0; i < fd.length; i++) {
      num += (got[i] - fd[i]) ** 2;
      den += fd[i] ** 2;
      maxRef = Math.max(maxRef, Math.abs(fd[i]));
    }
    const rel = Math.sqrt(num / den);
    assert.ok(den > 0, `${field}: zero reference gradient`);
    assert.ok(rel < 1e-2, `${field}: relative error ${rel.toExponential(2)}`);
    for (let i = 0; i < fd.length; i++) {
      const err = Math.abs(got[i] - fd[i]);
      assert.ok(
        err <= 1e-2 * Math.abs(fd[i]) + 1e-3 * maxRef,
        `${field}[${i}]: GPU ${got[i]}, finite differences ${fd[i]}`,
      );
    }
  }

  // Every work split (pixel blocks per invocation) gives the same image and gradients.
  for (const blocks of [1, 2, 4, 8]) {
    const r2 = new GaussianRasterizer(gpu, {
      shDegree,
      extraChannels: C,
      background: bg,
      blocksPerThread: blocks,
    });
    const o2 = await r2.render(g, cams);
    assertClose(await o2.rgb.read(), await out.rgb.read(), {
      atol: 1e-6,
      rtol: 0,
      what: `forward rgb with ${blocks} pixel blocks per invocation`,
    });
    const g2 = Object.fromEntries(FIELDS.map((f) => [f, Tensor.empty(gpu, [grads[f].size])])) as Record<
      Field,
      Tensor
    >;
    r2.backward(g, o2, upT, g2);
    for (const field of FIELDS) {
      const want = await grads[field].read();
      const got = await g2[field].read();
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assertClose(got, want, {
        atol: 1e-5 * scale,
        rtol: 1e-4,
        what: `${field} with ${blocks} pixel blocks per invocation`,
      });
      g2[field].destroy();
    }
    o2.destroy();
    r2.destroy();
  }

  // Density statistics: visible in both views; |sum of |g|| >= |sum of g| per view (triangle inequality).
  const dens = await grads.densify.read();
  for (let i = 0; i < n; i++) {
    assert.equal(dens[4 * i + 2], 2, `views visible for ${i}`);
    assert.ok(dens[4 * i] > 0 && dens[4 * i + 1] >= dens[4 * i] * (1 - 1e-5), `densify stats of ${i}`);
  }
  out.destroy();
  destroyGaussians(g);
  for (const t of [...Object.values(grads), ...Object.values(upT)]) t.destroy();
  raster.destroy();
});

Deno.test("render backward: non-finite Gaussians are culled, get zero gradients, others stay finite", async () => {
  const gpu = await testGpu();
  const rng = new Rng(22);
  const n = 200;
  const d = randomGaussians(rng, n, { shDegree: 1, extraChannels: 2 });
  d.means[0] = NaN;
  d.quats[4 * 1] = Infinity;
  d.logScales[3 * 2] = NaN;
  d.opacityLogits[3] = -Infinity;
  d.sh[4 * 12 + 3] = NaN;
  d.extras[5 * 2] = NaN;
  const cams = ringCameras(3, 48, 40);
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 2 });
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, cams);
  const rgb = await out.rgb.read();
  assert.ok(rgb.every(Number.isFinite), "image is finite");
  const stats = await readRenderStats(out);
  assert.ok(stats.nonFinite >= 3 * 3, `non-finite culls: ${stats.nonFinite}`);
  assert.equal(stats.visible + stats.nonFinite + stats.behindNearPlane + stats.offImage, 3 * n);
  const px = 3 * 48 * 40;
  const upT = { rgb: Tensor.from(gpu, rng.floats(px * 3)), alpha: Tensor.from(gpu, rng.floats(px)) };
  const grads = {
    means: Tensor.empty(gpu, [n * 3]),
    quats: Tensor.empty(gpu, [n * 4]),
    logScales: Tensor.empty(gpu, [n * 3]),
    opacityLogits: Tensor.empty(gpu, [n]),
    sh: Tensor.empty(gpu, [n * 12]),
    extras: Tensor.empty(gpu, [n * 2]),
  };
  rasterizeBackward(raster, g, out, upT, grads);
  for (const [name, t] of Object.entries(grads)) {
    const a = await t.read();
    assert.ok(
      a.every(Number.isFinite),
      `${name} gradient is finite: ${a.findIndex((x) => !Number.isFinite(x))}`,
    );
    const per = a.length / n;
    for (let i = 0; i < 6; i++) {
      for (let k = 0; k < per; k++) {
        assert.equal(a[i * per + k], 0, `${name} gradient of culled Gaussian ${i}`);
      }
    }
  }
  out.destroy();
  destroyGaussians(g);
  for (const t of [...Object.values(grads), ...Object.values(upT)]) t.destroy();
  raster.destroy();
});

Deno.test("render backward: tile lists longer than one batch (sampled central differences)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(23);
  const shDegree = 1, C = 2, n = 360;
  const d = randomGaussians(rng, n, {
    shDegree,
    extraChannels: C,
    extent: 0.3,
    logScale: [-1.1, -0.6],
    opacityLogit: [-5, -3],
  });
  const cams = ringCameras(1, 24, 20, { radius: 4, fovDeg: 30, tilt: 0 });
  const px = 24 * 20;
  const up: Upstream = { rgb: rng.floats(px * 3), extras: rng.floats(px * C), alpha: rng.floats(px) };
  const raster = new GaussianRasterizer(gpu, { shDegree, extraChannels: C });
  const g = uploadGaussians(gpu, d);
  const out = await raster.render(g, cams);
  const last = (await out.aux.read()).filter((_, i) => i % 4 === 3);
  assert.ok(Math.max(...last) > 300, `longest walk ${Math.max(...last)} entries`);
  const grads = Object.fromEntries(
    FIELDS.map((f) => [f, Tensor.empty(gpu, [d[f].length])]),
  ) as Record<Field, Tensor>;
  const upT = {
    rgb: Tensor.from(gpu, up.rgb),
    extras: Tensor.from(gpu, up.extras),
    alpha: Tensor.from(gpu, up.alpha),
  };
  raster.backward(g, out, upT, grads);
  const scene: GaussianArrays = {
    count: n,
    means: Float64Array.from(d.means),
    quats: Float64Array.from(d.quats),
    logScales: Float64Array.from(d.logScales),
    opacityLogits: Float64Array.from(d.opacityLogits),
    sh: Float64Array.from(d.sh),
    extras: Float64Array.from(d.extras),
  };
  const h = 1e-6;
  for (const field of FIELDS) {
    const got = await grads[field].read();
    const arr = scene[field] as Float64Array;
    const idx = Array.from({ length: 8 }, () => rng.int(arr.length));
    const fd = idx.map((i) => {
      const x = arr[i];
      arr[i] = x + h;
      const lp = cpuLoss(scene, cams, up, shDegree, C, [0, 0, 0]);
      arr[i] = x - h;
      const lm = cpuLoss(scene, cams, up, shDegree, C, [0, 0, 0]);
      arr[i] = x;
      return (lp - lm) / (2 * h);
    });
    const maxRef = Math.max(...fd.map(Math.abs));
    assert.ok(maxRef > 0, `${field}: zero reference gradient`);
    idx.forEach((i, k) => {
      const err = Math.abs(got[i] - fd[k]);
      assert.ok(
        err <= 1e-2 * Math.abs(fd[k]) + 2e-3 * maxRef,
        `${field}[${i}]: GPU ${got[i]}, finite differences ${fd[k]}`,
      );
    });
  }
  out.destroy();
  destroyGaussians(g);
  for (const t of [...Object.values(grads), ...Object.values(upT)]) t.destroy();
  raster.destroy();
});
