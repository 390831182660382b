/**
 * CPU reference of the 3x3 convolution layers (conv2d.ts): same layouts (channel-last images, weights
 * [Cout, 3, 3, Cin] then bias [Cout] at an offset of a flat parameter array), float64 accumulation.
 */
import type { ConvLayer, ImageShape } from "./conv2d.ts";

/** y = act(conv(x) + b), in float64 (finite differences use it too). */
export function conv2dForwardCpu(
  l: ConvLayer,
  s: ImageShape,
  x: ArrayLike<number>,
  params: ArrayLike<number>,
  offset: number,
): Float64Array {
  const { cin, cout } = l, { height: H, width: W } = s;
  const y = new Float64Array(s.views * H * W * cout);
  const bias = offset + cout * 9 * cin;
  for (let v = 0; v < s.views; v++) {
    for (let py = 0; py < H; py++) {
      for (let px = 0; px < W; px++) {
        const p = (v * H + py) * W + px;
        for (let o = 0; o < cout; o++) {
          let z = params[bias + o];
          for (let ky = 0; ky < 3; ky++) {
            const yy = py + ky - 1;
            if (yy < 0 || yy >= H) continue;
            for (let kx = 0; kx < 3; kx++) {
              const xx = px + kx - 1;
              if (xx < 0 || xx >= W) continue;
              const q = ((v * H + yy) * W + xx) * cin;
              const w = offset + ((o * 3 + ky) * 3 + kx) * cin;
              for (let i = 0; i < cin; i++) z += params[w + i] * x[q + i];
            }
          }
          y[p * cout + o] = l.relu ? Math.max(z, 0) : z;
        }
      }
    }
  }
  return y;
}

/** Gradients of a layer: dL/dx and dL/d(weights, bias) (the layer's M parameters, from its offset). */
export function conv2dBackwardCpu(
  l: ConvLayer,
  s: ImageShape,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  dy: ArrayLike<number>,
  params: ArrayLike<number>,
  offset: number,
): { dx: Float32Array; dparams: Float32Array } {
  const { cin, cout } = l, { height: H, width: W } = s;
  const dx = new Float64Array(s.views * H * W * cin);
  const dp = new Float64Array(cout * 9 * cin + cout);
  const bias = cout * 9 * cin;
  for (let v = 0; v < s.views; v++) {
    for (let py = 0; py < H; py++) {
      for (let px = 0; px < W; px++) {
        const p = (v * H + py) * W + px;
        for (let o = 0; o < cout; o++) {
          const k = p * cout + o;
          const g = l.relu && y[k] <= 0 ? 0 : dy[k];
          if (g === 0) continue;
          dp[bias + o] += g;
          for (let ky = 0; ky < 3; ky++) {
            const yy = py + ky - 1;
            if (yy < 0 || yy >= H) continue;
            for (let kx = 0; kx < 3; kx++) {
              const xx = px + kx - 1;
              if (xx < 0 || xx >= W) continue;
              const q = ((v * H + yy) * W + xx) * cin;
              const w = ((o * 3 + ky) * 3 + kx) * cin;
              for (let i = 0; i < cin; i++) {
                dp[w + i] += g * x[q + i];
                dx[q + i] += g * params[offset + w + i];
              }
            }
          }
        }
      }
    }
  }
  return { dx: Float32Array.from(dx), dparams: Float32Array.from(dp) };
}
