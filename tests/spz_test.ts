import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "fflate";
import { readSpz, readSpzHeader, writeSpz } from "../data/spz.ts";
import { type GaussianCloud, shCoefficients } from "../data/gaussian_cloud.ts";
import { DataError } from "../data/errors.ts";
import { Rng } from "../gpu/rng.ts";
import { maxAbsDiff } from "./helpers.ts";

/**
 * A seeded random cloud inside SPZ's representable ranges: log-scales in [-9, 4], DC in [-3, 3], higher SH in
 * [-0.95, 0.95], opacity logits in [-6, 6].
 */
function randomCloud(seed: number, n: number, degree: number, spread = 0.3): GaussianCloud {
  const rng = new Rng(seed);
  const k = shCoefficients(degree);
  const sh = rng.floats(n * k * 3, -0.95, 0.95);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) sh[i * k * 3 + c] = rng.uniform(-3, 3);
  return {
    count: n,
    shDegree: degree,
    means: rng.normals(n * 3, spread),
    quats: rng.normals(n * 4),
    logScales: rng.floats(n * 3, -9, 4),
    opacityLogits: rng.floats(n, -6, 6),
    sh,
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Rotation angle (radians) between the rotations of quaternions a[4i..] and b[4i..] (any norm, any sign). */
function rotationAngle(a: Float32Array, b: Float32Array, i: number): number {
  let dot = 0, na = 0, nb = 0;
  for (let d = 0; d < 4; d++) {
    dot += a[4 * i + d] * b[4 * i + d];
    na += a[4 * i + d] ** 2;
    nb += b[4 * i + d] ** 2;
  }
  return 2 * Math.acos(Math.min(1, Math.abs(dot) / Math.sqrt(na * nb)));
}

/**
 * Quantization bounds of SPZ v3 as this writer encodes (derived in data/spz.ts's layout):
 * position: round to 2^-fb, so |err| <= 2^-(fb+1); log-scale: steps of 1/16, |err| <= 1/32; opacity: 8 bits
 * of sigmoid, |err| <= 0.5/255 in opacity; DC: steps of 1/(0.15*255), |err| <= 0.5/38.25 (colour error
 * SH_C0 times that, 0.0037); SH degree 1: round to 1/128 then to a multiple of 8/128, |err| <= 4.5/128; degree
 * 2-3: multiple of 16/128, |err| <= 8.5/128; rotation: the three smallest components in 9 bits over
 * [0, 1/sqrt 2], each within e = (1/sqrt 2)/1022; the largest (>= 1/2) is then within 3e, the quaternion within
 * sqrt(3 + 9) e, and the rotation angle (twice the quaternion angle) within 7e = 0.00484 rad (0.28 degrees).
 */
const BOUNDS = {
  scale: 1 / 32,
  opacity: 0.5 / 255 + 1e-6,
  dc: 0.5 / (0.15 * 255) + 1e-6,
  sh1: 4.5 / 128 + 1e-6,
  shRest: 8.5 / 128 + 1e-6,
  angle: (7 * Math.SQRT1_2) / 1022,
};

/** Largest error per attribute between `a` (original) and `b` (decoded); throws when over BOUNDS. */
function checkBounds(a: GaussianCloud, b: GaussianCloud, fractionalBits: number): Record<string, number> {
  assert.equal(b.count, a.count);
  assert.equal(b.shDegree, a.shDegree);
  const k = shCoefficients(a.shDegree);
  const worst: Record<string, number> = { pos: 0, scale: 0, opacity: 0, dc: 0, sh1: 0, shRest: 0, angle: 0 };
  const upd = (key: string, e: number) => (worst[key] = Math.max(worst[key], e));
  for (let i = 0; i < a.count * 3; i++) {
    upd("pos", Math.abs(a.means[i] - b.means[i]));
    upd("scale", Math.abs(a.logScales[i] - b.logScales[i]));
  }
  for (let i = 0; i < a.count; i++) {
    upd("opacity", Math.abs(sigmoid(a.opacityLogits[i]) - sigmoid(b.opacityLogits[i])));
    upd("angle", rotationAngle(a.quats, b.quats, i));
    for (let j = 0; j < k * 3; j++) {
      const e = Math.abs(a.sh[i * k * 3 + j] - b.sh[i * k * 3 + j]);
      upd(j < 3 ? "dc" : j < 12 ? "sh1" : "shRest", e);
    }
  }
  const limits: Record<string, number> = { ...BOUNDS, pos: 2 ** -(fractionalBits + 1) };
  for (const key of Object.keys(worst)) {
    assert.ok(worst[key] <= limits[key], `${key}: error ${worst[key]} over bound ${limits[key]}`);
  }
  return worst;
}

Deno.test("SPZ round trip stays within the derived quantization bounds for SH degrees 0..3", () => {
  for (let degree = 0; degree <= 3; degree++) {
    const cloud = randomCloud(20 + degree, 2000, degree);
    const bytes = writeSpz(cloud);
    const { header } = readSpzHeader(bytes, "rt.spz");
    assert.deepEqual(header, {
      version: 3,
      numPoints: 2000,
      shDegree: degree,
      fractionalBits: 12,
      antialiased: false,
    });
    const back = readSpz(bytes, "rt.spz");
    const worst = checkBounds(cloud, back, 12);
    const fmt = Object.entries(worst).map(([key, e]) => `${key} ${e.toExponential(2)}`).join(", ");
    console.log(`degree ${degree} worst errors: ${fmt}`);
    // The bounds are near-tight: the observed errors use most of them (so they are bounds of this encoding).
    assert.ok(worst.pos > 0.9 * 2 ** -13 && worst.angle > 0.5 * BOUNDS.angle && worst.scale > 0.9 / 32);
    if (degree > 0) assert.ok(worst.sh1 > 3.5 / 128);
    // Deterministic output; decode -> encode -> decode reproduces the decoded values (quantization is
    // idempotent; a rotation may come back as -q or with a zero component's sign bit flipped, as in the
    // reference encoder, so rotations are compared as rotations).
    assert.deepEqual(writeSpz(cloud), bytes);
    const again = readSpz(writeSpz(back), "again.spz");
    for (const key of ["means", "logScales", "opacityLogits", "sh"] as const) {
      assert.equal(maxAbsDiff(again[key], back[key]), 0, key);
    }
    for (let i = 0; i < back.count; i++) assert.ok(rotationAngle(again.quats, back.quats, i) < 2e-3);
  }
});

Deno.test("SPZ stream layout matches hand-computed bytes", () => {
  const cloud: GaussianCloud = {
    count: 2,
    shDegree: 1,
    means: new Float32Array([1.5, -2.25, 0.0001, -0.5, 0, 2047]),
    quats: new Float32Array([2, 0, 0, 0, 0.6, 0.8, 0, 0]),
    logScales: new Float32Array([-10, -2, 6, 0, -11, -9.97]),
    opacityLogits: new Float32Array([0, 20]),
    sh: new Float32Array([0, 1, -1, 0.5, -0.3, 0.99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  };
  const raw = gunzipSync(writeSpz(cloud, { antialiased: true }));
  assert.deepEqual(Array.from(raw.subarray(0, 16)), [
    0x4e,
    0x47,
    0x53,
    0x50,
    3,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    1,
    12,
    1,
    0,
  ]);
  const pos = Array.from(raw.subarray(16, 34));
  // 1.5*4096 = 0x001800, -2.25*4096 = -9216 = 0xffdc00, 0.0001*4096 = 0.41 -> 0, -2048 = 0xfff800, 2047*4096
  assert.deepEqual(pos, [0, 0x18, 0, 0, 0xdc, 0xff, 0, 0, 0, 0, 0xf8, 0xff, 0, 0, 0, 0, 0xf0, 0x7f]);
  assert.deepEqual(Array.from(raw.subarray(34, 36)), [128, 255]); // sigmoid(0)*255 = 127.5 rounds up
  assert.deepEqual(Array.from(raw.subarray(36, 42)), [128, 166, 89, 128, 128, 128]); // 127.5 + 38.25 dc
  assert.deepEqual(Array.from(raw.subarray(42, 48)), [0, 128, 255, 160, 0, 0]); // (s + 10) * 16
  // Identity (w = 2): largest is w (index 3), the rest zero. (w, x) = (0.6, 0.8): largest x (index 0), then
  // y = 0, z = 0, w = round(511 * 0.6 * sqrt 2) = 434 in the lowest 10 bits.
  assert.deepEqual(Array.from(raw.subarray(48, 56)), [0, 0, 0, 0xc0, 434 & 0xff, 434 >> 8, 0, 0]);
  // SH degree 1, point 0: 0.5 -> 192; -0.3 -> 90 -> 88; 0.99 -> 255 -> 256 clamped to 255; then zeros (128).
  assert.deepEqual(Array.from(raw.subarray(56, 65)), [192, 88, 255, 128, 128, 128, 128, 128, 128]);
  assert.equal(raw.length, 16 + 2 * 29);
  const back = readSpz(writeSpz(cloud), "hand.spz");
  assert.deepEqual(Array.from(back.means), [1.5, -2.25, 0, -0.5, 0, 2047]);
  assert.deepEqual(Array.from(back.quats.subarray(0, 4)), [1, 0, 0, 0]);
  assert.ok(Math.abs(back.quats[5] - 0.8) < 1e-3 && Math.abs(back.quats[4] - 0.6) < 1e-3);
  assert.equal(back.opacityLogits[1], Math.fround(Math.log(254.5 / 0.5)), "alpha 255 decodes finite");
});

Deno.test("SPZ lowers fractionalBits to fit large positions and rejects unrepresentable ones", () => {
  const cloud = randomCloud(3, 50, 0);
  cloud.means[7] = -3000;
  const bytes = writeSpz(cloud);
  assert.equal(readSpzHeader(bytes, "far.spz").header.fractionalBits, 11);
  checkBounds(cloud, readSpz(bytes, "far.spz"), 11);
  const fine = randomCloud(4, 50, 0, 0.01);
  checkBounds(fine, readSpz(writeSpz(fine, { fractionalBits: 18 }), "fine.spz"), 18);
  cloud.means[7] = 1e7;
  assert.throws(() => writeSpz(cloud), DataError);
  cloud.means[7] = NaN;
  assert.throws(() => writeSpz(cloud), /means\[7\] is not finite/);
});

function assertDataError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith("bad.spz: "), e.message);
    return true;
  });
}

Deno.test("SPZ header and size errors each give one DataError", () => {
  const good = writeSpz(randomCloud(5, 40, 1));
  const raw = gunzipSync(good);
  const patched = (at: number, values: number[], length = raw.length) => {
    const r = raw.slice(0, length);
    r.set(values, at);
    return gzipSync(r);
  };
  assertDataError(() => readSpz(raw, "bad.spz"), /no gzip signature/);
  assertDataError(() => readSpz(new Uint8Array(3), "bad.spz"), /no gzip signature/);
  assertDataError(() => readSpz(good.slice(0, 12), "bad.spz"), /truncated \(12 bytes\)/);
  assertDataError(
    () => readSpz(good.slice(0, good.length - 20), "bad.spz"),
    /corrupt or truncated|truncated/,
  );
  const flipped = good.slice();
  flipped[30] ^= 0xff;
  assert.throws(() => readSpz(flipped, "bad.spz"), DataError); // corrupt deflate data or a CRC/size mismatch
  assertDataError(() => readSpz(patched(0, [0x4e, 0x47, 0x53, 0x51]), "bad.spz"), /magic 0x5153474e/);
  assertDataError(() => readSpz(patched(4, [4]), "bad.spz"), /unsupported SPZ version 4/);
  assertDataError(() => readSpz(patched(4, [1]), "bad.spz"), /unsupported SPZ version 1/);
  assertDataError(() => readSpz(patched(12, [4]), "bad.spz"), /SH degree 4/);
  assertDataError(() => readSpz(patched(14, [2]), "bad.spz"), /extensions/);
  assertDataError(() => readSpz(patched(8, [41]), "bad.spz"), /41 points .* \(truncated\)/);
  assertDataError(() => readSpz(patched(8, [39]), "bad.spz"), /inconsistent point count/);
  assertDataError(() => readSpz(patched(0, [], raw.length - 1), "bad.spz"), /truncated/);
  assertDataError(() => readSpz(patched(0, [], 10), "bad.spz"), /truncated/);
  assertDataError(() => readSpz(patched(12, [0]), "bad.spz"), /inconsistent/);
});

Deno.test("SPZ version 2 files (3-byte rotations) decode", () => {
  const v3 = gunzipSync(writeSpz(randomCloud(6, 3, 0)));
  const n = 3;
  const raw = new Uint8Array(16 + n * 19);
  raw.set(v3.subarray(0, 16 + n * 16)); // header, positions, alphas, colors, scales
  raw[4] = 2;
  // Rotations: (x, y, z) bytes with w >= 0: identity, 90 degrees about x, and about z.
  raw.set([127.5, 127.5, 127.5, 218, 128, 128, 128, 128, 218].map(Math.round), 16 + n * 16);
  const back = readSpz(gzipSync(raw), "v2.spz");
  const c = Math.SQRT1_2;
  const expected = [1, 0, 0, 0, c, c, 0, 0, c, 0, 0, c];
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(back.quats[i] - expected[i]) < 0.01, `quat ${i}`);
  assert.deepEqual(Array.from(back.means), Array.from(readSpz(gzipSync(v3), "v3").means));
});

/**
 * A head-like cloud: Gaussians on a 10 cm sphere in scan order (neighbours adjacent in the file), colour a smooth
 * function of position, small higher-order SH (|x| ~ 0.03, typical of trained 3DGS scenes), similar scales.
 */
function surfaceCloud(seed: number, n: number, degree: number): GaussianCloud {
  const rng = new Rng(seed);
  const k = shCoefficients(degree);
  const c = randomCloud(seed, n, degree);
  const rows = Math.round(Math.sqrt(n / 2));
  for (let i = 0; i < n; i++) {
    const theta = (Math.PI * (Math.floor(i / (2 * rows)) + 0.5)) / Math.ceil(n / (2 * rows));
    const phi = (Math.PI * (i % (2 * rows))) / rows;
    const p = [Math.sin(theta) * Math.cos(phi), Math.cos(theta), Math.sin(theta) * Math.sin(phi)].map((x) =>
      0.1 * x
    );
    c.means.set(p, 3 * i);
    for (let ch = 0; ch < 3; ch++) {
      c.sh[i * k * 3 + ch] = Math.sin(20 * p[ch] + ch) + 0.02 * rng.normal();
      for (let j = 1; j < k; j++) c.sh[(i * k + j) * 3 + ch] = 0.03 * rng.normal();
    }
    for (let d = 0; d < 3; d++) c.logScales[3 * i + d] = -5.5 + 0.3 * rng.normal();
    c.opacityLogits[i] = 3 + rng.normal();
  }
  return c;
}

Deno.test("SPZ bytes per Gaussian for SH degrees 0, 1, 3", () => {
  const n = 20000;
  const rows: string[] = [];
  for (const degree of [0, 1, 3]) {
    const rawBytes = gunzipSync(writeSpz(randomCloud(30 + degree, n, degree, 0.1))).length;
    assert.equal(rawBytes, 16 + n * (20 + 3 * (shCoefficients(degree) - 1)));
    const raw = rawBytes / n;
    const random = writeSpz(randomCloud(30 + degree, n, degree, 0.1)).length / n;
    const surface = writeSpz(surfaceCloud(30 + degree, n, degree)).length / n;
    rows.push(
      `degree ${degree}: ${raw.toFixed(2)} uncompressed, ${random.toFixed(2)} random, ${
        surface.toFixed(2)
      } surface`,
    );
    assert.ok(surface < random && random < raw, "gzip shrinks the streams, more so for coherent data");
  }
  console.log(
    `SPZ v3 bytes per Gaussian, N = ${n} (random: no coherence; surface: head-like)\n  ${rows.join("\n  ")}`,
  );
  const empty = randomCloud(1, 0, 2);
  assert.equal(readSpz(writeSpz(empty), "empty.spz").count, 0);
});
