/**
 * The `.npga` avatar format (data/npga_format.ts): value round trip within the stated quantization bounds, one
 * clear `DataError` for every kind of damage, loading through data/avatar_file.ts, and a render round trip (a
 * small random avatar with G and F posed and rendered at 64x64 from the file and from memory).
 */
import assert from "node:assert/strict";
import { deflateSync } from "fflate";
import { Rng } from "../gpu/rng.ts";
import { DataError } from "../data/errors.ts";
import {
  decodeNpga,
  DEFAULT_NPGA_BITS,
  encodeNpga,
  NPGA_HEADER_BYTES,
  type NpgaAvatar,
  readNpgaDescription,
} from "../data/npga_format.ts";
import { channelRange, crc32, fromHalf, mortonOrder, permuteRows, toHalf } from "../data/npga_quantize.ts";
import { loadAvatarFile } from "../data/avatar_file.ts";
import { defaultCameraInfo } from "../dashboard/avatar_view.ts";
import { resizeCamera } from "../cli/render_camera.ts";
import { AvatarDriver } from "../cli/render_driver.ts";
import { psnrFromMse } from "../training/evaluate.ts";
import { testGpu } from "./helpers.ts";
import { randomAvatar as randomLiveAvatar } from "./avatar_fixture.ts";

const N = 700, F = 4, D = 3;

function randomAvatar(seed: number): NpgaAvatar {
  const r = new Rng(seed), K = 4;
  const u = (lo: number, hi: number) => r.uniform(lo, hi);
  return {
    step: 42,
    cloud: {
      count: N,
      shDegree: 1,
      means: new Float32Array(N * 3).map(() => u(-0.2, 0.3)),
      quats: new Float32Array(N * 4).map(() => u(-1, 1)),
      logScales: new Float32Array(N * 3).map(() => u(-7, -3)),
      opacityLogits: new Float32Array(N).map(() => u(-4, 4)),
      sh: new Float32Array(N * K * 3).map((_, i) => (i % (K * 3)) < 3 ? u(-2, 2) : u(-0.5, 0.5)),
      features: new Float32Array(N * F).map(() => r.normal()),
      featureDim: F,
    },
    constants: {
      featureDim: F,
      exprDim: D,
      shDegree: 1,
      center: [0.05, 0.05, 0.05],
      extent: 0.25,
      positionScale: 0.01,
      reg: { position: 0.1, scale: 0.1, rotation: 0.1, opacity: 0.1, colour: 0.1 },
      positionGradThroughG: false,
    },
    detailParams: new Float32Array(300).map(() => r.normal() * 0.3),
    field: {
      config: {
        frame: { center: [0, 0, 0], scale: 10, diagonal: 0.3 },
        codeDim: D,
        featureDim: F,
        width: 8,
        layers: 2,
      },
      params: new Float32Array(200).map(() => r.normal()),
    },
    cnn: null,
    expressionNames: ["jawOpen", "mouthSmile_L", "eyeBlink_R"],
    config: { data: "datasets/x", trainer: { iters: 7 } },
    metrics: { summary: { test: { psnr: 30 } }, losses: Array.from({ length: 20 }, (_, i) => ({ step: i })) },
  };
}

function maxErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("npga: float16 and CRC-32 helpers", () => {
  for (const v of [0, 1, -2.5, 65504, 6.1e-5, 1e-7, 0.1, -3.14159]) {
    const back = fromHalf(toHalf(v));
    assert.ok(Math.abs(back - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `${v} -> ${back}`);
  }
  assert.equal(fromHalf(toHalf(1e6)), Infinity);
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("npga: values round trip within the quantization bounds", () => {
  const B = { ...DEFAULT_NPGA_BITS, network: 16 };
  const a = randomAvatar(1), bytes = encodeNpga(a, B), b = decodeNpga(bytes, "x.npga");
  const order = mortonOrder(a.cloud.means, N, channelRange(a.cloud.means, 3, 10));
  const c = a.cloud, p = (x: Float32Array, ch: number) => permuteRows(x, ch, order);
  const half = (bits: number, span: number) => span / (2 ** bits - 1) / 2 + 1e-6;
  assert.ok(maxErr(p(c.means, 3), b.cloud.means) <= half(B.position, 0.5), "positions");
  assert.ok(maxErr(p(c.logScales, 3), b.cloud.logScales) <= half(B.scale, 4), "log-scales");
  assert.ok(maxErr(p(c.features!, F), b.cloud.features!) <= half(B.feature, 9), "features");
  const sh = p(c.sh, 12);
  let dcErr = 0, restErr = 0;
  for (let i = 0; i < sh.length; i++) {
    const e = Math.abs(sh[i] - b.cloud.sh[i]);
    if (i % 12 < 3) dcErr = Math.max(dcErr, e);
    else restErr = Math.max(restErr, e);
  }
  assert.ok(dcErr <= half(B.dc, 4), `SH DC ${dcErr}`);
  assert.ok(restErr <= half(B.sh, 1), `SH rest ${restErr}`);
  const op = p(c.opacityLogits, 1), sig = (x: number) => 1 / (1 + Math.exp(-x));
  for (let i = 0; i < N; i++) {
    assert.ok(Math.abs(sig(op[i]) - sig(b.cloud.opacityLogits[i])) <= half(B.opacity, 1));
  }
  const q = p(c.quats, 4);
  for (let i = 0; i < N; i++) {
    const len = Math.hypot(q[i * 4], q[i * 4 + 1], q[i * 4 + 2], q[i * 4 + 3]);
    let dot = 0;
    for (let k = 0; k < 4; k++) dot += q[i * 4 + k] / len * b.cloud.quats[i * 4 + k];
    assert.ok(Math.abs(dot) > 0.9995, `rotation ${i}: |dot| ${Math.abs(dot)}`);
  }
  for (const [x, y] of [[a.detailParams, b.detailParams], [a.field!.params, b.field!.params]]) {
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(x[i] - y[i]) <= Math.abs(x[i]) * 2 ** -11 + 2 ** -24);
    }
  }
  assert.deepEqual(b.field!.config, a.field!.config);
  assert.deepEqual(b.constants, a.constants);
  assert.deepEqual(b.expressionNames, a.expressionNames);
  assert.deepEqual(b.config, a.config);
  assert.equal(b.cnn, null);
  assert.equal(b.step, 42);
  assert.equal((b.metrics!.losses as unknown[]).length, 1, "long histories are trimmed");
  // 8-bit networks: within half a step of their block's scale (max |w| / 127, blocks of 64).
  const n8 = decodeNpga(encodeNpga(a, { ...DEFAULT_NPGA_BITS, network: 8 }), "n8.npga");
  const w = a.field!.params;
  for (let i = 0; i < w.length; i++) {
    let m = 0;
    for (let j = i - (i % 64); j < Math.min(w.length, i - (i % 64) + 64); j++) {
      m = Math.max(m, Math.abs(w[j]));
    }
    assert.ok(Math.abs(w[i] - n8.field!.params[i]) <= m / 127 * 0.5 * 1.002, `8-bit weight ${i}`);
  }
  // The bound is tight: 16-bit positions are finer than the default's bound allows the default to be.
  const fine = decodeNpga(encodeNpga(a, { ...B, position: 16 }), "y.npga");
  assert.ok(maxErr(p(c.means, 3), fine.cloud.means) <= half(16, 0.5), "16-bit positions");
  assert.ok(maxErr(p(c.means, 3), b.cloud.means) > half(16, 0.5), "the default positions are coarser");
});

/** Rebuilds a file from parts with a valid header checksum. */
function rebuild(json: Uint8Array, z: Uint8Array, version = 1): Uint8Array {
  const out = new Uint8Array(NPGA_HEADER_BYTES + json.length + z.length);
  out.set([0x4e, 0x50, 0x47, 0x41, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, version, true);
  dv.setUint32(12, json.length, true);
  dv.setUint32(16, z.length, true);
  out.set(json, NPGA_HEADER_BYTES);
  out.set(z, NPGA_HEADER_BYTES + json.length);
  dv.setUint32(20, crc32(out.subarray(NPGA_HEADER_BYTES)), true);
  return out;
}

Deno.test("npga: every kind of damage gives one clear DataError naming the file", () => {
  const good = encodeNpga(randomAvatar(2));
  const { desc, z } = readNpgaDescription(good, "g.npga");
  const enc = (d: unknown) => new TextEncoder().encode(typeof d === "string" ? d : JSON.stringify(d));
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /not an \.npga avatar/],
    [
      "wrong magic",
      (() => {
        const b = good.slice();
        b[0] = 0x50;
        return b;
      })(),
      /wrong magic/,
    ],
    ["version", rebuild(enc(desc), z, 2), /format version 2; this program reads version 1/],
    ["truncated header", good.slice(0, 12), /truncated/],
    ["truncated payload", good.slice(0, good.length - 10), /truncated: \d+ bytes, the header announces \d+/],
    ["trailing bytes", new Uint8Array([...good, 1, 2, 3]), /3 unexpected bytes/],
    [
      "checksum",
      (() => {
        const b = good.slice();
        b[b.length - 5] ^= 0x40;
        return b;
      })(),
      /checksum mismatch/,
    ],
    ["invalid JSON", rebuild(enc("{not json"), z), /invalid JSON description/],
    [
      "count",
      rebuild(enc({ ...desc, count: desc.count + 1 }), z),
      /section 'positions' has \d+ bytes, \d+ expected/,
    ],
    [
      "missing section",
      rebuild(enc({ ...desc, sections: desc.sections.slice(1) }), z),
      /section 'positions' is missing/,
    ],
    [
      "network length",
      rebuild(enc({ ...desc, networks: desc.networks.map((n) => ({ ...n, count: n.count + 1 })) }), z),
      /network 'detail' has inconsistent/,
    ],
    ["names", rebuild(enc({ ...desc, expressionNames: ["a"] }), z), /expression names are not 3 strings/],
    [
      "payload size",
      rebuild(enc({ ...desc, payloadBytes: desc.payloadBytes + 8 }), z),
      /decompresses to \d+ bytes/,
    ],
    [
      "not deflate",
      rebuild(enc(desc), new Uint8Array([0xff, 0xff, 0xff, 0xff])),
      /payload does not decompress|decompresses to/,
    ],
    [
      "short payload",
      rebuild(enc(desc), deflateSync(new Uint8Array(desc.payloadBytes - 1))),
      /decompresses to \d+ bytes, the description says/,
    ],
  ];
  for (const [name, bytes, re] of cases) {
    assert.throws(() => decodeNpga(bytes, "bad.npga"), (e: unknown) => {
      assert.ok(e instanceof DataError, `${name}: ${e}`);
      assert.match(e.message, /^bad\.npga: /, name);
      assert.match(e.message, re, name);
      return true;
    }, name);
  }
});

Deno.test("npga: loadAvatarFile reads .npga; the decoded avatar renders like the original", async () => {
  const gpu = await testGpu();
  const root = await Deno.makeTempDir({ prefix: "npga_test_" });
  try {
    const { avatar, field, snapshot: snap, fieldState } = await randomLiveAvatar(gpu, 1500, D, [11, 12]);
    avatar.destroy();
    field.destroy();
    const orig = { ...snap, field: fieldState, cnn: null, config: null };
    const file = `${root}/a.npga`;
    await Deno.writeFile(
      file,
      encodeNpga({ ...orig, step: 3, expressionNames: ["a", "b", "c"], metrics: null }),
    );
    const loaded = await loadAvatarFile(file);
    assert.equal(loaded.cloud.count, 1500);
    assert.deepEqual(loaded.expressionNames, ["a", "b", "c"]);
    assert.equal(loaded.step, 3);
    const info = resizeCamera(defaultCameraInfo(snap.constants.center, snap.constants.extent), 64, 64);
    const z = new Float32Array([0.9, -0.4, 0.5]);
    const drivers = [AvatarDriver.create(gpu, orig, [1, 1, 1]), AvatarDriver.create(gpu, loaded, [1, 1, 1])];
    const [x, y] = [
      await drivers[0].render(info, { camera: 0 }, z),
      await drivers[1].render(info, { camera: 0 }, z),
    ];
    for (const d of drivers) d.destroy();
    let se = 0, covered = 0;
    for (let i = 0; i < x.rgb.length; i++) {
      se += (x.rgb[i] - y.rgb[i]) ** 2;
      if (x.rgb[i] < 0.95) covered++;
    }
    assert.ok(covered > x.rgb.length / 10, "the avatar covers part of the image");
    const psnr = psnrFromMse(se / x.rgb.length);
    assert.ok(psnr > 35, `render round trip PSNR ${psnr.toFixed(1)} dB`);
    assert.ok(maxErr(x.rgb, y.rgb) < 0.1, "no pixel differs visibly");
    // A damaged file fails to load with the file's name.
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 3] ^= 1;
    await Deno.writeFile(file, bytes);
    await assert.rejects(loadAvatarFile(file), /a\.npga: checksum mismatch/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
