/**
 * CPU pixel operations the dataset loader applies once at load time: compositing RGBA / masked images onto a
 * background colour, and integer box-filter downscaling. Pure JavaScript on u8 buffers.
 */
import type { DecodedImage } from "./image_io.ts";

/** Single-channel mask from a decoded mask image: its alpha when it has one that is not all opaque, else red. */
export function maskFromImage(img: DecodedImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  let useAlpha = false;
  if (img.channels === 4) {
    for (let i = 0; i < n && !useAlpha; i++) if (img.data[i * 4 + 3] !== 255) useAlpha = true;
  }
  const off = useAlpha ? 3 : 0;
  for (let i = 0; i < n; i++) out[i] = img.data[i * img.channels + off];
  return out;
}

/**
 * Composites `img` onto `background` (RGB in 0..1) with coverage = alpha (if `useAlpha` and the image has
 * one) times `mask`/255 (if given), rounding to u8. Returns RGB u8 [H*W*3] and the coverage actually used
 * (undefined when the image is fully opaque and no mask was given).
 */
export function compositeOnBackground(
  img: DecodedImage,
  mask: Uint8Array | undefined,
  background: readonly [number, number, number],
  useAlpha: boolean,
): { rgb: Uint8Array; coverage?: Uint8Array } {
  const n = img.width * img.height, ch = img.channels;
  const alpha = useAlpha && ch === 4;
  const rgb = new Uint8Array(n * 3);
  const bg = background.map((b) => Math.max(0, Math.min(255, b * 255)));
  const coverage = alpha || mask ? new Uint8Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    let a = alpha ? img.data[i * 4 + 3] : 255;
    if (mask) a = Math.round((a * mask[i]) / 255);
    if (coverage) coverage[i] = a;
    for (let c = 0; c < 3; c++) {
      const v = img.data[i * ch + c];
      rgb[i * 3 + c] = a === 255 ? v : Math.round((v * a + bg[c] * (255 - a)) / 255);
    }
  }
  return { rgb, coverage };
}

/**
 * Integer box-filter downscale of an interleaved u8 image by `k` (each output pixel = rounded mean of a k x k
 * block). The output is floor(w/k) x floor(h/k); leftover right/bottom pixels are dropped.
 */
export function downscaleBox(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  k: number,
): { data: Uint8Array; width: number; height: number } {
  if (k === 1) return { data, width, height };
  const w = Math.floor(width / k), h = Math.floor(height / k);
  const out = new Uint8Array(w * h * channels);
  const area = k * k;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) {
          const row = ((y * k + dy) * width + x * k) * channels + c;
          for (let dx = 0; dx < k; dx++) s += data[row + dx * channels];
        }
        out[(y * w + x) * channels + c] = Math.round(s / area);
      }
    }
  }
  return { data: out, width: w, height: h };
}
