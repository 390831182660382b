/**
 * Validation of the `.npga` JSON description (data/npga_format.ts): every field present and of the right type,
 * counts consistent with the section and network byte lengths. Pure JavaScript.
 */
import { DataError } from "./errors.ts";
import { shCoefficients } from "./gaussian_cloud.ts";
import { bytesPerValue, networkBytes, type QuantRange, rotationBytes } from "./npga_quantize.ts";
import type { NpgaBits, NpgaDescription, Section } from "./npga_format.ts";
import type { ForwardFieldConfig } from "../training/distill.ts";
import type { RefineCnnConfig } from "../training/refine_cnn.ts";

function isInt(x: unknown, min: number, max: number): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= min && x <= max;
}

function checkRange(r: unknown, channels: number, name: string, file: string): void {
  const q = r as QuantRange | null;
  const ok = typeof q === "object" && q !== null && isInt(q.bits, 1, 16) && Array.isArray(q.min) &&
    Array.isArray(q.max) && q.min.length === channels && q.max.length === channels &&
    [...q.min, ...q.max].every((v) => typeof v === "number" && Number.isFinite(v));
  if (!ok) {
    throw new DataError(
      file,
      `description: quantization range '${name}' is not ${channels} finite channels with 1..16 bits`,
    );
  }
}

/** Throws a `DataError` unless `d` has every field of an `NpgaDescription` with consistent counts. */
export function checkDescription(d: unknown, file: string): asserts d is NpgaDescription {
  const bad = (what: string) =>
    new DataError(file, `description: ${what}`, "The file is damaged or was not written by deno task export");
  if (typeof d !== "object" || d === null) throw bad("is not a JSON object");
  const x = d as Partial<NpgaDescription>;
  if (x.format !== "npga") throw bad("format is not 'npga'");
  if (!isInt(x.count, 0, 100_000_000)) throw bad(`Gaussian count ${x.count} is not an integer in 0..1e8`);
  if (!isInt(x.shDegree, 0, 3)) throw bad(`SH degree ${x.shDegree} is not 0..3`);
  if (!isInt(x.featureDim, 0, 4096)) throw bad(`feature dimension ${x.featureDim} is invalid`);
  if (!isInt(x.exprDim, 1, 4096)) throw bad(`expression dimension ${x.exprDim} is invalid`);
  if (!isInt(x.step, 0, Number.MAX_SAFE_INTEGER)) throw bad(`step ${x.step} is invalid`);
  if (!isInt(x.payloadBytes, 0, 2 ** 31)) throw bad(`payload size ${x.payloadBytes} is invalid`);
  const c = x.constants;
  if (
    typeof c !== "object" || c === null || c.exprDim !== x.exprDim || c.featureDim !== x.featureDim ||
    c.shDegree !== x.shDegree
  ) {
    throw bad("pose constants disagree with the expression / feature dimension or SH degree");
  }
  if (
    x.expressionNames !== null &&
    !(Array.isArray(x.expressionNames) && x.expressionNames.length === x.exprDim &&
      x.expressionNames.every((s) => typeof s === "string"))
  ) {
    throw bad(`expression names are not ${x.exprDim} strings`);
  }
  const b = x.bits as NpgaBits | undefined;
  const keys = ["position", "rotation", "scale", "opacity", "dc", "sh", "feature"] as const;
  if (typeof b !== "object" || b === null || !keys.every((k) => isInt(b[k], 1, 16))) {
    throw bad("bit depths are not all 1..16");
  }
  if (b.network !== 8 && b.network !== 16) throw bad(`network bit depth ${b.network} is not 8 or 16`);
  const q = x.quant;
  if (typeof q !== "object" || q === null) throw bad("quantization ranges are missing");
  const K = shCoefficients(x.shDegree);
  checkRange(q.position, 3, "position", file);
  checkRange(q.scale, 3, "scale", file);
  checkRange(q.dc, 3, "dc", file);
  checkRange(q.sh, (K - 1) * 3, "sh", file);
  checkRange(q.feature, x.featureDim, "feature", file);
  if (
    q.position.bits !== b.position || q.scale.bits !== b.scale || q.dc.bits !== b.dc || q.sh.bits !== b.sh ||
    q.feature.bits !== b.feature
  ) {
    throw bad("quantization ranges disagree with the bit depths");
  }
  const N = x.count, v = (bits: number) => bytesPerValue(bits) * N;
  const expected: Record<string, number> = {
    positions: 3 * v(b.position),
    rotations: rotationBytes(N, b.rotation),
    scales: 3 * v(b.scale),
    opacity: v(b.opacity),
    dc: 3 * v(b.dc),
    sh: (K - 1) * 3 * v(b.sh),
    features: x.featureDim * v(b.feature),
  };
  if (!Array.isArray(x.sections) || !Array.isArray(x.networks)) {
    throw bad("section or network list is missing");
  }
  const inPayload = (s: Section) =>
    isInt(s?.offset, 0, x.payloadBytes!) && isInt(s?.length, 0, x.payloadBytes! - s.offset);
  for (const [name, len] of Object.entries(expected)) {
    const s = x.sections.find((s) => s?.name === name);
    if (!s) throw bad(`section '${name}' is missing`);
    if (!inPayload(s)) throw bad(`section '${name}' lies outside the ${x.payloadBytes}-byte payload`);
    if (s.length !== len) {
      throw bad(`section '${name}' has ${s.length} bytes, ${len} expected for ${N} Gaussians`);
    }
  }
  for (const net of x.networks) {
    if (
      typeof net?.name !== "string" || !inPayload(net) || !isInt(net.count, 0, 2 ** 30) ||
      net.length !== networkBytes(net.count, b.network)
    ) {
      throw bad(`network '${net?.name}' has inconsistent parameter count / byte length / offset`);
    }
  }
  if (!x.networks.some((n) => n.name === "detail")) throw bad("the detail network G is missing");
  const field = x.networks.find((n) => n.name === "field")?.config as ForwardFieldConfig | undefined;
  if (field && (field.codeDim !== x.exprDim || field.featureDim !== x.featureDim)) {
    throw bad("the field network's code / feature dimension disagrees with the avatar's");
  }
  const cnn = x.networks.find((n) => n.name === "cnn")?.config as RefineCnnConfig | undefined;
  if (cnn && cnn.featureDim !== x.featureDim) {
    throw bad("the refinement CNN's feature dimension disagrees with the avatar's");
  }
}
