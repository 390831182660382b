import assert from "node:assert/strict";
import { loadDataset } from "../data/dataset.ts";
import { projectCV, projectGL } from "../data/camera.ts";
import { DataError } from "../data/errors.ts";
import { memoryFiles } from "../data/file_source.ts";
import { writeNpy } from "../data/npy.ts";
import { writeNpz } from "../data/npz.ts";
import { encodePng } from "../data/image_io.ts";
import { Rng } from "../gpu/rng.ts";
import {
  CX,
  CY,
  D,
  eyeOf,
  FX,
  FY,
  H,
  lookAtGL,
  makeFixture,
  NCAM,
  sourcePixels,
  T,
  W,
  writeFixture,
} from "./dataset_fixture.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("loader reads a generated dataset folder from disk", async () => {
  const fx = makeFixture();
  const dir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  try {
    await writeFixture(dir, fx.files);
    let calls = 0, lastTotal = 0;
    const ds = await loadDataset(dir, {
      background: [0, 0.5, 1],
      onProgress: (done, total) => {
        calls++;
        lastTotal = total;
        assert.ok(done <= total);
      },
    });
    assert.equal(calls, T * NCAM);
    assert.equal(lastTotal, T * NCAM);
    assert.equal(ds.splits.train.length, 6);
    assert.equal(ds.splits.val.length, 3);
    assert.equal(ds.splits.test.length, 3);
    assert.equal(ds.timesteps, T);
    assert.equal(ds.expressionDim, D);
    assert.deepEqual(ds.expressions, fx.expressions);
    assert.deepEqual(ds.cameras.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(ds.background, [0, 0.5, 1]);

    const bg = [0, 127.5, 255];
    for (const f of [...ds.splits.train, ...ds.splits.val]) {
      assert.equal(f.width, W);
      assert.equal(f.height, H);
      assert.deepEqual(f.intrinsics, { fx: FX, fy: FY, cx: CX, cy: CY });
      const src = sourcePixels(f.camera, f.timestep);
      const masked = f.file === fx.maskedFrame;
      for (let i = 0; i < W * H; i++) {
        const m = masked ? (Math.floor(i / W) < 6 ? 255 : 0) : 255;
        const a = Math.round((src[i * 4 + 3] * m) / 255);
        assert.equal(f.mask![i], a);
        for (let c = 0; c < 3; c++) {
          const want = a === 255
            ? src[i * 4 + c]
            : Math.round((src[i * 4 + c] * a + bg[c] * (255 - a)) / 255);
          assert.equal(f.image[i * 3 + c], want, `${f.file} pixel ${i} channel ${c}`);
        }
      }
    }
    const jpeg = ds.splits.test.find((f) => f.file === fx.jpegFrame)!;
    assert.equal(jpeg.mask, undefined, "JPEG has no alpha");
    assert.equal(jpeg.image.length, W * H * 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("camera conventions: GL camera-to-world and CV world-to-camera project points to the same pixel", async () => {
  const fx = makeFixture();
  const ds = await loadDataset("root", { files: memoryFiles(prefixed(fx.files)), splits: ["train", "val"] });
  const rng = new Rng(5);
  for (const cam of ds.cameras) {
    const want = lookAtGL(eyeOf(cam.index), [0, 0, 0]).flat();
    cam.camToWorldGL.forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) < 1e-12, "camToWorldGL as in the file")
    );
    const [u0, v0, z0] = projectCV(cam.worldToCamCV, cam.intrinsics, [0, 0, 0]);
    assert.ok(
      Math.abs(u0 - CX) < 1e-9 && Math.abs(v0 - CY) < 1e-9 && z0 > 0,
      "origin projects to principal point",
    );
    // A point above the origin (world +y up) is above the image centre (smaller v) in both conventions.
    assert.ok(projectCV(cam.worldToCamCV, cam.intrinsics, [0, 0.2, 0])[1] < CY);
    for (let i = 0; i < 20; i++) {
      const p = [rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)];
      const a = projectCV(cam.worldToCamCV, cam.intrinsics, p),
        b = projectGL(cam.camToWorldGL, cam.intrinsics, p);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(a[k] - b[k]) < 1e-9, `${a} vs ${b}`);
    }
  }
  assert.equal(ds.splits.test.length, 0, "test split not requested");
});

Deno.test("downscale box-filters images and scales intrinsics; flame_param npz expressions", async () => {
  const fx = makeFixture();
  const full = await loadDataset("r", { files: memoryFiles(prefixed(fx.files, "r")), splits: ["train"] });
  // Replace expressions.npy by per-timestep flame_param npz files.
  const files = new Map(fx.files);
  files.delete("expressions.npy");
  for (let t = 0; t < T; t++) {
    const expr = fx.expressions.slice(t * D, (t + 1) * D);
    files.set(
      `flame_param/${String(t).padStart(5, "0")}.npz`,
      writeNpz({ expr: { data: expr, shape: [1, D] } }, t % 2 === 0),
    );
  }
  const ds = await loadDataset("r", {
    files: memoryFiles(prefixed(files, "r")),
    downscale: 2,
    splits: ["train"],
  });
  assert.deepEqual(ds.expressions, fx.expressions);
  const f = ds.splits.train[0], g = full.splits.train[0];
  assert.equal(f.width, W / 2);
  assert.equal(f.height, H / 2);
  assert.deepEqual(f.intrinsics, { fx: FX / 2, fy: FY / 2, cx: CX / 2, cy: CY / 2 });
  for (let y = 0; y < H / 2; y++) {
    for (let x = 0; x < W / 2; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          s += g.image[((2 * y + dy) * W + 2 * x + dx) * 3 + c];
        }
        assert.equal(f.image[(y * (W / 2) + x) * 3 + c], Math.round(s / 4));
      }
    }
  }
});

function prefixed(files: Map<string, Uint8Array>, root = "root"): Map<string, Uint8Array> {
  return new Map([...files].map(([k, v]) => [`${root}/${k}`, v]));
}

/** Applies `mutate` to a fresh fixture and expects loadDataset to fail with one DataError. */
async function expectBad(
  mutate: (files: Map<string, Uint8Array>) => void,
  fileRe: RegExp,
  problemRe: RegExp,
): Promise<void> {
  const files = makeFixture().files;
  mutate(files);
  await assert.rejects(loadDataset("ds", { files: memoryFiles(prefixed(files, "ds")) }), (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.match(e.file, fileRe);
    assert.match(e.message, problemRe);
    return true;
  });
}

function editJson(
  files: Map<string, Uint8Array>,
  name: string,
  edit: (j: { frames: Record<string, unknown>[] }) => void,
) {
  const j = JSON.parse(dec(files.get(name)!));
  edit(j);
  files.set(name, enc(JSON.stringify(j)));
}

Deno.test("every bad input gives one DataError naming the file and the problem", async () => {
  await expectBad((f) => f.delete("transforms_train.json"), /transforms_train\.json$/, /missing/);
  await expectBad(
    (f) => f.set("transforms_val.json", enc("{ not json")),
    /transforms_val\.json$/,
    /invalid JSON/,
  );
  await expectBad((f) => f.delete("images/00001_00.png"), /images\/00001_00\.png$/, /missing/);
  await expectBad(
    (f) => f.set("images/00001_00.png", f.get("images/00001_00.png")!.slice(0, 60)),
    /00001_00\.png$/,
    /corrupt/,
  );
  await expectBad(
    (f) => f.set("images/00002_01.png", encodePng(new Uint8Array(W * H * 4), H, W, 4)),
    /00002_01\.png$/,
    /12x16 .*w=16 h=12.*does not match the intrinsics/,
  );
  await expectBad(
    (f) => f.set("fg_masks/00000_01.png", encodePng(new Uint8Array(4 * 4 * 3), 4, 4, 3)),
    /fg_masks\/00000_01\.png$/,
    /mask is 4x4/,
  );
  await expectBad(
    (f) => {
      editJson(
        f,
        "transforms_train.json",
        (j) => ((j.frames[1].transform_matrix as number[][])[0][3] = 12345.5),
      );
      f.set("transforms_train.json", enc(dec(f.get("transforms_train.json")!).replace("12345.5", "1e400")));
    },
    /transforms_train\.json$/,
    /frames\[1\]\.transform_matrix has non-finite/,
  );
  await expectBad(
    (f) =>
      f.set(
        "transforms_test.json",
        enc(dec(f.get("transforms_test.json")!).replace(/"timestep_index": 3/, '"timestep_index": NaN')),
      ),
    /transforms_test\.json$/,
    /NaN or Infinity/,
  );
  await expectBad(
    (f) =>
      editJson(f, "transforms_train.json", (j) => {
        const m = j.frames[2].transform_matrix as number[][];
        for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) m[r][c] *= 1.5;
      }),
    /transforms_train\.json$/,
    /frames\[2\]\.transform_matrix is not a rigid transform/,
  );
  await expectBad(
    (f) => editJson(f, "transforms_val.json", (j) => (j.frames[0].transform_matrix = [[1, 0, 0], [0, 1, 0]])),
    /transforms_val\.json$/,
    /not a 4x4 matrix/,
  );
  await expectBad(
    (f) => editJson(f, "transforms_train.json", (j) => delete j.frames[0].camera_index),
    /train/,
    /camera_index/,
  );
  await expectBad(
    (f) => f.set("expressions.npy", writeNpy(new Float32Array(T * D), [T * D])),
    /expressions\.npy$/,
    /shape \[T, D\]/,
  );
  await expectBad(
    (f) => f.set("expressions.npy", writeNpy(new Int32Array(T * D), [T, D])),
    /expressions\.npy$/,
    /dtype '<i4'/,
  );
  await expectBad(
    (f) => f.set("expressions.npy", writeNpy(new Float32Array(3 * D), [3, D])),
    /expressions\.npy$/,
    /has 3 timesteps but .*transforms_test\.json frames\[0\] references timestep 3/,
  );
  await expectBad(
    (f) => f.set("expressions.npy", f.get("expressions.npy")!.slice(0, 100)),
    /expressions\.npy$/,
    /truncated/,
  );
  await expectBad((f) => f.delete("expressions.npy"), /^ds$/, /no expression codes/);
  const npz = (f: Map<string, Uint8Array>, skip: number, bytes?: (b: Uint8Array) => Uint8Array) => {
    f.delete("expressions.npy");
    for (let t = 0; t < T; t++) {
      if (t === skip) continue;
      const b = writeNpz({ expr: { data: new Float32Array(D), shape: [D] } });
      f.set(`flame_param/${String(t).padStart(5, "0")}.npz`, bytes && t === 1 ? bytes(b) : b);
    }
  };
  await expectBad((f) => npz(f, 2), /flame_param\/00002\.npz$/, /missing, but .*references timestep 2/);
  await expectBad(
    (f) => npz(f, -1, (b) => b.slice(0, b.length - 30)),
    /flame_param\/00001\.npz$/,
    /truncated or corrupt/,
  );
  await expectBad(
    (f) => npz(f, -1, () => writeNpz({ shape: { data: new Float32Array(D), shape: [D] } })),
    /00001\.npz$/,
    /no array 'expr'.*keys: shape/,
  );
});
