import assert from "node:assert/strict";
import { npyToFloat32, readNpy, writeNpy } from "../data/npy.ts";
import { DataError } from "../data/errors.ts";
import { readNpz, readNpzKey, writeNpz } from "../data/npz.ts";
import { Rng } from "../gpu/rng.ts";

/** Builds a .npy file by hand (independent of writeNpy) with the given header dict text and body. */
function rawNpy(dict: string, body: Uint8Array, version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - prefix - 1, " ") + "\n";
  const out = new Uint8Array(prefix + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, header.length, true);
  else v.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(body, prefix + header.length);
  return out;
}

Deno.test("npy round trip for every writable dtype and several shapes", () => {
  const rng = new Rng(7);
  const cases: [Float32Array | Float64Array | Uint32Array | Int32Array | Uint8Array, number[], string][] = [
    [rng.floats(12), [3, 4], "<f4"],
    [Float64Array.from(rng.floats(5)), [5], "<f8"],
    [Uint32Array.from({ length: 6 }, () => rng.int(1 << 30)), [2, 3, 1], "<u4"],
    [Int32Array.from({ length: 4 }, () => rng.int(1000) - 500), [4, 1], "<i4"],
    [Uint8Array.from({ length: 8 }, () => rng.int(256)), [2, 2, 2], "|u1"],
    [new Float32Array(0), [0, 3], "<f4"],
    [new Float32Array([42]), [], "<f4"],
  ];
  for (const [data, shape, dtype] of cases) {
    const bytes = writeNpy(data, shape);
    assert.equal(bytes[8] + bytes[9] * 256 + 10, bytes.length - data.byteLength, "header length");
    assert.equal((bytes.length - data.byteLength) % 64, 0, "header aligned to 64");
    const back = readNpy(bytes, "x.npy");
    assert.deepEqual(back.shape, shape);
    assert.equal(back.dtype, dtype);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(Array.from(back.data as ArrayLike<number>), Array.from(data));
  }
  assert.throws(() => writeNpy(new Float32Array(5), [2, 3]));
});

Deno.test("npy reads float16, float64, big-endian, v2/v3 headers and int64", () => {
  const half = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00]); // 1, -2, ~0.33325, 2^-24, inf
  const a = readNpy(
    rawNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", new Uint8Array(half.buffer)),
    "h",
  );
  assert.deepEqual(Array.from(a.data as Float32Array), [1, -2, 0.333251953125, 2 ** -24, Infinity]);
  const be = new Uint8Array([0x3f, 0x80, 0, 0, 0xc0, 0x40, 0, 0]); // 1.0, -3.0 big endian f4
  const b = readNpy(rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be, 2), "b");
  assert.deepEqual(Array.from(b.data as Float32Array), [1, -3]);
  const f8 = new Float64Array([0.1, -2.5]);
  const c = readNpy(
    rawNpy('{"descr": "<f8", "fortran_order": False, "shape": (1, 2), }', new Uint8Array(f8.buffer), 3),
    "c",
  );
  assert.deepEqual(Array.from(npyToFloat32(c)), [Math.fround(0.1), -2.5]);
  const i8 = new BigInt64Array([5n, -7n]);
  const d = readNpy(
    rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(i8.buffer)),
    "d",
  );
  assert.deepEqual(Array.from(npyToFloat32(d)), [5, -7]);
});

Deno.test("npy bad input gives a DataError naming the file and problem", () => {
  const good = writeNpy(new Float32Array(6), [2, 3]);
  const expect = (bytes: Uint8Array, re: RegExp) =>
    assert.throws(() => readNpy(bytes, "expressions.npy"), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.match(e.message, /^expressions\.npy: /);
      assert.match(e.message, re);
      return true;
    });
  expect(good.subarray(0, good.length - 3), /truncated/);
  expect(good.subarray(0, 30), /truncated/);
  expect(good.subarray(0, 5), /magic/);
  expect(new TextEncoder().encode("hello world, not numpy"), /magic/);
  const fortran = rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", new Uint8Array(24));
  expect(fortran, /Fortran/);
  expect(
    rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)),
    /dtype '<c8'/,
  );
  expect(
    rawNpy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)),
    /unsupported dtype/,
  );
  expect(rawNpy("{'nonsense': 1}", new Uint8Array(0)), /header/);
});

Deno.test("npz round trip (stored and deflated) and truncated npz", () => {
  const rng = new Rng(9);
  const expr = rng.floats(50);
  const ids = Uint32Array.from({ length: 6 }, (_, i) => i * 3);
  for (const compress of [false, true]) {
    const bytes = writeNpz(
      { expr: { data: expr, shape: [1, 50] }, ids: { data: ids, shape: [2, 3] } },
      compress,
    );
    const all = readNpz(bytes, "f.npz");
    assert.deepEqual([...all.keys()].sort(), ["expr", "ids"]);
    const e = readNpzKey(bytes, "f.npz", "expr");
    assert.deepEqual(e.shape, [1, 50]);
    assert.deepEqual(e.data, expr);
    assert.deepEqual(all.get("ids")!.data, ids);
    assert.throws(() => readNpzKey(bytes, "f.npz", "pose"), /f\.npz: no array 'pose'/);
    for (const cut of [bytes.length - 10, Math.floor(bytes.length / 2), 4]) {
      assert.throws(() => readNpz(bytes.subarray(0, cut), "flame_param/00001.npz"), (err: unknown) => {
        assert.ok(err instanceof DataError);
        assert.match(err.message, /^flame_param\/00001\.npz: (truncated|empty)/);
        return true;
      });
    }
  }
});
