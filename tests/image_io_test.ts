import assert from "node:assert/strict";
import { encode as fastPngEncode } from "fast-png";
import { decodeImage, encodeJpeg, encodePng, imageSize } from "../data/image_io.ts";
import { DataError } from "../data/errors.ts";
import { Rng } from "../gpu/rng.ts";

function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

Deno.test("PNG RGBA and RGB round trip exactly", () => {
  const rng = new Rng(3);
  for (const ch of [3, 4] as const) {
    const px = randomBytes(rng, 7 * 5 * ch);
    const img = decodeImage(encodePng(px, 7, 5, ch), "a.png");
    assert.equal(img.width, 7);
    assert.equal(img.height, 5);
    assert.equal(img.channels, ch);
    assert.deepEqual(img.data, px);
  }
  assert.throws(() => encodePng(new Uint8Array(10), 2, 2, 4));
});

Deno.test("PNG 16-bit, gray, gray+alpha and palette decode to 8-bit RGB(A)", () => {
  const w = 4, h = 3, n = w * h;
  const rng = new Rng(11);
  const v16 = Uint16Array.from({ length: n * 3 }, () => rng.int(65536));
  const a = decodeImage(fastPngEncode({ width: w, height: h, data: v16, depth: 16, channels: 3 }), "a16.png");
  assert.equal(a.channels, 3);
  assert.deepEqual(Array.from(a.data), Array.from(v16, (v) => Math.round(v / 257)));

  const gray = randomBytes(rng, n);
  const g = decodeImage(fastPngEncode({ width: w, height: h, data: gray, depth: 8, channels: 1 }), "g.png");
  assert.equal(g.channels, 3);
  for (let i = 0; i < n; i++) {
    assert.deepEqual(Array.from(g.data.subarray(i * 3, i * 3 + 3)), [gray[i], gray[i], gray[i]]);
  }

  const ga = randomBytes(rng, n * 2);
  const gaImg = decodeImage(
    fastPngEncode({ width: w, height: h, data: ga, depth: 8, channels: 2 }),
    "ga.png",
  );
  assert.equal(gaImg.channels, 4);
  for (let i = 0; i < n; i++) {
    assert.deepEqual(Array.from(gaImg.data.subarray(i * 4, i * 4 + 4)), [
      ga[2 * i],
      ga[2 * i],
      ga[2 * i],
      ga[2 * i + 1],
    ]);
  }

  const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7]];
  const idx = Uint8Array.from({ length: n }, () => rng.int(4));
  const p = decodeImage(
    fastPngEncode({ width: w, height: h, data: idx, depth: 8, channels: 1, palette }),
    "p.png",
  );
  assert.equal(p.channels, 3);
  assert.deepEqual(Array.from(p.data), Array.from(idx).flatMap((i) => palette[i]));
});

Deno.test("PNG 1-bit gray unpacks padded rows", () => {
  const packed = new Uint8Array([0b10110000, 0b01001000]); // 5x2: rows 10110 and 01001, padded to a byte
  const img = decodeImage(
    fastPngEncode({ width: 5, height: 2, data: packed, depth: 1, channels: 1 }),
    "b.png",
  );
  assert.equal(img.channels, 3);
  const red = Array.from(img.data).filter((_, i) => i % 3 === 0);
  assert.deepEqual(red, [255, 0, 255, 255, 0, 0, 255, 0, 0, 255]);
});

Deno.test("JPEG decodes close to its source", () => {
  const w = 16, h = 16;
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set([x * 12, y * 12, 128], (y * w + x) * 3);
  }
  const img = decodeImage(encodeJpeg(px, w, h, 3, 95), "a.jpg");
  assert.equal(img.channels, 3);
  assert.equal(img.width, w);
  let maxErr = 0;
  for (let i = 0; i < px.length; i++) maxErr = Math.max(maxErr, Math.abs(img.data[i] - px[i]));
  assert.ok(maxErr < 20, `jpeg error ${maxErr}`);
});

Deno.test("corrupt and unsupported images give a DataError naming the file", () => {
  const png = encodePng(new Uint8Array(8 * 8 * 4).fill(77), 8, 8, 4);
  const jpg = encodeJpeg(new Uint8Array(8 * 8 * 3).fill(77), 8, 8, 3);
  const bad: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /empty/],
    [new TextEncoder().encode("GIF89a........"), /not a PNG or JPEG/],
    [png.subarray(0, png.length - 20), /corrupt/],
    [png.subarray(0, 20), /corrupt/],
    [jpg.subarray(0, 40), /corrupt/],
  ];
  const flipped = png.slice();
  flipped[40] ^= 0xff; // inside IDAT: CRC mismatch
  bad.push([flipped, /corrupt/]);
  for (const [bytes, re] of bad) {
    assert.throws(() => decodeImage(bytes, "img/cam_0.png"), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.match(e.message, /^img\/cam_0\.png: /);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("imageSize reads PNG and JPEG headers", () => {
  const png = encodePng(new Uint8Array(5 * 3 * 3), 5, 3, 3);
  assert.deepEqual(imageSize(png, "a.png"), { width: 5, height: 3 });
  const jpg = encodeJpeg(new Uint8Array(9 * 7 * 3), 9, 7, 3);
  assert.deepEqual(imageSize(jpg, "a.jpg"), { width: 9, height: 7 });
  assert.throws(() => imageSize(png.subarray(0, 12), "b.png"), /b\.png: corrupt PNG/);
  assert.throws(() => imageSize(jpg.subarray(0, 8), "b.jpg"), /b\.jpg: corrupt JPEG/);
});
