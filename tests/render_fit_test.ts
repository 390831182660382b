import assert from "node:assert/strict";
import { encode } from "fast-png";
import { adamStep } from "../gpu/adam.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { GaussianRasterizer, type GaussianTensors } from "../render/rasterizer.ts";
import { destroyGaussians, randomGaussians, ringCameras, uploadGaussians } from "../render/random_scene.ts";
import { testGpu } from "./helpers.ts";

const SIZE = 48;

function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(1 / (se / a.length));
}

/** Writes images [H, W, 3] in [0, 1] side by side as a PNG under test-output/ (for looking at, not checked). */
async function savePng(name: string, images: Float32Array[]): Promise<void> {
  const w = SIZE * images.length;
  const data = new Uint8Array(w * SIZE * 3);
  images.forEach((img, k) => {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        for (let c = 0; c < 3; c++) {
          const v = img[(y * SIZE + x) * 3 + c];
          data[(y * w + k * SIZE + x) * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
        }
      }
    }
  });
  await Deno.mkdir("test-output", { recursive: true });
  await Deno.writeFile(`test-output/${name}.png`, encode({ width: w, height: SIZE, data, channels: 3 }));
}

Deno.test("render fit: 2,000 random Gaussians fitted with Adam to 8 views generalize to a 9th (PSNR >= 28)", async () => {
  const gpu = await testGpu();
  const raster = new GaussianRasterizer(gpu, { shDegree: 0, extraChannels: 0 });
  // Known scene: 150 opaque-ish blobs of several colours.
  const truth = randomGaussians(new Rng(31), 150, {
    shDegree: 0,
    extraChannels: 0,
    extent: 0.7,
    logScale: [-2.6, -1.6],
    opacityLogit: [0, 4],
  });
  const train = ringCameras(8, SIZE, SIZE, { radius: 3.5, fovDeg: 50, tilt: 0.35 });
  const held = ringCameras(1, SIZE, SIZE, { radius: 3.5, fovDeg: 50, tilt: 0.1, phase: Math.PI / 8 })[0];
  const gt = uploadGaussians(gpu, truth);
  const targetOut = await raster.render(gt, train);
  const target = await targetOut.rgb.read();
  targetOut.destroy();
  const heldOut = await raster.render(gt, [held]);
  const heldTarget = await heldOut.rgb.read();
  heldOut.destroy();
  destroyGaussians(gt);

  // Random start: 2,000 small, semi-transparent grey Gaussians filling the cube.
  const rng = new Rng(32);
  const n = 2000;
  const init = randomGaussians(rng, n, {
    shDegree: 0,
    extraChannels: 0,
    extent: 0.9,
    logScale: [-3.2, -2.6],
    opacityLogit: [-2, -1],
  });
  init.sh.fill(0);
  const g = uploadGaussians(gpu, init);
  const params: [keyof GaussianTensors & string, Tensor, number][] = [
    ["means", g.means, 4e-3],
    ["quats", g.quats, 1e-2],
    ["logScales", g.logScales, 2e-2],
    ["opacityLogits", g.opacityLogits, 5e-2],
    ["sh", g.sh, 2e-2],
  ];
  const state = params.map(([name, p, lr]) => ({
    name,
    p,
    lr,
    grad: Tensor.empty(gpu, [p.size], "f32", `${name}.grad`),
    m: Tensor.empty(gpu, [p.size]),
    v: Tensor.empty(gpu, [p.size]),
  }));
  const grad = Object.fromEntries(state.map((s) => [s.name, s.grad])) as unknown as Parameters<
    GaussianRasterizer["backward"]
  >[3];
  const dRgb = Tensor.empty(gpu, [target.length]);
  const dr = new Float32Array(target.length);
  const steps = 100;
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    const out = await raster.render(g, train);
    const pred = await out.rgb.read();
    for (let i = 0; i < pred.length; i++) dr[i] = (2 * (pred[i] - target[i])) / pred.length;
    dRgb.upload(dr);
    for (const s of state) s.grad.zero();
    raster.backward(g, out, { rgb: dRgb }, grad);
    for (const s of state) adamStep(gpu, { params: s.p, grads: s.grad, m: s.m, v: s.v, step, lr: s.lr });
    out.destroy();
  }
  const final = await raster.render(g, [held]);
  const heldPred = await final.rgb.read();
  final.destroy();
  const trainOut = await raster.render(g, train);
  const trainPsnr = psnr(await trainOut.rgb.read(), target);
  trainOut.destroy();
  const heldPsnr = psnr(heldPred, heldTarget);
  await savePng("render_fit_heldout", [heldTarget, heldPred]);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `fit: train PSNR ${trainPsnr.toFixed(2)} dB, held-out ${heldPsnr.toFixed(2)} dB, ${secs.toFixed(1)} s`,
  );
  assert.ok(heldPsnr >= 28, `held-out PSNR ${heldPsnr.toFixed(2)} dB`);
  for (const s of state) [s.grad, s.m, s.v].forEach((t) => t.destroy());
  dRgb.destroy();
  destroyGaussians(g);
  raster.destroy();
});
