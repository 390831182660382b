import assert from "node:assert/strict";
import { importNersemble } from "../data/nersemble_import.ts";
import { loadDataset } from "../data/dataset.ts";
import { projectCV, projectGL } from "../data/camera.ts";
import { DataError } from "../data/errors.ts";
import { encodeJpeg, encodePng } from "../data/image_io.ts";
import { writeNpy } from "../data/npy.ts";
import { Rng } from "../gpu/rng.ts";

// Full-resolution intrinsics (64x48); the fixture images are the 2x-downscaled 32x24 ones.
const W = 32, H = 24, K = [[70, 0, 31], [0, 72, 25], [0, 0, 1]];
const SERIALS = ["220700191", "221501007", "222200037"];
const T = 5, D = 3;
const DOT = [0.05, 0.08, -0.03]; // world point drawn as a white dot in every image

/** OpenCV world-to-camera looking from `eye` at the origin, world +y up (built in the CV convention directly). */
function lookAtCV(eye: number[]): number[][] {
  const norm = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const cross = (a: number[], b: number[]) => [
    a[1] * b[2] - a[2] * b[1],
    a[2] * b[0] - a[0] * b[2],
    a[0] * b[1] - a[1] * b[0],
  ];
  const f = norm(eye.map((x) => -x));
  const x = norm(cross(f, [0, 1, 0]));
  const y = cross(f, x);
  const R = [x, y, f];
  const t = R.map((r) => -(r[0] * eye[0] + r[1] * eye[1] + r[2] * eye[2]));
  return [[...R[0], t[0]], [...R[1], t[1]], [...R[2], t[2]], [0, 0, 0, 1]];
}

const EYES = [[-0.8, 0.1, 1.8], [0, 0, 2], [0.9, -0.2, 1.7]];

/** Writes the raw recording; `mutate` may change files before writing. Returns the dot pixel per camera. */
export async function writeRecording(
  dir: string,
  opts: { jpeg?: boolean; params?: unknown; skip?: string } = {},
) {
  const rng = new Rng(4);
  const w2c: Record<string, number[][]> = {};
  SERIALS.forEach((s, i) => (w2c[s] = lookAtCV(EYES[i])));
  await Deno.writeTextFile(
    `${dir}/camera_params.json`,
    JSON.stringify(opts.params ?? { world_2_cam: w2c, intrinsics: K }),
  );
  await Deno.writeFile(`${dir}/expressions.npy`, writeNpy(rng.floats(T * D), [T, D]));
  const dots: [number, number][] = [];
  for (let t = 0; t < T; t++) {
    const fdir = `${dir}/timesteps/frame_${String(t * 3).padStart(5, "0")}`;
    await Deno.mkdir(`${fdir}/images-2x`, { recursive: true });
    await Deno.mkdir(`${fdir}/alpha_map`, { recursive: true });
    SERIALS.forEach((s, i) => {
      const m = w2c[s].flat();
      const p = [0, 1, 2].map((r) =>
        m[r * 4] * DOT[0] + m[r * 4 + 1] * DOT[1] + m[r * 4 + 2] * DOT[2] + m[r * 4 + 3]
      );
      dots[i] = [
        Math.floor((K[0][0] * p[0] / p[2] + K[0][2]) / 2),
        Math.floor((K[1][1] * p[1] / p[2] + K[1][2]) / 2),
      ];
    });
    for (let i = 0; i < SERIALS.length; i++) {
      if (`${t}/${SERIALS[i]}` === opts.skip) continue;
      const px = new Uint8Array(W * H * 3).fill(20);
      const [u, v] = dots[i];
      px.fill(255, (v * W + u) * 3, (v * W + u) * 3 + 3);
      const name = `${fdir}/images-2x/cam_${SERIALS[i]}`;
      if (opts.jpeg && i === 0) await Deno.writeFile(`${name}.jpg`, encodeJpeg(px, W, H, 3, 100));
      else await Deno.writeFile(`${name}.png`, encodePng(px, W, H, 3));
      await Deno.writeFile(
        `${fdir}/alpha_map/cam_${SERIALS[i]}.png`,
        encodePng(new Uint8Array(W * H * 3).fill(255), W, H, 3),
      );
    }
  }
  return dots;
}

Deno.test("NeRSemble import: converted dataset loads, cameras project the dot to the same pixel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nersemble_" });
  try {
    const dots = await writeRecording(`${dir}`, { jpeg: true });
    const res = await importNersemble(dir, `${dir}/out`);
    assert.equal(res.intrinsicsScale, 2);
    assert.deepEqual(res.serials, SERIALS);
    assert.deepEqual(res.valCameras, ["221501007"], "the frontal camera is held out");
    assert.equal(res.testTimesteps, 1);
    assert.deepEqual(res.frames, { train: 8, val: 4, test: 3 });
    const ds = await loadDataset(`${dir}/out`, { background: [0, 0, 0] });
    assert.equal(ds.timesteps, T);
    assert.equal(ds.expressionDim, D);
    assert.equal(ds.splits.test.length, 3);
    assert.ok(ds.splits.test.every((f) => f.timestep === T - 1));
    assert.ok(ds.splits.val.every((f) => f.camera === 1));
    for (const f of [...ds.splits.train, ...ds.splits.val, ...ds.splits.test]) {
      assert.deepEqual(f.intrinsics, { fx: 35, fy: 36, cx: 15.5, cy: 12.5 });
      assert.ok(f.mask, "alpha_map became fg mask");
      // Brightest pixel = the dot.
      let best = 0;
      for (let i = 1; i < W * H; i++) if (f.image[i * 3] > f.image[best * 3]) best = i;
      const [ucv, vcv] = projectCV(f.worldToCamCV, f.intrinsics, DOT);
      const [ugl, vgl] = projectGL(f.camToWorldGL, f.intrinsics, DOT);
      assert.ok(Math.abs(ucv - ugl) < 1e-9 && Math.abs(vcv - vgl) < 1e-9);
      assert.deepEqual([best % W, Math.floor(best / W)], [Math.floor(ucv), Math.floor(vcv)], f.file);
      assert.deepEqual([Math.floor(ucv), Math.floor(vcv)], dots[f.camera]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NeRSemble import: bad recordings give one DataError naming the file", async () => {
  const cases: [Parameters<typeof writeRecording>[1], (dir: string) => Promise<void>, RegExp, RegExp][] = [
    [{}, (d) => Deno.remove(`${d}/camera_params.json`), /camera_params\.json$/, /missing/],
    [
      {
        params: {
          world_2_cam: { "1": [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] },
          intrinsics: K,
        },
      },
      async () => {},
      /camera_params\.json$/,
      /world_2_cam\["1"\] is not a rigid/,
    ],
    [
      { params: { world_2_cam: { "1": lookAtCV(EYES[0]) }, intrinsics: [[1, 0], [0, 1]] } },
      async () => {},
      /camera_params\.json$/,
      /intrinsics is not a 3x3/,
    ],
    [{ skip: `2/${SERIALS[1]}` }, async () => {}, /frame_00006\/images-2x\/cam_221501007\.png$/, /missing/],
    [
      {},
      (d) =>
        Deno.writeFile(
          `${d}/timesteps/frame_00003/images-2x/cam_${SERIALS[2]}.png`,
          encodePng(new Uint8Array(48), 4, 4, 3),
        ),
      /frame_00003\/images-2x\/cam_222200037\.png$/,
      /is 4x4 but/,
    ],
    [
      {},
      (d) => Deno.writeFile(`${d}/expressions.npy`, writeNpy(new Float32Array(D * 2), [2, D])),
      /expressions\.npy$/,
      /2 rows but there are 5/,
    ],
    [
      {},
      (d) => Deno.writeFile(`${d}/expressions.npy`, writeNpy(new Int32Array(D * T), [T, D])),
      /expressions\.npy$/,
      /expected float/,
    ],
    [
      {},
      (d) => Deno.writeFile(`${d}/expressions.npy`, writeNpy(new Float32Array(D * T), [T, D]).slice(0, 90)),
      /expressions\.npy$/,
      /truncated/,
    ],
  ];
  for (const [opts, mutate, fileRe, problemRe] of cases) {
    const dir = await Deno.makeTempDir({ prefix: "nersemble_bad_" });
    try {
      await writeRecording(dir, opts);
      await mutate(dir);
      await assert.rejects(importNersemble(dir, `${dir}/out`), (e: unknown) => {
        assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
        assert.match(e.file, fileRe);
        assert.match(e.message, problemRe);
        return true;
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
