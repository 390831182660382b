import assert from "node:assert/strict";
import { posedPositions, type Rig, validateRig } from "../data/rig.ts";
import { lookAt, type PinholeCamera, projectPoints, RigRenderer } from "../data/rig_renderer.ts";
import { buildSyntheticHead, SYNTHETIC_BLENDSHAPES } from "../data/synthetic_head.ts";
import { capCameras } from "../data/synthetic_head_capture.ts";
import { testGpu } from "./helpers.ts";

/** CPU silhouette: pixel centres (i + 0.5, j + 0.5) inside any projected triangle in front of the camera. */
function rasterizeSilhouette(cam: PinholeCamera, positions: Float32Array, indices: Uint32Array): Uint8Array {
  const W = cam.width, H = cam.height;
  const uv = projectPoints(cam, positions);
  const mask = new Uint8Array(W * H);
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t] * 3, b = indices[t + 1] * 3, c = indices[t + 2] * 3;
    if (uv[a + 2] <= 0.05 || uv[b + 2] <= 0.05 || uv[c + 2] <= 0.05) continue;
    const x0 = Math.max(Math.floor(Math.min(uv[a], uv[b], uv[c]) - 0.5), 0);
    const x1 = Math.min(Math.ceil(Math.max(uv[a], uv[b], uv[c]) - 0.5), W - 1);
    const y0 = Math.max(Math.floor(Math.min(uv[a + 1], uv[b + 1], uv[c + 1]) - 0.5), 0);
    const y1 = Math.min(Math.ceil(Math.max(uv[a + 1], uv[b + 1], uv[c + 1]) - 0.5), H - 1);
    const area = (uv[b] - uv[a]) * (uv[c + 1] - uv[a + 1]) - (uv[c] - uv[a]) * (uv[b + 1] - uv[a + 1]);
    if (area === 0) continue;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5, py = y + 0.5;
        const w0 = (uv[b] - px) * (uv[c + 1] - py) - (uv[c] - px) * (uv[b + 1] - py);
        const w1 = (uv[c] - px) * (uv[a + 1] - py) - (uv[a] - px) * (uv[c + 1] - py);
        const w2 = (uv[a] - px) * (uv[b + 1] - py) - (uv[b] - px) * (uv[a + 1] - py);
        const inside = area > 0 ? w0 >= 0 && w1 >= 0 && w2 >= 0 : w0 <= 0 && w1 <= 0 && w2 <= 0;
        if (inside) mask[y * W + x] = 1;
      }
    }
  }
  return mask;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union ? inter / union : 1;
}

Deno.test("rig renderer: dataset cameras project the rig onto the rendered silhouette (IoU >= 0.98)", async () => {
  const gpu = await testGpu();
  const rig = buildSyntheticHead();
  validateRig(rig, "synthetic head");
  const { cameras } = capCameras(3, 64, 5);
  const r = new RigRenderer(gpu, rig, { width: 64, height: 64 });
  const K = SYNTHETIC_BLENDSHAPES.length;
  const jaw = new Float32Array(K);
  jaw[0] = 1; // jawOpen
  jaw[SYNTHETIC_BLENDSHAPES.indexOf("cheekPuff")] = 0.8;
  for (const w of [new Float32Array(K), jaw]) {
    r.setWeights(w);
    const images = await r.renderMany(cameras);
    const posed = posedPositions(rig, w);
    cameras.forEach((cam, i) => {
      const alpha = new Uint8Array(64 * 64);
      let fg = 0;
      for (let p = 0; p < alpha.length; p++) {
        alpha[p] = images[i][p * 4 + 3] >= 128 ? 1 : 0;
        fg += alpha[p];
      }
      assert.ok(fg > 400 && fg < 64 * 64 - 400, `camera ${i}: head covers ${fg} pixels`);
      const score = iou(alpha, rasterizeSilhouette(cam, posed, rig.indices));
      assert.ok(score >= 0.98, `camera ${i}: silhouette IoU ${score.toFixed(4)} < 0.98`);
    });
  }
  r.destroy();
  await gpu.sync();
});

/** CPU copy of the shading in rig_renderer.wgsl for one fragment. */
function shadeCpu(albedoSrgb: number[], normal: number[], view: number[]): number[] {
  const norm = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  let n = norm(normal);
  if (dot(n, view) < 0) n = n.map((x) => -x);
  const key = norm([0.45, 0.55, 0.75]), fill = norm([-0.7, 0.1, 0.5]), rim = norm([0, 0.6, -0.8]);
  const lin = albedoSrgb.map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const diffuse = 0.32 + 0.78 * Math.max(dot(n, key), 0) + 0.3 * Math.max(dot(n, fill), 0) +
    0.15 * Math.max(dot(n, rim), 0);
  const h = norm(key.map((k, i) => k + view[i]));
  const spec = 0.06 * Math.max(dot(n, h), 0) ** 24;
  return lin.map((c) => {
    const x = Math.min(Math.max(c * diffuse + spec, 0), 1);
    return x <= 0.0031308 ? x * 12.92 : 1.055 * x ** (1 / 2.4) - 0.055;
  });
}

Deno.test("rig renderer: shading, coverage and orientation of a single quad match the CPU reference", async () => {
  const gpu = await testGpu();
  // A tilted quad in the upper-left quadrant of the image (world x < 0, y > 0 seen from +z).
  const tilt = 0.4;
  const corner = (x: number, y: number) => [x, y, Math.sin(tilt) * x];
  const quad: Rig = {
    positions: Float32Array.from([
      ...corner(-0.1, 0.02),
      ...corner(-0.02, 0.02),
      ...corner(-0.02, 0.1),
      ...corner(-0.1, 0.1),
    ]),
    indices: Uint32Array.from([0, 1, 2, 0, 2, 3]),
    colors: Float32Array.from([0.7, 0.4, 0.25, 0.7, 0.4, 0.25, 0.7, 0.4, 0.25, 0.7, 0.4, 0.25]),
    blendshapeNames: [],
    deltas: [],
    mouthVertices: new Uint32Array(),
  };
  const S = 32;
  const cam: PinholeCamera = {
    c2w: lookAt([0, 0, 1], [0, 0, 0]),
    fx: 100,
    fy: 100,
    cx: S / 2,
    cy: S / 2,
    width: S,
    height: S,
  };
  const r = new RigRenderer(gpu, quad, { width: S, height: S });
  const img = await r.render(cam);
  r.destroy();
  const px = (x: number, y: number) => Array.from(img.subarray((y * S + x) * 4, (y * S + x) * 4 + 4));
  // Projected square spans u = 16 + 100 * x / (1 - z), rows v = 16 - 100 * y / (1 - z): about x 6..14, y 6..14.
  assert.equal(px(10, 10)[3], 255, "inside the quad is fully covered");
  assert.equal(px(22, 10)[3], 0, "right half is empty");
  assert.equal(px(10, 22)[3], 0, "lower half is empty");
  const n = [-Math.sin(tilt), 0, 1];
  const world = [-0.06, 0.06, Math.sin(tilt) * -0.06];
  const view = [0 - world[0], 0 - world[1], 1 - world[2]].map((v, _, a) => v / Math.hypot(...a));
  const expected = shadeCpu([0.7, 0.4, 0.25], n, view).map((c) => c * 255);
  const got = px(10, 10).slice(0, 3);
  got.forEach((g, i) =>
    assert.ok(Math.abs(g - expected[i]) <= 3, `channel ${i}: ${g} vs ${expected[i].toFixed(1)}`)
  );
});
