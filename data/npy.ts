/**
 * NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0; C order). Reading accepts little- and big-endian
 * float16/32/64, (u)int8/16/32/64 and bool; writing produces version 1.0 (2.0 when the header needs it), little
 * endian, C order. Pure JavaScript (no file access), so it also runs in a browser.
 */
import { DataError } from "./errors.ts";

/** Typed arrays `readNpy` can return. float16 is widened to Float32Array (its `dtype` stays "<f2"). */
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Typed arrays `writeNpy` accepts. */
export type NpyWritable = Float32Array | Float64Array | Uint32Array | Int32Array | Uint8Array;

/** A decoded array: flat data in C (row-major) order, its shape, and the numpy dtype string of the file. */
export interface NpyArray {
  data: NpyData;
  shape: number[];
  /** numpy `descr` as stored in the file, e.g. "<f4", "|u1", ">f8". */
  dtype: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** dtype code (kind + size, no byte-order char) -> element size in bytes. */
const SIZES: Record<string, number> = {
  f2: 2,
  f4: 4,
  f8: 8,
  i1: 1,
  u1: 1,
  b1: 1,
  i2: 2,
  u2: 2,
  i4: 4,
  u4: 4,
  i8: 8,
  u8: 8,
};

function descrOf(data: NpyWritable, file: string): string {
  if (data instanceof Float32Array) return "<f4";
  if (data instanceof Float64Array) return "<f8";
  if (data instanceof Uint32Array) return "<u4";
  if (data instanceof Int32Array) return "<i4";
  if (data instanceof Uint8Array) return "|u1";
  throw new DataError(file, "writeNpy: unsupported typed array");
}

/**
 * Encodes `data` (C order, `shape.reduce(*) === data.length`) as a little-endian `.npy` file.
 * Throws if the shape does not match the data length.
 */
export function writeNpy(data: NpyWritable, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || count !== data.length) {
    throw new Error(`writeNpy: shape [${shape.join(", ")}] does not match ${data.length} elements`);
  }
  const descr = descrOf(data, "writeNpy");
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let version = 1;
  let prefix = 10; // magic(6) + version(2) + u16 length
  if (dict.length + 1 + prefix > 65535) {
    version = 2;
    prefix = 12;
  }
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - prefix - 1, " ") + "\n";
  const headerLen = dict.length;
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(prefix + headerLen + body.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < headerLen; i++) out[prefix + i] = dict.charCodeAt(i);
  // Typed arrays are little endian on every platform Deno and browsers run on.
  out.set(body, prefix + headerLen);
  return out;
}

interface Header {
  descr: string;
  fortran: boolean;
  shape: number[];
}

function parseHeader(text: string, file: string): Header {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new DataError(file, `not a valid .npy header (${JSON.stringify(text.trim().slice(0, 120))})`);
  }
  const dims = shape[1].split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) =>
    Number(s.replace(/L$/, ""))
  );
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new DataError(file, `invalid shape (${shape[1]}) in .npy header`);
  }
  return { descr: descr[1], fortran: fortran[1] === "True", shape: dims };
}

/** IEEE half -> float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Decodes a `.npy` file. `file` names the source in error messages. Throws `DataError` on bad magic,
 * unsupported version, malformed header, Fortran order, unsupported dtype (e.g. complex, object, strings) or a
 * truncated data section. The returned data is a fresh, aligned copy.
 */
export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new DataError(file, "not a .npy file (bad magic bytes; expected \\x93NUMPY)");
  }
  const major = bytes[6];
  if (major < 1 || major > 3) {
    throw new DataError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) throw new DataError(file, "truncated .npy file (header cut short)");
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (bytes.length < prefix + headerLen) throw new DataError(file, "truncated .npy file (header cut short)");
  const headerBytes = bytes.subarray(prefix, prefix + headerLen);
  const text = major === 3 ? new TextDecoder().decode(headerBytes) : String.fromCharCode(...headerBytes);
  const h = parseHeader(text, file);
  const count = h.shape.reduce((a, b) => a * b, 1);
  if (h.fortran && h.shape.filter((d) => d > 1).length > 1) {
    throw new DataError(
      file,
      "Fortran-order arrays are not supported",
      "Save it with np.ascontiguousarray(x)",
    );
  }
  const order = h.descr[0];
  const code = order === "<" || order === ">" || order === "|" || order === "=" ? h.descr.slice(1) : h.descr;
  const size = SIZES[code];
  if (size === undefined) {
    throw new DataError(
      file,
      `unsupported dtype '${h.descr}'`,
      "Use float16/32/64, (u)int8/16/32/64 or bool",
    );
  }
  const start = prefix + headerLen;
  const need = count * size;
  if (bytes.length - start < need) {
    throw new DataError(
      file,
      `truncated .npy file: shape [${h.shape.join(", ")}] ${h.descr} needs ${need} data bytes, ` +
        `found ${bytes.length - start}`,
    );
  }
  const raw = bytes.slice(start, start + need); // aligned copy
  if (order === ">" && size > 1) {
    for (let i = 0; i < raw.length; i += size) raw.subarray(i, i + size).reverse();
  }
  const buf = raw.buffer;
  let data: NpyData;
  switch (code) {
    case "f2": {
      const u = new Uint16Array(buf);
      const f = new Float32Array(count);
      for (let i = 0; i < count; i++) f[i] = halfToFloat(u[i]);
      data = f;
      break;
    }
    case "f4":
      data = new Float32Array(buf);
      break;
    case "f8":
      data = new Float64Array(buf);
      break;
    case "i1":
      data = new Int8Array(buf);
      break;
    case "u1":
    case "b1":
      data = new Uint8Array(buf);
      break;
    case "i2":
      data = new Int16Array(buf);
      break;
    case "u2":
      data = new Uint16Array(buf);
      break;
    case "i4":
      data = new Int32Array(buf);
      break;
    case "u4":
      data = new Uint32Array(buf);
      break;
    case "i8":
      data = new BigInt64Array(buf);
      break;
    default:
      data = new BigUint64Array(buf);
  }
  return { data, shape: h.shape, dtype: h.descr };
}

/** Converts any numeric npy data to Float32Array (float32 data is returned as is). */
export function npyToFloat32(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(a.data[i]);
  return out;
}
