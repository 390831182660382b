/**
 * PNG and JPEG encoding/decoding to 8-bit RGB or RGBA pixels, via `fast-png` and `jpeg-js` (pure JavaScript, no
 * file access, so it also runs in a browser). Decoding accepts PNG at 1/2/4/8/16 bits in gray, gray+alpha, RGB,
 * RGBA and palette forms (16-bit is scaled to 8-bit with rounding; gray is expanded to RGB; a tRNS chunk gives
 * RGBA), and baseline/progressive JPEG.
 */
import {
  convertIndexedToRgb,
  decode as decodePngRaw,
  encode as encodePngRaw,
  hasPngSignature,
} from "fast-png";
import jpeg from "jpeg-js";
import { DataError } from "./errors.ts";

/** A decoded image: row-major, top row first, `channels` interleaved u8 values per pixel. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

/**
 * Encodes 8-bit pixels (`channels` = 4 for RGBA, 3 for RGB; `data.length === width*height*channels`) as PNG.
 */
export function encodePng(data: Uint8Array, width: number, height: number, channels: 3 | 4 = 4): Uint8Array {
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: ${data.length} bytes do not match ${width}x${height}x${channels}`);
  }
  return encodePngRaw({ width, height, data, depth: 8, channels });
}

/** Encodes 8-bit RGB or RGBA pixels as a baseline JPEG (alpha is dropped). `quality` is 1..100. */
export function encodeJpeg(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4 = 3,
  quality = 90,
): Uint8Array {
  const rgba = channels === 4 ? data : expand(data, width * height, 3, 4);
  const out = jpeg.encode({ width, height, data: rgba }, quality);
  return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
}

/** Copies `n` pixels of `from` channels into `to` channels (gray -> RGB(A), RGB -> RGBA with alpha 255). */
function expand(src: ArrayLike<number>, n: number, from: number, to: number): Uint8Array {
  const out = new Uint8Array(n * to);
  for (let i = 0; i < n; i++) {
    const s = i * from, d = i * to;
    if (from <= 2) {
      out[d] = out[d + 1] = out[d + 2] = src[s];
      if (to === 4) out[d + 3] = from === 2 ? src[s + 1] : 255;
    } else {
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
      if (to === 4) out[d + 3] = from === 4 ? src[s + 3] : 255;
    }
  }
  return out;
}

/** Unpacks 1/2/4-bit gray rows (each row padded to a whole byte) to 8-bit values scaled to 0..255. */
function unpackLowDepth(packed: ArrayLike<number>, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const max = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      const v = (byte >> (8 - depth - (bit & 7))) & max;
      out[y * width + x] = Math.round((v * 255) / max);
    }
  }
  return out;
}

function decodePng(bytes: Uint8Array, file: string): DecodedImage {
  let png;
  try {
    png = decodePngRaw(bytes, { checkCrc: true });
  } catch (e) {
    throw new DataError(file, `corrupt or unsupported PNG (${(e as Error).message})`);
  }
  const { width, height, depth } = png;
  const n = width * height;
  if (png.palette) {
    let rgb: Uint8Array;
    try {
      rgb = convertIndexedToRgb(png);
    } catch (e) {
      throw new DataError(file, `corrupt palette PNG (${(e as Error).message})`);
    }
    const ch = png.palette[0].length;
    if (ch !== 3 && ch !== 4) throw new DataError(file, `unsupported PNG palette with ${ch} channels`);
    return { width, height, channels: ch, data: rgb };
  }
  const channels = png.channels;
  if (channels < 1 || channels > 4) throw new DataError(file, `unsupported PNG with ${channels} channels`);
  let samples: ArrayLike<number> = png.data;
  if (depth === 16) {
    const src = png.data;
    const s8 = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) s8[i] = Math.round(src[i] / 257);
    samples = s8;
  } else if (depth < 8) {
    if (channels !== 1) throw new DataError(file, `unsupported PNG: ${depth}-bit with ${channels} channels`);
    samples = unpackLowDepth(png.data, width, height, depth);
  }
  if (samples.length < n * channels) throw new DataError(file, "corrupt PNG (pixel data too short)");
  // A tRNS chunk on gray/RGB images names one fully transparent colour (in the file's bit depth).
  const key = png.transparency && png.transparency.length > 0 ? png.transparency : undefined;
  const hasAlpha = channels === 2 || channels === 4 || key !== undefined;
  const outCh: 3 | 4 = hasAlpha ? 4 : 3;
  const data = expand(samples, n, channels, outCh);
  if (key && (channels === 1 || channels === 3)) {
    const raw = png.data;
    const per = depth < 8 ? 1 : channels;
    for (let i = 0; i < n; i++) {
      let match: boolean;
      if (depth < 8) {
        const max = (1 << depth) - 1;
        match = Math.round(((samples[i] as number) * max) / 255) === key[0];
      } else {
        match = true;
        for (let c = 0; c < per; c++) if (raw[i * per + c] !== key[c]) match = false;
      }
      if (match) data[i * 4 + 3] = 0;
    }
  }
  return { width, height, channels: outCh, data };
}

function decodeJpeg(bytes: Uint8Array, file: string): DecodedImage {
  let img;
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
  } catch (e) {
    throw new DataError(file, `corrupt or unsupported JPEG (${(e as Error).message})`);
  }
  const n = img.width * img.height;
  if (img.data.length === n * 3) return { width: img.width, height: img.height, channels: 3, data: img.data };
  if (img.data.length === n * 4) {
    return { width: img.width, height: img.height, channels: 3, data: expand(img.data, n, 4, 3) };
  }
  throw new DataError(file, "corrupt JPEG (pixel data has an unexpected size)");
}

/**
 * Decodes a PNG or JPEG file (detected from its signature, not its name) to 8-bit RGB or RGBA. `file` names the
 * source in error messages. Throws `DataError` for empty, corrupt, truncated or unsupported files.
 */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  if (bytes.length === 0) throw new DataError(file, "image file is empty");
  if (hasPngSignature(bytes)) return decodePng(bytes, file);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return decodeJpeg(bytes, file);
  }
  throw new DataError(file, "not a PNG or JPEG image (unrecognised file signature)");
}

/**
 * Reads width and height from a PNG (IHDR) or JPEG (first SOFn marker) header without decoding pixels.
 * Throws `DataError` when the header is missing, truncated or not PNG/JPEG.
 */
export function imageSize(bytes: Uint8Array, file: string): { width: number; height: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length === 0) throw new DataError(file, "image file is empty");
  if (hasPngSignature(bytes)) {
    if (bytes.length < 24) throw new DataError(file, "corrupt PNG (truncated header)");
    return { width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let p = 2;
    while (p + 9 < bytes.length) {
      if (bytes[p] !== 0xff) throw new DataError(file, "corrupt JPEG (bad marker)");
      const m = bytes[p + 1];
      if (m === 0xff) {
        p++;
        continue;
      }
      const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
      if (isSof) return { width: v.getUint16(p + 7), height: v.getUint16(p + 5) };
      p += 2 + v.getUint16(p + 2);
    }
    throw new DataError(file, "corrupt JPEG (no frame header found)");
  }
  throw new DataError(file, "not a PNG or JPEG image (unrecognised file signature)");
}
