/** `deno task render` option handling without a GPU: camera specs, drive sequences, frame selection, sheets. */
import assert from "node:assert/strict";
import { UsageError } from "../cli/command.ts";
import { contactSheet } from "../cli/contact_sheet.ts";
import { type CameraContext, parseCameraJson, parseCameraSpec, resizeCamera } from "../cli/render_camera.ts";
import { csvSequence, datasetSequence, npySequence, selectFrames } from "../cli/render_sources.ts";
import { cameraCenter } from "../render/camera.ts";
import { viewCamera } from "../dashboard/avatar_view.ts";
import type { DatasetIndex } from "../data/dataset_index.ts";
import { DataError } from "../data/errors.ts";
import { writeNpy } from "../data/npy.ts";

const ctx: CameraContext = {
  center: [0, 0.1, 0],
  extent: 0.15,
  datasetCameras: null,
  readText: () => Promise.reject(new DataError("cam.json", "does not exist")),
};

Deno.test("render camera: orbit specs circle the avatar's centre at the default distance", async () => {
  const front = await parseCameraSpec(undefined, ctx);
  const side = await parseCameraSpec("orbit:90,0", ctx);
  const above = await parseCameraSpec("orbit:0,30,0.5", ctx);
  const pos = (c: typeof front) => cameraCenter(viewCamera(c.info, c.view, ctx.center));
  const d = 4 * ctx.extent;
  const f = pos(front), s = pos(side), a = pos(above);
  const close = (p: number[], q: number[]) => p.every((v, i) => Math.abs(v - q[i]) < 1e-9);
  assert.ok(close(f, [0, 0.1, d]), `front ${f}`);
  assert.ok(close(s, [d, 0.1, 0]), `yaw 90 ${s}`);
  const r = 0.5 * d, rad = Math.PI / 6;
  assert.ok(close(a, [0, 0.1 + r * Math.sin(rad), r * Math.cos(rad)]), `pitch 30, half distance ${a}`);
  for (const bad of ["orbit:1", "orbit:a,b", "orbit:0,90", "orbit:0,0,9", "front", "data:1"]) {
    await assert.rejects(() => parseCameraSpec(bad, ctx), UsageError, bad);
  }
});

Deno.test("render camera: JSON camera files and resizing", () => {
  const m = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2], [0, 0, 0, 1]];
  const cam = parseCameraJson(JSON.stringify({ transform_matrix: m, fl_x: 100, w: 80, h: 60 }), "cam.json");
  assert.deepEqual(cam.intrinsics, { fx: 100, fy: 100, cx: 40, cy: 30 });
  const fromFrames = parseCameraJson(
    JSON.stringify({ fl_x: 50, w: 80, h: 60, frames: [{ transform_matrix: m, fl_x: 70, cx: 41 }] }),
    "t.json",
  );
  assert.deepEqual(fromFrames.intrinsics, { fx: 70, fy: 70, cx: 41, cy: 30 });
  const big = resizeCamera(cam, 160);
  assert.equal(big.height, 120);
  assert.deepEqual(big.intrinsics, { fx: 200, fy: 200, cx: 80, cy: 60 });
  const tall = resizeCamera(cam, 80, 100);
  assert.deepEqual(tall.intrinsics, { fx: 100, fy: 100, cx: 40, cy: 50 }, "same scale, centred, taller view");
  const wide = resizeCamera(cam, 320, 120);
  assert.deepEqual(
    wide.intrinsics,
    { fx: 200, fy: 200, cx: 160, cy: 60 },
    "scaled by the smaller factor (2)",
  );
  for (
    const [text, msg] of [
      ["{", /invalid JSON/],
      [JSON.stringify({ fl_x: 1, w: 2, h: 2 }), /no 'transform_matrix'/],
      [JSON.stringify({ transform_matrix: m, w: 2, h: 2 }), /focal length/],
      [JSON.stringify({ transform_matrix: m, fl_x: 9 }), /image size 'w' and 'h'/],
      [
        JSON.stringify({
          transform_matrix: [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
          fl_x: 9,
        }),
        /rigid/,
      ],
    ] as const
  ) {
    assert.throws(
      () => parseCameraJson(text, "cam.json"),
      (e: unknown) => e instanceof DataError && msg.test(e.message),
    );
  }
});

Deno.test("render sources: npy shapes, CSV resampling, dataset name matching, frame selection", () => {
  const npy = npySequence(writeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]), "c.npy", 2, 25);
  assert.equal(npy.frames, 3);
  assert.deepEqual(Array.from(selectFrames(npy, { every: 2 }).codes), [1, 2, 5, 6]);
  assert.deepEqual(Array.from(selectFrames(npy, { frame: 1 }).codes), [3, 4]);
  assert.throws(() => selectFrames(npy, { frame: 3 }), /out of range: the sequence has 3 frames/);
  assert.throws(
    () => npySequence(writeNpy(new Float32Array(6), [2, 3]), "c.npy", 2, 25),
    /has shape \[2,3\], expected \[T, 2\]/,
  );

  const names = ["jawOpen", "eyeBlink_L"];
  const csv = "Timecode,JawOpen,EyeBlinkLeft\n00:00:00:00,0,1\n00:00:00:10,1,0\n";
  const raw = csvSequence(csv, "t.csv", names);
  assert.equal(raw.frames, 2);
  assert.equal(raw.fps, 24);
  const re = csvSequence(csv, "t.csv", names, 48);
  assert.equal(re.frames, 21, "10 frames at 24 fps = 20 frames at 48 fps, plus the first");
  assert.deepEqual(Array.from(re.codes.subarray(10 * 2, 11 * 2)), [0.5, 0.5]);
  assert.deepEqual(Array.from(re.codes.subarray(20 * 2)), [1, 0]);
  assert.throws(
    () => csvSequence(csv, "t.csv", ["expr 0", "expr 1"]),
    (e: unknown) => e instanceof UsageError && /ARKit-named/.test(e.message),
  );
  assert.throws(() => csvSequence(csv, "t.csv", null), /none are known .* --data DIR/);

  const index: DatasetIndex = {
    root: "other",
    expressionDim: 3,
    expressions: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    timesteps: 3,
    splitTimesteps: { train: [0], val: [], test: [2, 1] },
    cameras: [],
    blendshapeNames: ["eyeBlinkLeft", "cheekPuff", "JawOpen"],
  };
  const byName = datasetSequence(index, "test", names, 2, 30);
  assert.deepEqual(Array.from(byName.codes), [9, 7, 6, 4]);
  assert.deepEqual(byName.labels, ["timestep 2", "timestep 1"]);
  assert.throws(
    () => datasetSequence(index, "test", null, 2, 30),
    /has 3 expression dimensions, the avatar 2/,
  );
  assert.throws(() => datasetSequence(index, "val", null, 3, 30), /'val' split is empty/);
});

Deno.test("contact sheet: tiles with gaps, downscaled to fit", () => {
  const frame = (v: number) => ({ rgb: new Uint8Array(4 * 4 * 3).fill(v), width: 4, height: 4 });
  const s = contactSheet([frame(10), frame(20), frame(30)], { columns: 2, gap: [255, 0, 0] });
  assert.equal(s.width, 4 + 2 + 4);
  assert.equal(s.height, 4 + 2 + 4);
  const px = (x: number, y: number) =>
    Array.from(s.rgb.subarray((y * s.width + x) * 3, (y * s.width + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [10, 10, 10]);
  assert.deepEqual(px(6, 0), [20, 20, 20]);
  assert.deepEqual(px(0, 6), [30, 30, 30]);
  assert.deepEqual(px(4, 0), [255, 0, 0]);
  assert.deepEqual(px(9, 9), [255, 0, 0], "the empty fourth tile is gap colour");
  const big = { rgb: new Uint8Array(16 * 16 * 3).map((_, i) => (i % 2) * 100), width: 16, height: 16 };
  const wide = contactSheet([big, big, big, big], { maxWidth: 40 });
  assert.equal(wide.width, 4 * 8 + 3 * 2, "four 16-pixel tiles halve to fit 40 pixels");
  assert.equal(wide.height, 8);
  assert.deepEqual(Array.from(wide.rgb.subarray(0, 3)), [50, 50, 50], "box-filtered");
});
