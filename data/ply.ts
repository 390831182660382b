/**
 * Gaussian clouds as PLY files in the standard 3D Gaussian Splatting layout (the files the reference 3DGS
 * trainer writes and splat viewers read). Pure JavaScript on byte arrays (no file access), so it also runs in a
 * browser.
 *
 * Written layout: binary little endian, one `vertex` element with float properties
 * `x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 ... f_rest_{3(K-1)-1} opacity scale_0 scale_1 scale_2
 * rot_0 rot_1 rot_2 rot_3`: normals zero, opacity as a logit, natural-log scales, rotation (w, x, y, z) as stored
 * (not normalized), `f_rest` channel-major (all red coefficients k = 1..K-1, then green, then blue).
 *
 * Axes: positions and rotations are written in the trainer's world frame unchanged (identity). 3DGS PLY files
 * carry no axis convention of their own: the reference trainer writes its (COLMAP) world frame as it is, and
 * viewers differ in what they assume (Niantic's spz tools treat PLY as RDF, i.e. y down, z forward, and flip y
 * and z when converting to SPZ; our world frame is RUB, so such a viewer shows our PLY upside down unless it is
 * rotated 180 degrees about x; `rotateX180` in gaussian_cloud.ts converts a cloud between the two frames, for
 * export to such tools or import of a COLMAP-frame scene). The round trip writePly -> readPly is exact.
 */
import { DataError } from "./errors.ts";
import { type GaussianCloud, shCoefficients, validateCloud } from "./gaussian_cloud.ts";

/** Property names of a written vertex, in file order, for an SH degree. */
export function plyPropertyNames(shDegree: number): string[] {
  const rest = 3 * (shCoefficients(shDegree) - 1);
  return [
    "x",
    "y",
    "z",
    "nx",
    "ny",
    "nz",
    "f_dc_0",
    "f_dc_1",
    "f_dc_2",
    ...Array.from({ length: rest }, (_, i) => `f_rest_${i}`),
    "opacity",
    "scale_0",
    "scale_1",
    "scale_2",
    "rot_0",
    "rot_1",
    "rot_2",
    "rot_3",
  ];
}

/**
 * Encodes `cloud` as a binary little-endian 3DGS PLY (layout in the module comment). Latent features are not
 * stored. Throws a `DataError` if the cloud is inconsistent or holds non-finite values.
 */
export function writePly(cloud: GaussianCloud): Uint8Array {
  validateCloud(cloud, "writePly");
  const names = plyPropertyNames(cloud.shDegree);
  const header = [
    "ply",
    "format binary_little_endian 1.0",
    `element vertex ${cloud.count}`,
    ...names.map((p) => `property float ${p}`),
    "end_header",
    "",
  ].join("\n");
  const head = new TextEncoder().encode(header);
  const stride = names.length;
  const k = shCoefficients(cloud.shDegree);
  const out = new Uint8Array(head.length + cloud.count * stride * 4);
  out.set(head);
  const view = new DataView(out.buffer, head.length);
  const row = new Float32Array(stride);
  for (let n = 0; n < cloud.count; n++) {
    let j = 0;
    for (let d = 0; d < 3; d++) row[j++] = cloud.means[3 * n + d];
    row[j++] = 0;
    row[j++] = 0;
    row[j++] = 0;
    for (let c = 0; c < 3; c++) row[j++] = cloud.sh[n * k * 3 + c];
    for (let c = 0; c < 3; c++) {
      for (let i = 1; i < k; i++) row[j++] = cloud.sh[(n * k + i) * 3 + c];
    }
    row[j++] = cloud.opacityLogits[n];
    for (let d = 0; d < 3; d++) row[j++] = cloud.logScales[3 * n + d];
    for (let d = 0; d < 4; d++) row[j++] = cloud.quats[4 * n + d];
    const base = n * stride * 4;
    for (let i = 0; i < stride; i++) view.setFloat32(base + 4 * i, row[i], true);
  }
  return out;
}

type PlyFormat = "ascii" | "binary_little_endian" | "binary_big_endian";

interface PlyProperty {
  name: string;
  /** Scalar type, or the item type of a list. */
  type: string;
  /** Type of the list length, for list properties. */
  countType?: string;
}

interface PlyElement {
  name: string;
  count: number;
  props: PlyProperty[];
}

const TYPE_SIZES: Record<string, number> = {
  char: 1,
  int8: 1,
  uchar: 1,
  uint8: 1,
  short: 2,
  int16: 2,
  ushort: 2,
  uint16: 2,
  int: 4,
  int32: 4,
  uint: 4,
  uint32: 4,
  float: 4,
  float32: 4,
  double: 8,
  float64: 8,
};

function readScalar(view: DataView, offset: number, type: string, le: boolean): number {
  switch (type) {
    case "char":
    case "int8":
      return view.getInt8(offset);
    case "uchar":
    case "uint8":
      return view.getUint8(offset);
    case "short":
    case "int16":
      return view.getInt16(offset, le);
    case "ushort":
    case "uint16":
      return view.getUint16(offset, le);
    case "int":
    case "int32":
      return view.getInt32(offset, le);
    case "uint":
    case "uint32":
      return view.getUint32(offset, le);
    case "float":
    case "float32":
      return view.getFloat32(offset, le);
    default:
      return view.getFloat64(offset, le);
  }
}

/** Finds the byte offset just past the "end_header" line, or -1. */
function headerEnd(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length, 1 << 20);
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, limit));
  const m = /(^|\n)end_header[ \t]*\r?\n/.exec(text);
  return m ? m.index + m[0].length : -1;
}

function parseHeader(
  bytes: Uint8Array,
  file: string,
): { format: PlyFormat; elements: PlyElement[]; body: number } {
  const magic = new TextDecoder("latin1").decode(bytes.subarray(0, 5));
  if (!/^ply\r?\n/.test(magic)) throw new DataError(file, "not a PLY file (it does not start with 'ply')");
  const body = headerEnd(bytes);
  if (body < 0) throw new DataError(file, "PLY header has no end_header line (truncated or corrupt file)");
  const lines = new TextDecoder("latin1").decode(bytes.subarray(0, body)).split(/\r?\n/);
  let format: PlyFormat | undefined;
  const elements: PlyElement[] = [];
  for (const raw of lines.slice(1)) {
    const words = raw.trim().split(/\s+/);
    if (words[0] === "" || words[0] === "comment" || words[0] === "obj_info" || words[0] === "end_header") {
      continue;
    }
    if (words[0] === "format") {
      if (!["ascii", "binary_little_endian", "binary_big_endian"].includes(words[1]) || words[2] !== "1.0") {
        throw new DataError(file, `unsupported PLY format '${words.slice(1).join(" ")}'`);
      }
      format = words[1] as PlyFormat;
    } else if (words[0] === "element") {
      const count = Number(words[2]);
      if (words.length !== 3 || !Number.isSafeInteger(count) || count < 0) {
        throw new DataError(file, `bad PLY element line '${raw.trim()}'`);
      }
      elements.push({ name: words[1], count, props: [] });
    } else if (words[0] === "property") {
      const el = elements.at(-1);
      if (!el) throw new DataError(file, `PLY property '${raw.trim()}' comes before any element`);
      const list = words[1] === "list";
      const prop: PlyProperty = list
        ? { name: words[4], type: words[3], countType: words[2] }
        : { name: words[2], type: words[1] };
      const types = list ? [words[2], words[3]] : [words[1]];
      if (words.length !== (list ? 5 : 3) || types.some((t) => !(t in TYPE_SIZES))) {
        throw new DataError(file, `bad PLY property line '${raw.trim()}'`);
      }
      el.props.push(prop);
    } else {
      throw new DataError(file, `unexpected PLY header line '${raw.trim()}'`);
    }
  }
  if (!format) throw new DataError(file, "PLY header has no format line");
  return { format, elements, body };
}

/** Sequential reader over the body: binary values by type, or ASCII tokens. */
class BodyCursor {
  private pos: number;
  private readonly view: DataView;
  private readonly tokens?: string[];

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly format: PlyFormat,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    if (format === "ascii") {
      const text = new TextDecoder("latin1").decode(bytes.subarray(start)).trim();
      this.tokens = text === "" ? [] : text.split(/\s+/);
      this.pos = 0;
    }
  }

  /** Byte offset (binary) of the next value. */
  get offset(): number {
    return this.pos;
  }

  /** Skips `n` bytes (binary only). */
  skip(n: number): void {
    this.pos += n;
  }

  /** Reads one value of `type`; throws a truncation error past the end. */
  next(type: string, what: string): number {
    if (this.tokens) {
      if (this.pos >= this.tokens.length) throw new DataError(this.file, `PLY data is truncated in ${what}`);
      const token = this.tokens[this.pos++];
      const v = Number(token);
      if (!Number.isNaN(v)) return v;
      const special = /^([+-]?)(nan|inf|infinity)$/i.exec(token);
      if (!special) throw new DataError(this.file, `PLY value '${token}' in ${what} is not a number`);
      return special[2].toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity;
    }
    const size = TYPE_SIZES[type];
    if (this.pos + size > this.bytes.length) {
      throw new DataError(this.file, `PLY data is truncated in ${what}`);
    }
    const v = readScalar(this.view, this.pos, type, this.format === "binary_little_endian");
    this.pos += size;
    return v;
  }
}

const REQUIRED = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2"];
const ROT = ["rot_0", "rot_1", "rot_2", "rot_3"];

/**
 * Decodes a static 3DGS scene from a PLY file: ascii, binary little- or big-endian; scalar properties of any
 * type (float, double, uchar, ...) in any order; extra properties and elements ignored. The SH degree is
 * inferred from the number of `f_rest_*` properties (0, 9, 24 or 45). Every problem (bad magic, unsupported
 * format, missing or list-typed required properties, truncated data, non-finite values) throws one `DataError`
 * naming `file`.
 */
export function readPly(bytes: Uint8Array, file: string): GaussianCloud {
  const { format, elements, body } = parseHeader(bytes, file);
  const vi = elements.findIndex((e) => e.name === "vertex");
  if (vi < 0) throw new DataError(file, "PLY file has no 'vertex' element");
  const vertex = elements[vi];
  const index = new Map(vertex.props.map((p, i) => [p.name, i]));
  const missing = [...REQUIRED, ...ROT].filter((n) => !index.has(n));
  if (missing.length > 0) {
    throw new DataError(
      file,
      `PLY vertex element lacks the 3D Gaussian properties ${missing.join(", ")}`,
      "Expected a 3D Gaussian Splatting PLY (x y z f_dc_* f_rest_* opacity scale_* rot_*)",
    );
  }
  let rest = 0;
  while (index.has(`f_rest_${rest}`)) rest++;
  const degree = [0, 9, 24, 45].indexOf(rest);
  if (degree < 0) {
    throw new DataError(
      file,
      `PLY has ${rest} f_rest_* properties; expected 0, 9, 24 or 45 (SH degree 0..3)`,
    );
  }
  const used = [...REQUIRED, ...ROT, ...Array.from({ length: rest }, (_, i) => `f_rest_${i}`)];
  for (const name of used) {
    if (vertex.props[index.get(name)!].countType) {
      throw new DataError(file, `PLY property ${name} is a list; expected a scalar`);
    }
  }
  const cursor = new BodyCursor(bytes, body, format, file);
  for (const el of elements.slice(0, vi)) skipElement(cursor, el, format);
  const n = vertex.count;
  const k = shCoefficients(degree);
  const cloud: GaussianCloud = {
    count: n,
    shDegree: degree,
    means: new Float32Array(n * 3),
    quats: new Float32Array(n * 4),
    logScales: new Float32Array(n * 3),
    opacityLogits: new Float32Array(n),
    sh: new Float32Array(n * k * 3),
  };
  const fixed = format !== "ascii" && vertex.props.every((p) => !p.countType);
  if (fixed && cursor.offset + n * recordSize(vertex) > bytes.length) {
    throw new DataError(
      file,
      `PLY data is truncated: ${n} vertices need ${n * recordSize(vertex)} bytes, the file has ${
        bytes.length - cursor.offset
      }`,
    );
  }
  const values = new Float64Array(vertex.props.length);
  const col = (name: string) => index.get(name)!;
  const usedCols = used.map(col);
  const meanCols = ["x", "y", "z"].map(col);
  const scaleCols = [0, 1, 2].map((d) => col(`scale_${d}`));
  const rotCols = ROT.map(col);
  const opacityCol = col("opacity");
  // shCols[i * 3 + c]: column of coefficient i (0 = DC), channel c (f_rest is channel-major).
  const shCols = Array.from({ length: k * 3 }, (_, j) => {
    const i = Math.floor(j / 3), c = j % 3;
    return col(i === 0 ? `f_dc_${c}` : `f_rest_${c * (k - 1) + i - 1}`);
  });
  for (let v = 0; v < n; v++) {
    for (let p = 0; p < vertex.props.length; p++) {
      const prop = vertex.props[p];
      if (prop.countType) {
        const len = cursor.next(prop.countType, `vertex ${v}`);
        for (let i = 0; i < len; i++) cursor.next(prop.type, `vertex ${v}`);
      } else {
        values[p] = cursor.next(prop.type, `vertex ${v}`);
      }
    }
    for (let u = 0; u < usedCols.length; u++) {
      const x = values[usedCols[u]];
      if (!Number.isFinite(x)) {
        throw new DataError(file, `PLY property ${used[u]} of vertex ${v} is not finite (${x})`);
      }
    }
    for (let d = 0; d < 3; d++) {
      cloud.means[3 * v + d] = values[meanCols[d]];
      cloud.logScales[3 * v + d] = values[scaleCols[d]];
    }
    for (let d = 0; d < 4; d++) cloud.quats[4 * v + d] = values[rotCols[d]];
    for (let j = 0; j < k * 3; j++) cloud.sh[v * k * 3 + j] = values[shCols[j]];
    cloud.opacityLogits[v] = values[opacityCol];
  }
  validateCloud(cloud, file);
  return cloud;
}

function recordSize(el: PlyElement): number {
  return el.props.reduce((s, p) => s + TYPE_SIZES[p.type], 0);
}

function skipElement(cursor: BodyCursor, el: PlyElement, format: PlyFormat): void {
  if (format !== "ascii" && el.props.every((p) => !p.countType)) {
    cursor.skip(el.count * recordSize(el));
    return;
  }
  for (let r = 0; r < el.count; r++) {
    for (const p of el.props) {
      const what = `element ${el.name}`;
      const len = p.countType ? cursor.next(p.countType, what) : 1;
      for (let i = 0; i < len; i++) cursor.next(p.type, what);
    }
  }
}
