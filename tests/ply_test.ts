import assert from "node:assert/strict";
import { plyPropertyNames, readPly, writePly } from "../data/ply.ts";
import { type GaussianCloud, rotateX180, shCoefficients, validateCloud } from "../data/gaussian_cloud.ts";
import { shBasis } from "../render/sh.ts";
import { DataError } from "../data/errors.ts";
import { Rng } from "../gpu/rng.ts";

/** A seeded random cloud of `n` Gaussians with SH degree `degree`. */
function randomCloud(seed: number, n: number, degree: number): GaussianCloud {
  const rng = new Rng(seed);
  const k = shCoefficients(degree);
  return {
    count: n,
    shDegree: degree,
    means: rng.normals(n * 3, 0.2),
    quats: rng.normals(n * 4),
    logScales: rng.floats(n * 3, -7, -2),
    opacityLogits: rng.normals(n, 3),
    sh: rng.normals(n * k * 3, 0.5),
  };
}

function assertSameCloud(a: GaussianCloud, b: GaussianCloud): void {
  assert.equal(a.count, b.count);
  assert.equal(a.shDegree, b.shDegree);
  for (const key of ["means", "quats", "logScales", "opacityLogits", "sh"] as const) {
    assert.deepEqual(Array.from(a[key]), Array.from(b[key]), key);
  }
}

type Value = number | number[];
interface ElementSpec {
  name: string;
  /** "float x", "uchar red", "list uchar int vertex_indices", ... */
  props: string[];
  rows: Value[][];
}

const SETTERS: Record<string, [number, (v: DataView, o: number, x: number, le: boolean) => void]> = {
  char: [1, (v, o, x) => v.setInt8(o, x)],
  uchar: [1, (v, o, x) => v.setUint8(o, x)],
  short: [2, (v, o, x, le) => v.setInt16(o, x, le)],
  ushort: [2, (v, o, x, le) => v.setUint16(o, x, le)],
  int: [4, (v, o, x, le) => v.setInt32(o, x, le)],
  uint: [4, (v, o, x, le) => v.setUint32(o, x, le)],
  float: [4, (v, o, x, le) => v.setFloat32(o, x, le)],
  double: [8, (v, o, x, le) => v.setFloat64(o, x, le)],
};

/** Builds a PLY file by hand, independently of writePly. */
function buildPly(format: string, elements: ElementSpec[], headerExtra: string[] = []): Uint8Array {
  const header = ["ply", `format ${format} 1.0`, "comment built by ply_test", ...headerExtra];
  for (const e of elements) {
    header.push(
      `element ${e.name} ${e.rows.length}`,
      ...e.props.map((p) => `property ${p}`),
    );
  }
  header.push("end_header", "");
  const head = new TextEncoder().encode(header.join("\n"));
  if (format === "ascii") {
    const lines = elements.flatMap((e) =>
      e.rows.map((r) => r.map((v) => (Array.isArray(v) ? `${v.length} ${v.join(" ")}` : String(v))).join(" "))
    );
    const body = new TextEncoder().encode(lines.join("\n") + "\n");
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return out;
  }
  const le = format === "binary_little_endian";
  const out = new Uint8Array(head.length + (1 << 16));
  out.set(head);
  const view = new DataView(out.buffer);
  let at = head.length;
  const put = (type: string, x: number) => {
    const [size, set] = SETTERS[type];
    set(view, at, x, le);
    at += size;
  };
  for (const e of elements) {
    for (const row of e.rows) {
      row.forEach((v, i) => {
        const words = e.props[i].split(" ");
        if (words[0] === "list") {
          const items = v as number[];
          put(words[1], items.length);
          for (const x of items) put(words[2], x);
        } else put(words[0], v as number);
      });
    }
  }
  return out.slice(0, at);
}

/** A 3DGS vertex element (degree 0) for two Gaussians with extra properties, in a shuffled order. */
function shuffledVertex(xType: string): ElementSpec {
  return {
    name: "vertex",
    props: [
      "float rot_2",
      "uchar red",
      `${xType} y`,
      "float scale_1",
      "float f_dc_2",
      `${xType} x`,
      "float opacity",
      "float rot_0",
      "float f_dc_0",
      "float scale_0",
      `${xType} z`,
      "uchar green",
      "float rot_3",
      "float f_dc_1",
      "float scale_2",
      "float rot_1",
      "float nx",
    ],
    rows: [
      [0.25, 200, -1.5, -3.25, 0.125, 0.5, 2, 1, -0.5, -4, 0.75, 10, -0.125, 0.0625, -5, 0.375, 9],
      [0, 7, 3, -1, 2, -2, -1.5, 0.5, 1.5, -2, 4, 3, 0.5, -1.25, -6, 0.5, 1],
    ],
  };
}

function checkShuffled(c: GaussianCloud): void {
  assert.equal(c.count, 2);
  assert.equal(c.shDegree, 0);
  assert.deepEqual(Array.from(c.means), [0.5, -1.5, 0.75, -2, 3, 4]);
  assert.deepEqual(Array.from(c.quats), [1, 0.375, 0.25, -0.125, 0.5, 0.5, 0, 0.5]);
  assert.deepEqual(Array.from(c.logScales), [-4, -3.25, -5, -2, -1, -6]);
  assert.deepEqual(Array.from(c.opacityLogits), [2, -1.5]);
  assert.deepEqual(Array.from(c.sh), [-0.5, 0.0625, 0.125, 1.5, -1.25, 2]);
}

Deno.test("PLY round trip is exact for SH degrees 0..3 and uses the 3DGS layout", () => {
  for (let degree = 0; degree <= 3; degree++) {
    const cloud = randomCloud(10 + degree, 37, degree);
    const bytes = writePly(cloud);
    const k = shCoefficients(degree);
    const names = plyPropertyNames(degree);
    assert.equal(names.length, 17 + 3 * (k - 1));
    const text = new TextDecoder().decode(bytes.subarray(0, 4000));
    const header = text.slice(0, text.indexOf("end_header\n") + 11);
    assert.ok(header.startsWith("ply\nformat binary_little_endian 1.0\nelement vertex 37\n"));
    assert.equal(header.split("\n").filter((l) => l.startsWith("property float ")).length, names.length);
    assert.equal(bytes.length, header.length + 37 * names.length * 4);
    // Spot-check the channel-major f_rest layout by reading raw floats of vertex 5.
    const view = new DataView(bytes.buffer, header.length + 5 * names.length * 4);
    const f = (name: string) => view.getFloat32(4 * names.indexOf(name), true);
    assert.equal(f("opacity"), cloud.opacityLogits[5]);
    assert.equal(f("rot_0"), cloud.quats[20]);
    assert.equal(f("nx"), 0);
    if (k > 1) {
      assert.equal(f(`f_rest_${k - 1}`), cloud.sh[(5 * k + 1) * 3 + 1], "green coefficient 1");
      assert.equal(
        f(`f_rest_${3 * (k - 1) - 1}`),
        cloud.sh[(5 * k + k - 1) * 3 + 2],
        "last blue coefficient",
      );
    }
    assertSameCloud(readPly(bytes, "rt.ply"), cloud);
  }
  const empty = randomCloud(1, 0, 1);
  assertSameCloud(readPly(writePly(empty), "empty.ply"), empty);
});

Deno.test("PLY reads ascii input with comments and CRLF line ends", () => {
  const ascii = buildPly("ascii", [shuffledVertex("float")]);
  checkShuffled(readPly(ascii, "a.ply"));
  const crlf = new TextEncoder().encode(new TextDecoder().decode(ascii).replaceAll("\n", "\r\n"));
  checkShuffled(readPly(crlf, "crlf.ply"));
  // An ascii file of degree 1 written from a cloud read back through the binary path agrees with it.
  const cloud = randomCloud(3, 4, 1);
  const names = plyPropertyNames(1);
  const written = writePly(cloud);
  const bin = readPly(written, "b.ply");
  const view = new DataView(written.buffer);
  const rows = [0, 1, 2, 3].map((n) => {
    const start = written.length - 4 * names.length * (4 - n);
    return names.map((_, i) => view.getFloat32(start + 4 * i, true));
  });
  const viaAscii = readPly(
    buildPly("ascii", [{ name: "vertex", props: names.map((p) => `float ${p}`), rows }]),
    "c",
  );
  assertSameCloud(viaAscii, bin);
});

Deno.test("PLY reads big-endian doubles, extra properties, any order and other elements", () => {
  const before: ElementSpec = { name: "camera", props: ["float fx", "uchar id"], rows: [[500, 1], [600, 2]] };
  const after: ElementSpec = { name: "face", props: ["list uchar int vertex_indices"], rows: [[[0, 1, 0]]] };
  const listBefore: ElementSpec = {
    name: "tag",
    props: ["list uchar short values"],
    rows: [[[1, 2, 3]], [[]]],
  };
  for (const format of ["binary_big_endian", "binary_little_endian", "ascii"]) {
    checkShuffled(readPly(buildPly(format, [before, shuffledVertex("double"), after]), `${format}.ply`));
    checkShuffled(readPly(buildPly(format, [listBefore, shuffledVertex("float")]), `${format}-list.ply`));
  }
});

function assertDataError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith("bad.ply: "), e.message);
    return true;
  });
}

Deno.test("PLY corruption cases each give one DataError", () => {
  const good = writePly(randomCloud(5, 6, 1));
  const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
  const bytes = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
  const edit = (from: string, to: string) => bytes(text(good).replace(from, to));
  assertDataError(() => readPly(bytes("plx\n" + text(good).slice(4)), "bad.ply"), /not a PLY file/);
  assertDataError(() => readPly(new Uint8Array(0), "bad.ply"), /not a PLY file/);
  assertDataError(
    () => readPly(edit("binary_little_endian 1.0", "binary_little_endian 2.0"), "bad.ply"),
    /format/,
  );
  assertDataError(() => readPly(edit("binary_little_endian", "binary_middle_endian"), "bad.ply"), /format/);
  assertDataError(() => readPly(edit("property float rot_3", "property float rot_9"), "bad.ply"), /rot_3/);
  assertDataError(() => readPly(edit("property float x", "property float q"), "bad.ply"), /lacks .* x/);
  assertDataError(
    () => readPly(edit("property float f_rest_8", "property float extra"), "bad.ply"),
    /8 f_rest/,
  );
  assertDataError(() => readPly(edit("element vertex", "element point"), "bad.ply"), /no 'vertex'/);
  assertDataError(() => readPly(edit("end_header", "end_headr"), "bad.ply"), /end_header/);
  assertDataError(
    () => readPly(edit("property float opacity", "property blob opacity"), "bad.ply"),
    /property/,
  );
  assertDataError(
    () => readPly(edit("property float opacity", "property list uchar float opacity"), "bad.ply"),
    /list/,
  );
  assertDataError(() => readPly(edit("element vertex 6", "element vertex -6"), "bad.ply"), /element/);
  assertDataError(() => readPly(good.slice(0, good.length - 3), "bad.ply"), /truncated/);
  assertDataError(() => readPly(edit("element vertex 6", "element vertex 7"), "bad.ply"), /truncated/);
  // Non-finite values: NaN in a binary opacity, inf in an ascii position.
  const nan = good.slice();
  const stride = 4 * plyPropertyNames(1).length;
  new DataView(nan.buffer).setFloat32(nan.length - stride + 4 * 18, NaN, true);
  assertDataError(() => readPly(nan, "bad.ply"), /opacity of vertex 5 is not finite/);
  const spec = shuffledVertex("float");
  spec.rows[1][5] = "-inf" as unknown as number;
  assertDataError(
    () => readPly(buildPly("ascii", [spec]), "bad.ply"),
    /property x of vertex 1 is not finite/,
  );
  spec.rows[1][5] = "1.0.0" as unknown as number;
  assertDataError(() => readPly(buildPly("ascii", [spec]), "bad.ply"), /not a number/);
  const short = buildPly("ascii", [shuffledVertex("float")]);
  assertDataError(() => readPly(short.slice(0, short.length - 6), "bad.ply"), /truncated/);
  // A zero quaternion cannot be normalized.
  const zero = shuffledVertex("float");
  for (const i of [0, 7, 12, 15]) zero.rows[0][i] = 0;
  assertDataError(() => readPly(buildPly("ascii", [zero]), "bad.ply"), /quaternion of Gaussian 0 is zero/);
});

Deno.test("writePly rejects an inconsistent cloud", () => {
  const c = randomCloud(6, 3, 0);
  assert.throws(() => writePly({ ...c, sh: new Float32Array(5) }), /sh has 5 values, expected 9/);
  const bad = randomCloud(6, 3, 0);
  bad.logScales[4] = Infinity;
  assert.throws(() => writePly(bad), /logScales\[4\] is not finite/);
});

/** Row-major 3x3 rotation matrix of the normalized quaternion (w, x, y, z) at q[4n..]. */
function quatMatrix(q: Float32Array, n: number): number[] {
  const len = Math.hypot(q[4 * n], q[4 * n + 1], q[4 * n + 2], q[4 * n + 3]);
  const [w, x, y, z] = [0, 1, 2, 3].map((d) => q[4 * n + d] / len);
  return [
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ];
}

Deno.test("rotateX180 rotates means, covariances and view-dependent colour, and is its own inverse", () => {
  const c = randomCloud(8, 20, 3);
  const r = rotateX180(c);
  assertSameCloud(rotateX180(r), c);
  const flip = [1, -1, -1]; // R = diag(1, -1, -1)
  const rng = new Rng(9);
  for (let n = 0; n < c.count; n++) {
    for (let d = 0; d < 3; d++) assert.equal(r.means[3 * n + d], flip[d] * c.means[3 * n + d]);
    // Rotation matrices: M' = R M R (so the covariance M S^2 M^T becomes R Sigma R^T).
    const m = quatMatrix(c.quats, n), m2 = quatMatrix(r.quats, n);
    for (let i = 0; i < 9; i++) {
      assert.ok(Math.abs(m2[i] - flip[Math.floor(i / 3)] * m[i] * flip[i % 3]) < 1e-6, `matrix ${i}`);
    }
    // Colour seen along d in the original equals colour seen along R d in the rotated cloud.
    const dir = rng.normals(3);
    const len = Math.hypot(dir[0], dir[1], dir[2]);
    const v = [dir[0] / len, dir[1] / len, dir[2] / len];
    const rv = v.map((x, i) => flip[i] * x);
    for (let ch = 0; ch < 3; ch++) {
      let a = 0, b = 0;
      for (let k = 0; k < 16; k++) {
        a += shBasis(k, v) * c.sh[(n * 16 + k) * 3 + ch];
        b += shBasis(k, rv) * r.sh[(n * 16 + k) * 3 + ch];
      }
      assert.ok(Math.abs(a - b) < 1e-5, `colour of Gaussian ${n} channel ${ch}`);
    }
  }
});

Deno.test("validateCloud names the inconsistent array", () => {
  const c = randomCloud(7, 4, 2);
  validateCloud(c, "ok");
  assert.throws(() => validateCloud({ ...c, shDegree: 4 }, "c"), /SH degree must be 0, 1, 2 or 3/);
  assert.throws(() => validateCloud({ ...c, count: 1.5 }, "c"), /count/);
  assert.throws(
    () => validateCloud({ ...c, quats: new Float32Array(15) }, "c"),
    /quats has 15 values, expected 16/,
  );
  assert.throws(() => validateCloud({ ...c, features: new Float32Array(8) }, "c"), /featureDim/);
  validateCloud({ ...c, features: new Float32Array(8), featureDim: 2 }, "ok");
  assert.throws(
    () => validateCloud({ ...c, features: new Float32Array(8), featureDim: 3 }, "c"),
    /features has 8 values, expected 12/,
  );
  const nan = { ...c, opacityLogits: Float32Array.from([0, 1, NaN, 2]) };
  assert.throws(
    () => validateCloud(nan, "c"),
    (e: unknown) => e instanceof DataError && /Gaussian 2/.test(e.message),
  );
});
