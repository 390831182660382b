/**
 * A contact sheet: equally sized RGB frames tiled row by row into one image (`deno task render --sheet`), with
 * a 2-pixel gap of `gap` colour between tiles, and at most `maxWidth` pixels wide (frames are box-downscaled by
 * an integer factor to fit).
 */

/** One RGB u8 frame, row-major [height, width, 3]. */
export interface RgbFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Options of `contactSheet`. */
export interface ContactSheetOptions {
  /** Tiles per row (default: all frames in one row, or as many as fit `maxWidth`). */
  columns?: number;
  /** Largest sheet width in pixels before frames are downscaled (default 2048). */
  maxWidth?: number;
  /** Gap colour RGB u8 (default black). */
  gap?: [number, number, number];
}

function shrink(f: RgbFrame, k: number): RgbFrame {
  if (k === 1) return f;
  const w = Math.floor(f.width / k), h = Math.floor(f.height / k), out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) s += f.rgb[((y * k + dy) * f.width + x * k + dx) * 3 + c];
        }
        out[(y * w + x) * 3 + c] = Math.round(s / (k * k));
      }
    }
  }
  return { rgb: out, width: w, height: h };
}

/** Tiles `frames` (all the same size) into one RGB image. */
export function contactSheet(frames: readonly RgbFrame[], opts: ContactSheetOptions = {}): RgbFrame {
  if (frames.length === 0) throw new Error("contactSheet: no frames");
  const { width, height } = frames[0];
  if (frames.some((f) => f.width !== width || f.height !== height)) {
    throw new Error("contactSheet: frames differ in size");
  }
  const G = 2, maxWidth = opts.maxWidth ?? 2048;
  const cols = Math.min(frames.length, opts.columns ?? frames.length);
  let k = 1;
  while (cols * Math.floor(width / k) + (cols - 1) * G > maxWidth && Math.floor(width / k) > 8) k++;
  const tiles = frames.map((f) => shrink(f, k));
  const tw = tiles[0].width, th = tiles[0].height;
  const rows = Math.ceil(tiles.length / cols);
  const W = cols * tw + (cols - 1) * G, H = rows * th + (rows - 1) * G;
  const out = new Uint8Array(W * H * 3);
  const gap = opts.gap ?? [0, 0, 0];
  for (let i = 0; i < W * H; i++) out.set(gap, i * 3);
  tiles.forEach((t, i) => {
    const ox = (i % cols) * (tw + G), oy = Math.floor(i / cols) * (th + G);
    for (let y = 0; y < th; y++) {
      out.set(t.rgb.subarray(y * tw * 3, (y + 1) * tw * 3), ((oy + y) * W + ox) * 3);
    }
  });
  return { rgb: out, width: W, height: H };
}
