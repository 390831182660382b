/**
 * Gaussian clouds as SPZ files, version 3 (Niantic's compressed splat format). Pure JavaScript on byte arrays
 * (fflate for gzip), so it also runs in a browser.
 *
 * File = gzip(header + attribute streams). Header (16 bytes, little endian): u32 magic 0x5053474e ("NGSP"),
 * u32 version (3), u32 numPoints, u8 shDegree, u8 fractionalBits, u8 flags (0x1 = antialiased), u8 reserved (0).
 * Then, each stream covering all points in order:
 * - positions: 3 x 24-bit signed fixed point per point (little endian), value = fixed / 2^fractionalBits;
 * - alphas: 1 byte, round(sigmoid(logit) * 255);
 * - colors: 3 bytes, round(dc * 0.15 * 255 + 127.5) (the SH DC coefficient, not the final colour);
 * - scales: 3 bytes, round((logScale + 10) * 16);
 * - rotations: 4 bytes "smallest three": the quaternion in (x, y, z, w) order, normalized and negated if needed
 *   so its largest-magnitude component is positive; a u32 (little endian) holds that component's index in the
 *   top 2 bits, then the other three in index order, 10 bits each (sign bit, then a 9-bit magnitude
 *   round(511 * |q_i| * sqrt(2))), the last one in the lowest bits;
 * - sh: (K - 1) * 3 bytes per point, coefficient-major with the colour channel inner (our own `sh` layout minus
 *   the DC), each round(x * 128) + 128 rounded to a multiple of 8 (degree-1 coefficients, 5 bits) or 16 (degree 2
 *   and 3, 4 bits), clamped to 0..255; value = (byte - 128) / 128.
 * Values outside the representable ranges are clamped (log-scale to [-10, 5.94], DC to about +-3.33, SH to
 * [-1, 0.99]).
 *
 * Axes: SPZ stores RUB coordinates (x right, y up, z back). The trainer's world frame is OpenGL-like (x right,
 * y up, z toward the viewer), which is RUB already, so positions, rotations and SH are stored unchanged: the
 * conversion is the identity, in both directions.
 *
 * Reading accepts versions 2 (3-byte rotations: x, y, z as round(127.5 * q + 127.5) with w >= 0) and 3, SH degree
 * 0..3, and files without SPZ extensions (flag 0x2); anything else (e.g. version 4, which splat-transform writes
 * by default: ask it for `--spz-version 3`), every size mismatch and a gzip checksum mismatch throw a `DataError`.
 *
 * Checked against independent code in tests/splat_interop_test.ts: the output is byte-identical (uncompressed) to
 * @playcanvas/splat-transform's v3 writer, and Niantic's reference decoder reads it as `readSpz` does.
 */
import { gunzipSync, gzipSync } from "fflate";
import { DataError } from "./errors.ts";
import { type GaussianCloud, shCoefficients, validateCloud } from "./gaussian_cloud.ts";

const MAGIC = 0x5053474e;
const HEADER_BYTES = 16;
const COLOR_SCALE = 0.15;
const FLAG_ANTIALIASED = 0x1;
const FLAG_EXTENSIONS = 0x2;
const SQRT1_2 = Math.SQRT1_2;
/** Largest 24-bit signed fixed-point value. */
const FIXED_MAX = (1 << 23) - 1;

/** Largest uncompressed size accepted: 10 million points of SH degree 3 (the reference reader's cap). */
const MAX_RAW_BYTES = HEADER_BYTES + 10_000_000 * 65;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as in gzip) of `data`. */
function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Options for `writeSpz`. */
export interface SpzWriteOptions {
  /**
   * Fractional bits of the 24-bit fixed-point positions (default 12, as Niantic's encoder: 0.24 mm steps and a
   * range of +-2048 units). Lowered automatically when a position would not fit.
   */
  fractionalBits?: number;
  /** Sets the header's antialiased flag (the cloud was trained with a mip/antialiased rasterizer). */
  antialiased?: boolean;
  /** gzip level 0..9 (default 6, zlib's default as in Niantic's encoder). */
  level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
}

/** Header fields of an SPZ file. */
export interface SpzHeader {
  version: number;
  numPoints: number;
  shDegree: number;
  fractionalBits: number;
  antialiased: boolean;
}

/** Round half away from zero (C's `round`, which the reference encoder uses). */
function roundC(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function toU8(x: number): number {
  return Math.min(255, Math.max(0, roundC(x)));
}

function quantizeSh(x: number, bucket: number): number {
  const q = roundC(x * 128) + 128;
  return Math.min(255, Math.max(0, Math.floor((q + bucket / 2) / bucket) * bucket));
}

/** Bytes per point of the uncompressed streams for a version and SH degree. */
function bytesPerPoint(version: number, shDegree: number): number {
  return 9 + 1 + 3 + 3 + (version >= 3 ? 4 : 3) + (shCoefficients(shDegree) - 1) * 3;
}

/** Fractional bits that fit every position of `means` in 24 bits, at most `wanted`. */
function fittingFractionalBits(means: Float32Array, wanted: number): number {
  let maxAbs = 0;
  for (let i = 0; i < means.length; i++) maxAbs = Math.max(maxAbs, Math.abs(means[i]));
  let bits = wanted;
  while (bits > 0 && roundC(maxAbs * 2 ** bits) > FIXED_MAX) bits--;
  if (roundC(maxAbs * 2 ** bits) > FIXED_MAX) {
    throw new DataError(
      "writeSpz",
      `a position (|x| = ${maxAbs}) exceeds SPZ's 24-bit range (+-${FIXED_MAX})`,
    );
  }
  return bits;
}

/** Packs quaternion (w, x, y, z) at `q[o..o+4]` as SPZ v3 "smallest three" into `out[at..at+4]`. */
function packRotation(q: Float32Array, o: number, out: Uint8Array, at: number): void {
  const w = q[o], x = q[o + 1], y = q[o + 2], z = q[o + 3];
  const norm = Math.hypot(w, x, y, z);
  const v = [x / norm, y / norm, z / norm, w / norm];
  let largest = 0;
  for (let i = 1; i < 4; i++) if (Math.abs(v[i]) > Math.abs(v[largest])) largest = i;
  const negate = v[largest] < 0;
  let comp = largest;
  for (let i = 0; i < 4; i++) {
    if (i === largest) continue;
    const sign = (v[i] < 0) !== negate ? 1 : 0;
    const mag = Math.min(511, Math.floor(511 * (Math.abs(v[i]) / SQRT1_2) + 0.5));
    comp = comp * 1024 + sign * 512 + mag;
  }
  out[at] = comp & 0xff;
  out[at + 1] = (comp >>> 8) & 0xff;
  out[at + 2] = (comp >>> 16) & 0xff;
  out[at + 3] = (comp >>> 24) & 0xff;
}

/**
 * Encodes `cloud` as a gzip-compressed SPZ version 3 file (layout and axes in the module comment). Latent
 * features are not stored. Throws a `DataError` if the cloud is inconsistent, holds non-finite values or a
 * position beyond SPZ's range.
 */
export function writeSpz(cloud: GaussianCloud, opts: SpzWriteOptions = {}): Uint8Array {
  validateCloud(cloud, "writeSpz");
  const n = cloud.count;
  const k = shCoefficients(cloud.shDegree);
  const wanted = opts.fractionalBits ?? 12;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 23) {
    throw new Error(`writeSpz: fractionalBits must be an integer in 0..23, got ${wanted}`);
  }
  const bits = fittingFractionalBits(cloud.means, wanted);
  const raw = new Uint8Array(HEADER_BYTES + n * bytesPerPoint(3, cloud.shDegree));
  const head = new DataView(raw.buffer);
  head.setUint32(0, MAGIC, true);
  head.setUint32(4, 3, true);
  head.setUint32(8, n, true);
  raw[12] = cloud.shDegree;
  raw[13] = bits;
  raw[14] = opts.antialiased ? FLAG_ANTIALIASED : 0;
  raw[15] = 0;
  let at = HEADER_BYTES;
  const scale = 2 ** bits;
  for (let i = 0; i < n * 3; i++, at += 3) {
    const fixed = roundC(cloud.means[i] * scale);
    raw[at] = fixed & 0xff;
    raw[at + 1] = (fixed >> 8) & 0xff;
    raw[at + 2] = (fixed >> 16) & 0xff;
  }
  for (let i = 0; i < n; i++) raw[at++] = toU8(255 / (1 + Math.exp(-cloud.opacityLogits[i])));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) raw[at++] = toU8(cloud.sh[i * k * 3 + c] * (COLOR_SCALE * 255) + 127.5);
  }
  for (let i = 0; i < n * 3; i++) raw[at++] = toU8((cloud.logScales[i] + 10) * 16);
  for (let i = 0; i < n; i++, at += 4) packRotation(cloud.quats, 4 * i, raw, at);
  for (let i = 0; i < n; i++) {
    for (let j = 3; j < k * 3; j++) raw[at++] = quantizeSh(cloud.sh[i * k * 3 + j], j < 12 ? 8 : 16);
  }
  return gzipSync(raw, { level: opts.level ?? 6, mtime: 0 });
}

/** Decompresses `bytes` and checks the SPZ header; returns the header and the uncompressed data. */
export function readSpzHeader(bytes: Uint8Array, file: string): { header: SpzHeader; raw: Uint8Array } {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new DataError(file, "not an SPZ file (SPZ files are gzip streams; this one has no gzip signature)");
  }
  if (bytes.length < 18) throw new DataError(file, `SPZ gzip stream is truncated (${bytes.length} bytes)`);
  // fflate sizes its output by the gzip trailer and checks no checksum: check both here, so a corrupt or
  // truncated file gives a clear error instead of a huge allocation or silently wrong values.
  const trailer = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 8);
  const storedCrc = trailer.getUint32(0, true);
  const storedSize = trailer.getUint32(4, true);
  if (storedSize > MAX_RAW_BYTES) {
    throw new DataError(file, `SPZ gzip stream is corrupt or truncated (it claims ${storedSize} bytes)`);
  }
  let raw: Uint8Array;
  try {
    raw = gunzipSync(bytes);
  } catch (e) {
    throw new DataError(file, `SPZ gzip stream is corrupt or truncated (${(e as Error).message})`);
  }
  if (raw.length !== storedSize || crc32(raw) !== storedCrc) {
    throw new DataError(file, "SPZ gzip checksum mismatch: the file is corrupt or truncated");
  }
  if (raw.length < HEADER_BYTES) {
    throw new DataError(file, `SPZ data is truncated (${raw.length}-byte header)`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== MAGIC) {
    throw new DataError(file, `not an SPZ file (magic 0x${magic.toString(16)}, expected 0x5053474e "NGSP")`);
  }
  const version = view.getUint32(4, true);
  if (version !== 2 && version !== 3) {
    throw new DataError(file, `unsupported SPZ version ${version} (this reader handles versions 2 and 3)`);
  }
  const header: SpzHeader = {
    version,
    numPoints: view.getUint32(8, true),
    shDegree: raw[12],
    fractionalBits: raw[13],
    antialiased: (raw[14] & FLAG_ANTIALIASED) !== 0,
  };
  if (header.shDegree > 3) throw new DataError(file, `unsupported SPZ SH degree ${header.shDegree} (0..3)`);
  if (raw[14] & FLAG_EXTENSIONS) {
    throw new DataError(file, "SPZ file uses extensions (flag 0x2), which this reader does not support");
  }
  if (header.fractionalBits > 24) {
    throw new DataError(file, `SPZ fractionalBits ${header.fractionalBits} is out of range (0..24)`);
  }
  const expected = HEADER_BYTES + header.numPoints * bytesPerPoint(version, header.shDegree);
  if (raw.length !== expected) {
    throw new DataError(
      file,
      `SPZ data has ${raw.length} bytes but ${header.numPoints} points of SH degree ${header.shDegree} need ${expected}` +
        (raw.length < expected ? " (truncated)" : " (inconsistent point count)"),
    );
  }
  return { header, raw };
}

/**
 * Decodes an SPZ file (versions 2 and 3; see the module comment) into a cloud in the trainer's world frame.
 * Alpha bytes 0 and 255 (opacity logit -inf and +inf in the reference decoder) decode to the logits of 0.5/255
 * and 254.5/255 so every value stays finite. Every problem throws one `DataError` naming `file`.
 */
export function readSpz(bytes: Uint8Array, file: string): GaussianCloud {
  const { header, raw } = readSpzHeader(bytes, file);
  const n = header.numPoints;
  const k = shCoefficients(header.shDegree);
  const cloud: GaussianCloud = {
    count: n,
    shDegree: header.shDegree,
    means: new Float32Array(n * 3),
    quats: new Float32Array(n * 4),
    logScales: new Float32Array(n * 3),
    opacityLogits: new Float32Array(n),
    sh: new Float32Array(n * k * 3),
  };
  let at = HEADER_BYTES;
  const step = 2 ** -header.fractionalBits;
  for (let i = 0; i < n * 3; i++, at += 3) {
    const fixed = ((raw[at] | (raw[at + 1] << 8) | (raw[at + 2] << 16)) << 8) >> 8; // sign-extend 24 bits
    cloud.means[i] = fixed * step;
  }
  for (let i = 0; i < n; i++) {
    const p = Math.min(254.5, Math.max(0.5, raw[at++])) / 255;
    cloud.opacityLogits[i] = Math.log(p / (1 - p));
  }
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) cloud.sh[i * k * 3 + c] = (raw[at++] / 255 - 0.5) / COLOR_SCALE;
  }
  for (let i = 0; i < n * 3; i++) cloud.logScales[i] = raw[at++] / 16 - 10;
  const xyzw = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    if (header.version >= 3) {
      let comp = raw[at] + raw[at + 1] * 256 + raw[at + 2] * 65536 + raw[at + 3] * 16777216;
      at += 4;
      const largest = Math.floor(comp / 2 ** 30);
      let sum = 0;
      for (let j = 3; j >= 0; j--) {
        if (j === largest) continue;
        const mag = comp & 511, negative = (comp >> 9) & 1;
        comp = Math.floor(comp / 1024);
        const value = (SQRT1_2 * mag) / 511;
        xyzw[j] = negative ? -value : value;
        sum += value * value;
      }
      xyzw[largest] = Math.sqrt(Math.max(0, 1 - sum));
    } else {
      let sum = 0;
      for (let j = 0; j < 3; j++) {
        xyzw[j] = raw[at++] / 127.5 - 1;
        sum += xyzw[j] * xyzw[j];
      }
      xyzw[3] = Math.sqrt(Math.max(0, 1 - sum));
    }
    cloud.quats.set([xyzw[3], xyzw[0], xyzw[1], xyzw[2]], 4 * i);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 3; j < k * 3; j++) cloud.sh[i * k * 3 + j] = (raw[at++] - 128) / 128;
  }
  validateCloud(cloud, file);
  return cloud;
}
