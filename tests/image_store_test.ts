import assert from "node:assert/strict";
import type { Frame } from "../data/dataset.ts";
import { Rng } from "../gpu/rng.ts";
import { frameTargets } from "../training/frame_batches.ts";
import { ImageStore } from "../training/image_store.ts";
import { testGpu } from "./helpers.ts";

/** A frame with random pixels (only the image matters to the store). */
function frame(rng: Rng, width: number, height: number, timestep: number): Frame {
  const image = Uint8Array.from(rng.uints(width * height * 3, 256));
  return {
    image,
    width,
    height,
    intrinsics: { fx: width, fy: width, cx: width / 2, cy: height / 2 },
    camToWorldGL: new Float64Array(16),
    worldToCamCV: new Float64Array(16),
    timestep,
    camera: 0,
    split: "train",
    file: `f${timestep}.png`,
  };
}

Deno.test("image store: resident unpacking (image_unpack.wgsl) equals the CPU targets bit for bit", async () => {
  const gpu = await testGpu();
  const rng = new Rng(21);
  // 5x3x3 = 45 bytes: not a multiple of four, so every later image starts mid-word in a naive packing.
  const frames = [frame(rng, 5, 3, 0), frame(rng, 7, 2, 1), frame(rng, 16, 9, 2), frame(rng, 5, 3, 3)];
  frames[0].image[0] = 0, frames[0].image[1] = 255, frames[0].image[2] = 128;
  const store = new ImageStore(gpu, frames, 1 << 20);
  assert.ok(store.resident);
  assert.equal(store.chunks, 1);
  for (const batch of [[frames[0]], [frames[2], frames[1]], [frames[3], frames[0], frames[2]]]) {
    const t = store.target(batch);
    assert.deepEqual(await t.read(), frameTargets(batch), `batch of ${batch.length}`);
    t.destroy();
  }
  store.destroy();
});

Deno.test("image store: chunks of at most one binding (no image straddles two), bit-exact across chunks", async () => {
  const gpu = await testGpu();
  const rng = new Rng(8);
  // 45, 42, 45, 48 bytes -> 12, 11, 12, 12 words; 25-word chunks hold two images each.
  const frames = [frame(rng, 5, 3, 0), frame(rng, 7, 2, 1), frame(rng, 5, 3, 2), frame(rng, 4, 4, 3)];
  const store = new ImageStore(gpu, frames, 1 << 20, 100);
  assert.ok(store.resident);
  assert.equal(store.chunks, 2);
  const batch = [frames[3], frames[0], frames[2], frames[1]];
  const t = store.target(batch);
  assert.deepEqual(await t.read(), frameTargets(batch));
  t.destroy();
  store.destroy();
});

Deno.test("image store: over the budget (or an unknown frame) it uploads the CPU targets", async () => {
  const gpu = await testGpu();
  const rng = new Rng(5);
  const frames = [frame(rng, 8, 8, 0), frame(rng, 8, 8, 1)];
  const small = new ImageStore(gpu, frames, 300);
  assert.equal(small.resident, false, "2 x 192 bytes do not fit 300");
  assert.equal(small.residentFrames, 1, "the first one does");
  const one = small.target([frames[0]]);
  assert.deepEqual(await one.read(), frameTargets([frames[0]]));
  one.destroy();
  const t = small.target(frames);
  assert.deepEqual(await t.read(), frameTargets(frames));
  t.destroy();
  small.destroy();
  const store = new ImageStore(gpu, [frames[0]], 1 << 20);
  assert.ok(store.resident);
  assert.equal(new ImageStore(gpu, frames, 0).residentFrames, 0);
  const u = store.target([frames[1], frames[0]]);
  assert.deepEqual(await u.read(), frameTargets([frames[1], frames[0]]));
  u.destroy();
  store.destroy();
});
