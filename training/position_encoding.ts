/**
 * Fourier features of the normalized position for the deformation networks (B, F): each input row [K] gets
 * sin / cos of pi 2^k x for k < L appended (6 L columns; position_encoding.wgsl), so the MLP can represent
 * motion that changes over short distances (eyelids over the eyeball, the lips) that a softplus MLP of the raw
 * position smooths away. L = 0 is the identity (no kernel runs).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import src from "./position_encoding.wgsl" with { type: "text" };

/** Columns of an encoded row: K + 6 L. */
export function encodedColumns(k: number, bands: number): number {
  return k + 6 * bands;
}

function check(rows: Tensor, k: number, bands: number, other: Tensor, what: string): number {
  const n = rows.size / k;
  if (!Number.isInteger(n) || k < 3) throw new Error(`positionEncoding: rows must be [N, K >= 3], K = ${k}`);
  if (!Number.isInteger(bands) || bands < 0 || bands > 16) {
    throw new Error(`positionEncoding: ${bands} frequency bands (0..16)`);
  }
  if (other.size !== n * encodedColumns(k, bands)) {
    throw new Error(`positionEncoding: ${what} must have ${n * encodedColumns(k, bands)} elements`);
  }
  return n;
}

/** Records enc [N, K + 6 L] = rows [N, K] followed by the position's Fourier features. */
export function encodePositions(gpu: Gpu, rows: Tensor, k: number, bands: number, enc: Tensor): void {
  const n = check(rows, k, bands, enc, "enc");
  dispatch(gpu, gpu.pipeline(src, "encode", {}, "position_encode"), {
    bindings: [rows, null, enc, uniforms(gpu, [n, k, bands])],
    workgroups: Math.ceil(enc.size / 256),
  });
}

/** Records dRows [N, K], the gradient with respect to the rows, from dEnc [N, K + 6 L] (rows as encoded). */
export function decodePositionGrad(
  gpu: Gpu,
  rows: Tensor,
  k: number,
  bands: number,
  dEnc: Tensor,
  dRows: Tensor,
): void {
  const n = check(rows, k, bands, dEnc, "dEnc");
  if (dRows.size !== rows.size) throw new Error(`positionEncoding: dRows must have ${rows.size} elements`);
  dispatch(gpu, gpu.pipeline(src, "decode", {}, "position_decode"), {
    bindings: [rows, dEnc, dRows, uniforms(gpu, [n, k, bands])],
    workgroups: Math.ceil(dRows.size / 256),
  });
}

/** CPU reference of `encodePositions` (float64). */
export function encodePositionsCpu(rows: ArrayLike<number>, k: number, bands: number): Float64Array {
  const n = rows.length / k, w = encodedColumns(k, bands);
  const out = new Float64Array(n * w);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) out[i * w + j] = rows[i * k + j];
    for (let b = 0; b < bands; b++) {
      for (let c = 0; c < 3; c++) {
        const t = Math.PI * 2 ** b * rows[i * k + c];
        out[i * w + k + 6 * b + c] = Math.sin(t);
        out[i * w + k + 6 * b + 3 + c] = Math.cos(t);
      }
    }
  }
  return out;
}

/** CPU reference of `decodePositionGrad` (float64). */
export function decodePositionGradCpu(
  rows: ArrayLike<number>,
  k: number,
  bands: number,
  dEnc: ArrayLike<number>,
): Float64Array {
  const n = rows.length / k, w = encodedColumns(k, bands);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) out[i * k + j] = dEnc[i * w + j];
    for (let c = 0; c < 3; c++) {
      for (let b = 0; b < bands; b++) {
        const f = Math.PI * 2 ** b, t = f * rows[i * k + c], base = i * w + k + 6 * b + c;
        out[i * k + c] += f * (dEnc[base] * Math.cos(t) - dEnc[base + 3] * Math.sin(t));
      }
    }
  }
  return out;
}
