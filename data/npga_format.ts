/**
 * The `.npga` avatar file: a trained avatar compressed for use (posing and rendering), not for resuming
 * training (no Adam moments, no prior B). Pure JavaScript on byte arrays (fflate for deflate).
 *
 * File layout (little endian):
 *   0   8 bytes magic "NPGA\r\n\x1a\n"
 *   8   u32 format version (1)
 *   12  u32 J: byte length of the JSON description
 *   16  u32 Z: byte length of the deflated payload
 *   20  u32 CRC-32 of the J + Z bytes that follow
 *   24  J bytes UTF-8 JSON (`NpgaDescription`), then Z bytes raw deflate of the payload
 *
 * The payload (after inflating, `payloadBytes` long) is the concatenation of the sections the JSON lists with
 * their byte offsets and lengths (data/npga_quantize.ts has the byte layouts):
 *   positions  [3 channels] `bits.position`-bit byte planes over the bounding box (`quant.position`), each
 *              value stored as the difference to the previous Gaussian's modulo 2^bits (Gaussians are written in
 *              Morton order of their positions, so the file's order differs from the trainer's)
 *   rotations  smallest-three: [N] u8 index + 3 channels at `bits.rotation` bits
 *   scales     log-scales, 3 channels at `bits.scale` bits over their per-axis range
 *   opacity    sigmoid(logit), 1 channel at `bits.opacity` bits over [0, 1] (read back clamped away from 0 and 1)
 *   dc         SH DC, 3 channels at `bits.dc` bits over their range
 *   sh         higher SH bands [(K - 1) * 3 channels, coefficient-major, colour inner] at `bits.sh` bits
 *   features   [F channels] at `bits.feature` bits, per-channel range (scale)
 *   net.<name> each network's flat parameters (detail G, field F, cnn; configuration in JSON) at
 *              `bits.network`: 16 = float16 byte planes, 8 = int8 with a float16 scale per block of 64
 *
 * Reading validates everything and throws one `DataError` naming the file: wrong magic, unsupported version,
 * truncation, checksum mismatch, invalid JSON, payload that does not inflate to its stated size, sections or
 * networks whose lengths disagree with the counts.
 */
import { deflateSync, inflateSync } from "fflate";
import { checkDescription } from "./npga_validate.ts";
import { DataError } from "./errors.ts";
import { type GaussianCloud, shCoefficients, validateCloud } from "./gaussian_cloud.ts";
import {
  channelRange,
  crc32,
  decodeNetwork,
  decodeRotations,
  dequantizePlanes,
  encodeNetwork,
  encodeRotations,
  mortonOrder,
  permuteRows,
  quantizePlanes,
  type QuantRange,
} from "./npga_quantize.ts";
import { decodeCheckpoint } from "../training/checkpoint.ts";
import type { ForwardFieldConfig } from "../training/distill.ts";
import type { PoseConstants } from "../training/pose.ts";
import type { RefineCnnConfig } from "../training/refine_cnn.ts";

/** The magic bytes at the start of every `.npga` file. */
export const NPGA_MAGIC: Uint8Array = new Uint8Array([0x4e, 0x50, 0x47, 0x41, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The format version this code writes and reads. */
export const NPGA_VERSION = 1;
/** Bytes before the JSON description. */
export const NPGA_HEADER_BYTES = 24;

/** Bit depths per attribute (1..16 each). */
export interface NpgaBits {
  position: number;
  rotation: number;
  scale: number;
  opacity: number;
  dc: number;
  sh: number;
  feature: number;
  /** Network weights: 16 (float16) or 8 (int8 with a float16 scale per block of 64). */
  network: number;
}

/**
 * Default bit depths, chosen by measurement on the default avatar (bench/npga_measure.ts: 10,000 Gaussians, SH
 * degree 1, 8 features): 24.53 bytes/Gaussian all sections included, test-split PSNR change -0.080 dB against the
 * uncompressed checkpoint (float16 networks and 16/8/8/8/8/5/8 bits: 32.87 B/Gaussian, -0.011 dB).
 */
export const DEFAULT_NPGA_BITS: NpgaBits = {
  position: 12,
  rotation: 8,
  scale: 7,
  opacity: 8,
  dc: 7,
  sh: 4,
  feature: 6,
  network: 8,
};

/** A trained avatar as the format holds it. */
export interface NpgaAvatar {
  /** Training steps completed. */
  step: number;
  /** Canonical Gaussians with their latent features. */
  cloud: GaussianCloud;
  constants: PoseConstants;
  /** Flat parameters of the detail network G. */
  detailParams: Float32Array;
  field: { config: ForwardFieldConfig; params: Float32Array } | null;
  cnn: { config: RefineCnnConfig; params: Float32Array } | null;
  /** One name per expression dimension, when known. */
  expressionNames: string[] | null;
  /** The run's config.json, when known. */
  config: Record<string, unknown> | null;
  /** The run's metrics.json, when known. */
  metrics: Record<string, unknown> | null;
}

/** A byte range of the inflated payload. */
export interface Section {
  name: string;
  offset: number;
  length: number;
}

/** A network's parameters in the payload. */
export interface NetworkEntry extends Section {
  /** Parameter count (float16 values). */
  count: number;
  /** The network's configuration (ForwardFieldConfig, RefineCnnConfig, or G's width/depth when known). */
  config: Record<string, unknown> | null;
}

/** The JSON description after the header. */
export interface NpgaDescription {
  format: "npga";
  version: number;
  step: number;
  count: number;
  shDegree: number;
  featureDim: number;
  exprDim: number;
  expressionNames: string[] | null;
  constants: PoseConstants;
  bits: NpgaBits;
  quant: { position: QuantRange; scale: QuantRange; dc: QuantRange; sh: QuantRange; feature: QuantRange };
  payloadBytes: number;
  sections: Section[];
  networks: NetworkEntry[];
  provenance: { config: Record<string, unknown> | null; metrics: Record<string, unknown> | null };
}

function splitSh(c: GaussianCloud): { dc: Float32Array; rest: Float32Array } {
  const K = shCoefficients(c.shDegree), N = c.count;
  const dc = new Float32Array(N * 3), rest = new Float32Array(N * (K - 1) * 3);
  for (let n = 0; n < N; n++) {
    dc.set(c.sh.subarray(n * K * 3, n * K * 3 + 3), n * 3);
    rest.set(c.sh.subarray(n * K * 3 + 3, (n + 1) * K * 3), n * (K - 1) * 3);
  }
  return { dc, rest };
}

/** `m` without its long histories (arrays over 8 entries keep their last entry): provenance, not a log. */
function briefMetrics(m: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!m) return null;
  return Object.fromEntries(
    Object.entries(m).map(([k, v]) => [k, Array.isArray(v) && v.length > 8 ? v.slice(-1) : v]),
  );
}

/** Encodes `a` as `.npga` bytes with the given bit depths. */
export function encodeNpga(a: NpgaAvatar, bits: NpgaBits = DEFAULT_NPGA_BITS): Uint8Array {
  const N = a.cloud.count, F = a.constants.featureDim, K = shCoefficients(a.cloud.shDegree);
  const order = mortonOrder(a.cloud.means, N, channelRange(a.cloud.means, 3, 10));
  const c: GaussianCloud = {
    ...a.cloud,
    means: permuteRows(a.cloud.means, 3, order),
    quats: permuteRows(a.cloud.quats, 4, order),
    logScales: permuteRows(a.cloud.logScales, 3, order),
    opacityLogits: permuteRows(a.cloud.opacityLogits, 1, order),
    sh: permuteRows(a.cloud.sh, K * 3, order),
  };
  const features = permuteRows(a.cloud.features ?? new Float32Array(N * F), F, order);
  const { dc, rest } = splitSh(c);
  const opacity = new Float32Array(N);
  for (let n = 0; n < N; n++) opacity[n] = 1 / (1 + Math.exp(-c.opacityLogits[n]));
  const quant = {
    position: channelRange(c.means, 3, bits.position),
    scale: channelRange(c.logScales, 3, bits.scale),
    dc: channelRange(dc, 3, bits.dc),
    sh: channelRange(rest, (shCoefficients(c.shDegree) - 1) * 3, bits.sh),
    feature: channelRange(features, F, bits.feature),
  };
  const parts: [string, Uint8Array][] = [
    ["positions", quantizePlanes(c.means, N, quant.position, true)],
    ["rotations", encodeRotations(c.quats, N, bits.rotation)],
    ["scales", quantizePlanes(c.logScales, N, quant.scale)],
    ["opacity", quantizePlanes(opacity, N, { bits: bits.opacity, min: [0], max: [1] })],
    ["dc", quantizePlanes(dc, N, quant.dc)],
    ["sh", quantizePlanes(rest, N, quant.sh)],
    ["features", quantizePlanes(features, N, quant.feature)],
  ];
  const nets: [string, Float32Array, Record<string, unknown> | null][] = [["detail", a.detailParams, null]];
  if (a.field) nets.push(["field", a.field.params, { ...a.field.config }]);
  if (a.cnn) nets.push(["cnn", a.cnn.params, { ...a.cnn.config }]);
  const sections: Section[] = [], networks: NetworkEntry[] = [];
  let offset = 0;
  for (const [name, bytes] of parts) {
    sections.push({ name, offset, length: bytes.length });
    offset += bytes.length;
  }
  for (const [name, params, config] of nets) {
    const bytes = encodeNetwork(params, bits.network);
    parts.push([`net.${name}`, bytes]);
    networks.push({ name, offset, length: bytes.length, count: params.length, config });
    offset += bytes.length;
  }
  const payload = new Uint8Array(offset);
  for (let i = 0, o = 0; i < parts.length; o += parts[i][1].length, i++) payload.set(parts[i][1], o);
  const desc: NpgaDescription = {
    format: "npga",
    version: NPGA_VERSION,
    step: a.step,
    count: N,
    shDegree: c.shDegree,
    featureDim: F,
    exprDim: a.constants.exprDim,
    expressionNames: a.expressionNames,
    constants: a.constants,
    bits,
    quant,
    payloadBytes: payload.length,
    sections,
    networks,
    provenance: { config: a.config, metrics: briefMetrics(a.metrics) },
  };
  const json = new TextEncoder().encode(JSON.stringify(desc));
  const z = deflateSync(payload, { level: 9 });
  const out = new Uint8Array(NPGA_HEADER_BYTES + json.length + z.length);
  out.set(NPGA_MAGIC);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, NPGA_VERSION, true);
  dv.setUint32(12, json.length, true);
  dv.setUint32(16, z.length, true);
  out.set(json, NPGA_HEADER_BYTES);
  out.set(z, NPGA_HEADER_BYTES + json.length);
  dv.setUint32(20, crc32(out.subarray(NPGA_HEADER_BYTES)), true);
  return out;
}

/** Parses the header and JSON description of `.npga` bytes, checking magic, version, length and checksum. */
export function readNpgaDescription(
  bytes: Uint8Array,
  file: string,
): { desc: NpgaDescription; z: Uint8Array } {
  const fix = "The file is damaged or incomplete; export the avatar again (deno task export RUN --npga OUT)";
  if (bytes.length < NPGA_HEADER_BYTES) {
    if (bytes.length >= 8 && NPGA_MAGIC.every((b, i) => bytes[i] === b)) {
      throw new DataError(
        file,
        `is truncated: ${bytes.length} bytes, shorter than the ${NPGA_HEADER_BYTES}-byte header`,
        fix,
      );
    }
    throw new DataError(file, "is not an .npga avatar (too short for the header)");
  }
  if (!NPGA_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new DataError(
      file,
      "is not an .npga avatar (wrong magic bytes)",
      "Give an .npga file written by deno task export",
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true), J = dv.getUint32(12, true), Z = dv.getUint32(16, true);
  if (version !== NPGA_VERSION) {
    throw new DataError(
      file,
      `has .npga format version ${version}; this program reads version ${NPGA_VERSION}`,
      "Export the avatar again with this version (deno task export RUN --npga OUT)",
    );
  }
  const total = NPGA_HEADER_BYTES + J + Z;
  if (bytes.length < total) {
    throw new DataError(file, `is truncated: ${bytes.length} bytes, the header announces ${total}`, fix);
  }
  if (bytes.length > total) {
    throw new DataError(
      file,
      `has ${bytes.length - total} unexpected bytes after the ${total} the header announces`,
      fix,
    );
  }
  const stored = dv.getUint32(20, true), actual = crc32(bytes.subarray(NPGA_HEADER_BYTES));
  if (stored !== actual) {
    throw new DataError(
      file,
      `checksum mismatch (stored CRC-32 ${stored.toString(16)}, computed ${actual.toString(16)})`,
      fix,
    );
  }
  let desc: unknown;
  try {
    desc = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(
        bytes.subarray(NPGA_HEADER_BYTES, NPGA_HEADER_BYTES + J),
      ),
    );
  } catch (e) {
    throw new DataError(file, `has an invalid JSON description (${(e as Error).message})`, fix);
  }
  checkDescription(desc, file);
  return { desc: desc as NpgaDescription, z: bytes.subarray(NPGA_HEADER_BYTES + J) };
}

/** Decodes `.npga` bytes; `file` names the source in the `DataError` thrown for any defect (module comment). */
export function decodeNpga(bytes: Uint8Array, file: string): NpgaAvatar {
  const { desc: d, z } = readNpgaDescription(bytes, file);
  const fix = "The file is damaged; export the avatar again (deno task export RUN --npga OUT)";
  let payload: Uint8Array;
  try {
    payload = inflateSync(z, { out: new Uint8Array(d.payloadBytes + 1) });
  } catch (e) {
    throw new DataError(file, `payload does not decompress (${(e as Error).message})`, fix);
  }
  if (payload.length !== d.payloadBytes) {
    throw new DataError(
      file,
      `payload decompresses to ${payload.length} bytes, the description says ${d.payloadBytes}`,
      fix,
    );
  }
  const sec = (name: string) => {
    const s = d.sections.find((s) => s.name === name)!;
    return payload.subarray(s.offset, s.offset + s.length);
  };
  const N = d.count, K = shCoefficients(d.shDegree), b = d.bits;
  const dc = dequantizePlanes(sec("dc"), N, d.quant.dc), rest = dequantizePlanes(sec("sh"), N, d.quant.sh);
  const sh = new Float32Array(N * K * 3);
  for (let n = 0; n < N; n++) {
    sh.set(dc.subarray(n * 3, n * 3 + 3), n * K * 3);
    sh.set(rest.subarray(n * (K - 1) * 3, (n + 1) * (K - 1) * 3), n * K * 3 + 3);
  }
  const op = dequantizePlanes(sec("opacity"), N, { bits: b.opacity, min: [0], max: [1] });
  const eps = 0.25 / (2 ** b.opacity - 1);
  const opacityLogits = op.map((o) => {
    const p = Math.min(1 - eps, Math.max(eps, o));
    return Math.log(p / (1 - p));
  });
  const cloud: GaussianCloud = {
    count: N,
    shDegree: d.shDegree,
    means: dequantizePlanes(sec("positions"), N, d.quant.position, true),
    quats: decodeRotations(sec("rotations"), N, b.rotation),
    logScales: dequantizePlanes(sec("scales"), N, d.quant.scale),
    opacityLogits,
    sh,
    features: dequantizePlanes(sec("features"), N, d.quant.feature),
    featureDim: d.featureDim,
  };
  validateCloud(cloud, file);
  const net = (name: string) => {
    const e = d.networks.find((n) => n.name === name);
    return e
      ? { e, params: decodeNetwork(payload.subarray(e.offset, e.offset + e.length), e.count, b.network) }
      : null;
  };
  const field = net("field"), cnn = net("cnn");
  return {
    step: d.step,
    cloud,
    constants: d.constants,
    detailParams: net("detail")!.params,
    field: field ? { config: field.e.config as unknown as ForwardFieldConfig, params: field.params } : null,
    cnn: cnn ? { config: cnn.e.config as unknown as RefineCnnConfig, params: cnn.params } : null,
    expressionNames: d.expressionNames,
    config: d.provenance?.config ?? null,
    metrics: d.provenance?.metrics ?? null,
  };
}

/**
 * The `.npga` bytes of a checkpoint (training/checkpoint.ts bytes), with `config` as provenance when it is an
 * object. Throws a `DataError` for a damaged checkpoint.
 */
export function npgaOfCheckpoint(checkpoint: Uint8Array, config: unknown): Uint8Array {
  const s = decodeCheckpoint(checkpoint, "checkpoint");
  const cfg = typeof config === "object" && config !== null && !Array.isArray(config)
    ? config as Record<string, unknown>
    : null;
  return encodeNpga({
    step: s.step,
    cloud: s.avatar.cloud,
    constants: s.avatar.constants,
    detailParams: s.avatar.detailParams,
    field: s.field,
    cnn: s.cnn ?? null,
    expressionNames: null,
    config: cfg,
    metrics: null,
  });
}
