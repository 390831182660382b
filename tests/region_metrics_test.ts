import assert from "node:assert/strict";
import { glCamToWorldToCvWorldToCam } from "../data/camera.ts";
import type { Frame } from "../data/dataset.ts";
import type { Rig } from "../data/rig.ts";
import {
  convexHull,
  eyeRegion,
  hullMask,
  maskedPsnr,
  mouthRegion,
  regionMask,
} from "../training/region_metrics.ts";
import { assertClose } from "./helpers.ts";

const S = 32;

/** A frame of size S x S looking down -z from `z` (OpenGL), or from behind looking down +z. */
function frame(z: number, behind = false): Frame {
  const c2w = behind
    ? [-1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1, z, 0, 0, 0, 1]
    : [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, z, 0, 0, 0, 1];
  return {
    image: new Uint8Array(S * S * 3),
    width: S,
    height: S,
    intrinsics: { fx: 100, fy: 100, cx: 16, cy: 16 },
    camToWorldGL: Float64Array.from(c2w),
    worldToCamCV: glCamToWorldToCvWorldToCam(c2w),
    timestep: 0,
    camera: 0,
    split: "test",
    file: "test.png",
  };
}

// A "head": a back vertex at z = -0.1 and a square mouth of 4 vertices at z = 0.1; one blendshape ("jawOpen")
// moves the mouth's lower two vertices down by 0.05.
function rig(named: boolean): Rig {
  const positions = Float32Array.from([
    0,
    0,
    -0.1,
    -0.05,
    -0.05,
    0.1,
    0.05,
    -0.05,
    0.1,
    0.05,
    0.05,
    0.1,
    -0.05,
    0.05,
    0.1,
  ]);
  const jaw = new Float32Array(15);
  jaw[4] = jaw[7] = -0.05;
  return {
    positions,
    indices: Uint32Array.from([1, 2, 3, 1, 3, 4, 0, 1, 2]),
    colors: new Float32Array(15),
    blendshapeNames: ["jawOpen", "browUp"],
    deltas: [jaw, Float32Array.from([0, 0.01, 0, ...new Array(12).fill(0)])],
    mouthVertices: named ? Uint32Array.from([1, 2, 3, 4]) : new Uint32Array(),
  };
}

function count(mask: Uint8Array): number {
  return mask.reduce((s, x) => s + x, 0);
}

Deno.test("region metrics: convex hull, dilated hull mask, masked PSNR", () => {
  const hull = convexHull([10, 10, 20, 10, 20, 20, 10, 20, 15, 15, 12, 18]);
  assert.equal(hull.length, 4);
  assert.equal(count(hullMask(hull, S, S, 0)), 100);
  const dilated = hullMask(hull, S, S, 1);
  assert.ok(count(dilated) > 100 + 4 * 10 - 1 && count(dilated) <= 144, `dilated ${count(dilated)}`);
  assert.equal(dilated[9 * S + 9], 1, "pixel centre (9.5, 9.5) is 0.71 px from the corner");
  assert.equal(dilated[8 * S + 8], 0, "pixel centre (8.5, 8.5) is 2.1 px from the corner");
  const target = new Uint8Array(S * S * 3).map((_, i) => (i * 37) % 256);
  const mask = hullMask(hull, S, S, 0);
  const pred = new Float32Array(target.length);
  for (let p = 0; p < S * S; p++) {
    for (let c = 0; c < 3; c++) pred[3 * p + c] = mask[p] ? target[3 * p + c] / 255 + 0.1 : 5;
  }
  assertClose([maskedPsnr(pred, target, mask)], [20], { atol: 1e-4 });
  assert.throws(() => maskedPsnr(pred, target, new Uint8Array(S * S)), /empty/);
});

Deno.test("region metrics: the mouth mask follows the expression and needs a camera on the mouth's side", () => {
  const r = rig(true), region = mouthRegion(r);
  assert.equal(region.source, "rig");
  // Mouth corners project to 16 +- 100 * 0.05 / 0.9 = 10.44 .. 21.56: pixel centres 10.5 .. 21.5, 12 x 12.
  const neutral = regionMask(r, region, frame(1), [0, 0], 0)!;
  assert.equal(count(neutral), 144);
  assert.equal(neutral[10 * S + 10], 1);
  assert.equal(neutral[9 * S + 10], 0);
  // Jaw open: the lower vertices (y = -0.1, image v = 16 + 100 * 0.1 / 0.9 = 27.1) extend the mask downwards.
  const open = regionMask(r, region, frame(1), [1, 0], 0)!;
  assert.equal(count(open), 12 * 17, "rows 10..26");
  assert.equal(open[26 * S + 15], 1);
  assert.equal(neutral[26 * S + 15], 0);
  assert.equal(
    regionMask(r, region, frame(-1, true), [0, 0], 0),
    null,
    "a camera behind the head sees no mouth",
  );
  // Without named mouth vertices, the vertices moved by the jaw blendshape stand in.
  const fallback = mouthRegion(rig(false));
  assert.equal(fallback.source, "blendshapes");
  assert.deepEqual(Array.from(fallback.vertices), [1, 2]);
  const none = mouthRegion({ ...rig(false), blendshapeNames: ["a", "b"] });
  assert.equal(none.source, "none");
  assert.equal(regionMask(r, none, frame(1), [0, 0]), null);
});

// Two "eyes" (squares at x < 0 and x > 0, z = 0.1) whose top edges "eyeBlink" moves down by 15 mm, a brow
// vertex moved by "browUp" only, and a back vertex.
function eyeRig(): Rig {
  const sq = (x0: number) => [x0, 0, 0.1, x0 + 0.04, 0, 0.1, x0 + 0.04, 0.04, 0.1, x0, 0.04, 0.1];
  const positions = Float32Array.from([0, 0, -0.1, ...sq(-0.06), ...sq(0.02), 0, 0.08, 0.1]);
  const blink = new Float32Array(positions.length), brow = new Float32Array(positions.length);
  for (const v of [3, 4, 7, 8]) blink[3 * v + 1] = -0.015;
  brow[3 * 9 + 1] = 0.01;
  return {
    positions,
    indices: Uint32Array.from([1, 2, 3, 1, 3, 4, 5, 6, 7, 5, 7, 8, 0, 1, 9]),
    colors: new Float32Array(positions.length),
    blendshapeNames: ["eyeBlink", "browUp"],
    deltas: [blink, brow],
    mouthVertices: new Uint32Array(),
  };
}

Deno.test("region metrics: the eye region is split by side, its mask is one hull per eye and follows a blink", () => {
  const r = eyeRig(), eyes = eyeRegion(r);
  assert.equal(eyes.source, "blendshapes");
  assert.deepEqual(
    eyes.groups!.map((g) => Array.from(g)),
    [[3, 4], [7, 8]],
    "the moving lid vertices, per side",
  );
  // The moving vertices alone span no area; with the static corners of each square as part of the eye the
  // hull is the square. Use a region with the whole squares to check the mask geometry.
  const squares = {
    ...eyes,
    vertices: Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    groups: [[1, 2, 3, 4], [5, 6, 7, 8]].map((g) => Uint32Array.from(g)),
  };
  // Squares project to u 9.33 .. 13.78 and 18.22 .. 22.67, v 11.56 .. 16: 5 columns x 4 rows each.
  const open = regionMask(r, squares, frame(1), [0, 0], 0)!;
  assert.equal(count(open), 2 * 20);
  assert.equal(open[14 * S + 11], 1);
  assert.equal(open[14 * S + 16], 0, "nothing between the eyes");
  assert.equal(open[14 * S + 20], 1);
  // Blink: the top edge at y = 0.025 (v = 13.22), 3 rows.
  assert.equal(count(regionMask(r, squares, frame(1), [1, 0], 0)!), 2 * 15);
  assert.equal(
    regionMask(r, squares, frame(-1, true), [0, 0], 0),
    null,
    "a camera behind the head sees no eye",
  );
  const none = eyeRegion({ ...r, blendshapeNames: ["jawOpen", "browUp"] });
  assert.equal(none.source, "none");
  assert.equal(none.vertices.length, 0);
});
