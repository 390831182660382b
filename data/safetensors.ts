/**
 * safetensors files (the Hugging Face format): an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the raw
 * little-endian tensor bytes (offsets relative to the end of the header). Pure JavaScript, no file access.
 *
 * Reading widens F16, BF16 and F64 to Float32Array; integer tensors come back as the matching typed array
 * (I64/U64 as BigInt64Array/BigUint64Array). Writing supports F32, I32, U32 and U8.
 *
 * `validatePriorWeights` checks a `prior.safetensors` against the expected backward-deformation MLP layout (see
 * its comment).
 */
import { DataError } from "./errors.ts";

export type SafeData =
  | Float32Array
  | Int32Array
  | Uint32Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array;

/** One tensor: shape, dtype as stored (e.g. "F16"), and the (possibly widened) data in row-major order. */
export interface SafeTensor {
  dtype: string;
  shape: number[];
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Parses safetensors bytes; `file` names the source in errors (truncated, bad header, bad offsets). */
export function readSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fix = "The file may be truncated or not a safetensors file";
  if (bytes.length < 8) {
    throw new DataError(file, `only ${bytes.length} bytes, too short for safetensors`, fix);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > bytes.length - 8) {
    throw new DataError(file, `header of ${n} bytes runs past the end of the ${bytes.length}-byte file`, fix);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new DataError(file, `header is not valid JSON (${(e as Error).message})`, fix);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new DataError(file, "header is not a JSON object", fix);
  }
  const body = bytes.subarray(8 + n);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]),
      );
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = BYTES[String(t.dtype)];
    if (!size) throw new DataError(file, `tensor '${name}' has unsupported dtype ${JSON.stringify(t.dtype)}`);
    const shape = t.shape, off = t.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new DataError(file, `tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new DataError(file, `tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    const [begin, end] = off as number[];
    if (end - begin !== count * size) {
      throw new DataError(
        file,
        `tensor '${name}' (${t.dtype} [${shape.join(", ")}]) needs ${
          count * size
        } bytes but its offsets span ${end - begin}`,
      );
    }
    if (end > body.length) {
      throw new DataError(
        file,
        `tensor '${name}' ends at byte ${end} of a ${body.length}-byte data section`,
        fix,
      );
    }
    tensors.set(name, {
      dtype: String(t.dtype),
      shape: shape as number[],
      data: decode(body, begin, count, String(t.dtype)),
    });
  }
  return { tensors, metadata };
}

function decode(body: Uint8Array, begin: number, count: number, dtype: string): SafeData {
  const src = body.slice(begin, begin + count * BYTES[dtype]); // copy: aligned and owned
  const buf = src.buffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf);
    case "F64":
      return Float32Array.from(new Float64Array(buf));
    case "F16":
      return Float32Array.from(new Uint16Array(buf), halfToFloat);
    case "BF16": {
      const u = new Uint16Array(buf), out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    case "I32":
      return new Int32Array(buf);
    case "U32":
      return new Uint32Array(buf);
    case "I16":
      return new Int16Array(buf);
    case "U16":
      return new Uint16Array(buf);
    case "I8":
      return new Int8Array(buf);
    case "I64":
      return new BigInt64Array(buf);
    case "U64":
      return new BigUint64Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Tensors to write: F32, I32, U32 or U8 data with a shape. */
export type WritableTensors = Record<
  string,
  { shape: number[]; data: Float32Array | Int32Array | Uint32Array | Uint8Array }
>;

/** Serializes tensors (in name order) and optional string metadata to safetensors bytes. */
export function writeSafetensors(
  tensors: WritableTensors,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`tensor ${name}: shape [${shape}] does not match ${data.length} values`);
    }
    const dtype = data instanceof Float32Array
      ? "F32"
      : data instanceof Int32Array
      ? "I32"
      : data instanceof Uint32Array
      ? "U32"
      : "U8";
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += " ";
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** One linear layer of the prior MLP: y = W x + b with W [outDim, inDim] row-major. */
export interface PriorLayer {
  weight: Float32Array;
  bias: Float32Array;
  inDim: number;
  outDim: number;
}

/** A validated backward-deformation prior (see `validatePriorWeights`). */
export interface PriorWeights {
  layers: PriorLayer[];
  expressionDim: number;
  identityDim: number;
  hyperDim: number;
  /** Layers whose input is `concat(previous output, network input)`. */
  skipLayers: number[];
  softplusBeta: number;
  /** The subject's identity code (zeros when the file has none), length identityDim. */
  identityCode: Float32Array;
}

/**
 * Checks a `prior.safetensors` file holding a backward deformation field B(x_posed, z_expr, z_id) -> (dx, hyper)
 * in the NPHM / MonoNPHM layout (a DeepSDF-style MLP):
 *
 *   {prefix}lin{i}.weight   [out_i, in_i]   float (F32, F16, BF16 or F64), i = 0 .. L-1, L >= 2
 *   {prefix}lin{i}.bias     [out_i]
 *   identity_code           [identity_dim]  optional; zeros when absent
 *
 * The network input is `concat(x_posed (3), z_expr (expression_dim), z_id (identity_dim))`, of width
 * d_in = 3 + expression_dim + identity_dim; hidden layers use softplus(beta); layer i in `skip_layers` takes
 * `concat(h_{i-1}, input)`, so in_i = out_{i-1} + d_in (in_0 = d_in, otherwise in_i = out_{i-1}); the last layer
 * outputs 3 offsets (x_canonical = x_posed + dx) followed by hyper_dim hyper-dimensions. MonoNPHM: L = 6 (five
 * hidden layers of width 400 and the output layer), skip_layers = [3], expression_dim = 100, identity_dim = 16,
 * hyper_dim = 2, beta = 100. `__metadata__` may override the defaults with the string keys `expression_dim`,
 * `identity_dim`, `hyper_dim`, `skip_layers` (comma-separated) and `softplus_beta`. `prefix` is whatever precedes
 * `lin0.weight` (e.g. `ex_model.`) and must be the same for every layer.
 */
export function validatePriorWeights(f: SafetensorsFile, file: string): PriorWeights {
  const meta = f.metadata;
  const num = (key: string, def: number) => {
    const v = meta[key] === undefined ? def : Number(meta[key]);
    if (!Number.isFinite(v) || v < 0) {
      throw new DataError(file, `metadata ${key} = '${meta[key]}' is not a number`);
    }
    return v;
  };
  const E = num("expression_dim", 100), I = num("identity_dim", 16), H = num("hyper_dim", 2);
  const beta = num("softplus_beta", 100);
  const skip = (meta.skip_layers ?? "3").split(",").filter((s) => s.trim()).map(Number);
  const first = [...f.tensors.keys()].find((k) => k.endsWith("lin0.weight"));
  if (first === undefined) throw new DataError(file, "has no 'lin0.weight' tensor: not a prior MLP");
  const prefix = first.slice(0, -"lin0.weight".length);
  const dIn = 3 + E + I;
  const layers: PriorLayer[] = [];
  for (let i = 0; f.tensors.has(`${prefix}lin${i}.weight`); i++) {
    const w = f.tensors.get(`${prefix}lin${i}.weight`)!, b = f.tensors.get(`${prefix}lin${i}.bias`);
    if (!b) throw new DataError(file, `has ${prefix}lin${i}.weight but no ${prefix}lin${i}.bias`);
    if (!(w.data instanceof Float32Array) || !(b.data instanceof Float32Array)) {
      throw new DataError(file, `layer ${i} is ${w.dtype}, expected a float dtype`);
    }
    if (w.shape.length !== 2) {
      throw new DataError(file, `${prefix}lin${i}.weight has shape [${w.shape}], expected 2-D`);
    }
    const [outDim, inDim] = w.shape;
    const prevOut = i === 0 ? 0 : layers[i - 1].outDim;
    const expectIn = i === 0 ? dIn : prevOut + (skip.includes(i) ? dIn : 0);
    if (inDim !== expectIn) {
      throw new DataError(
        file,
        `${prefix}lin${i}.weight takes ${inDim} inputs, expected ${expectIn}` +
          (i === 0
            ? ` (3 + expression_dim ${E} + identity_dim ${I})`
            : skip.includes(i)
            ? " (skip layer)"
            : ""),
      );
    }
    if (b.shape.length !== 1 || b.shape[0] !== outDim) {
      throw new DataError(file, `${prefix}lin${i}.bias has shape [${b.shape}], expected [${outDim}]`);
    }
    layers.push({ weight: w.data, bias: b.data, inDim, outDim });
  }
  if (layers.length < 2) throw new DataError(file, `has ${layers.length} layer(s), expected at least 2`);
  const last = layers[layers.length - 1];
  if (last.outDim !== 3 + H) {
    throw new DataError(
      file,
      `last layer outputs ${last.outDim} values, expected ${3 + H} (3 offsets + hyper_dim ${H})`,
    );
  }
  for (
    const [name, t] of [...layers.entries()].flatMap(([i, l]) =>
      [[`lin${i}.weight`, l.weight], [`lin${i}.bias`, l.bias]] as const
    )
  ) {
    if (!t.every(Number.isFinite)) throw new DataError(file, `${prefix}${name} contains non-finite values`);
  }
  let identityCode: Float32Array = new Float32Array(I);
  const id = f.tensors.get("identity_code");
  if (id) {
    if (!(id.data instanceof Float32Array) || id.data.length !== I) {
      throw new DataError(file, `identity_code has shape [${id.shape}], expected [${I}] floats`);
    }
    identityCode = id.data;
  }
  return {
    layers,
    expressionDim: E,
    identityDim: I,
    hyperDim: H,
    skipLayers: skip,
    softplusBeta: beta,
    identityCode,
  };
}
