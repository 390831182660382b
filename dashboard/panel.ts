/**
 * The live render panel as one RGB u8 image: ground truth | prediction | error heat map, side by side
 * ([H, 3W, 3]), or the prediction alone when there is no ground truth (free viewpoints, expression sliders).
 * The heat map shows the mean absolute error over the channels on a fixed scale (0 black .. `ERROR_SCALE` and
 * above white, through red and yellow), so panels of different steps compare directly.
 */

/** Mean absolute error (0..1 units) drawn as white in the heat map. */
export const ERROR_SCALE = 0.25;

/** An RGB u8 image. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

const toByte = (v: number) => Math.round(255 * Math.min(Math.max(v, 0), 1));

/** Heat-map colour of an error in 0..1 of the scale: black -> red -> yellow -> white. */
export function heatColour(t: number): [number, number, number] {
  const x = Math.min(Math.max(t, 0), 1) * 3;
  return [toByte(x), toByte(x - 1), toByte(x - 2)];
}

/** Prediction (f32 [H, W, 3] in 0..1) as RGB u8. */
export function predictionImage(pred: Float32Array, width: number, height: number): RgbImage {
  if (pred.length !== width * height * 3) {
    throw new Error(`predictionImage: ${pred.length} values for ${width}x${height}x3`);
  }
  const data = new Uint8Array(pred.length);
  for (let i = 0; i < pred.length; i++) data[i] = toByte(pred[i]);
  return { data, width, height };
}

/** Ground truth (u8 [H, W, 3]) | prediction | error heat map, [H, 3W, 3]. */
export function composePanel(pred: Float32Array, gt: Uint8Array, width: number, height: number): RgbImage {
  const n = width * height;
  if (pred.length !== n * 3 || gt.length !== n * 3) {
    throw new Error(
      `composePanel: ${pred.length} predicted and ${gt.length} true values for ${width}x${height}x3`,
    );
  }
  const W3 = 3 * width, out = new Uint8Array(n * 9);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3, row = y * W3 * 3;
      let err = 0;
      for (let c = 0; c < 3; c++) {
        const p = Math.min(Math.max(pred[i + c], 0), 1);
        out[row + x * 3 + c] = gt[i + c];
        out[row + (width + x) * 3 + c] = toByte(p);
        err += Math.abs(p - gt[i + c] / 255);
      }
      const [r, g, b] = heatColour(err / 3 / ERROR_SCALE);
      const o = row + (2 * width + x) * 3;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return { data: out, width: W3, height };
}
