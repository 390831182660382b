/**
 * CPU reference of the 3x3 convolution layers (conv2d.ts), in the same layouts: channel-last images with channels
 * padded to a multiple of 4 (pad channels read as given, written 0), parameters at an offset of a flat array in
 * 4x4 blocks (`weightIndex`, `biasIndex`); only the logical channels enter the sums. Float64 accumulation.
 */
import {
  biasIndex,
  type ConvLayer,
  convParamCount,
  type ImageShape,
  paddedChannels,
  weightIndex,
} from "./conv2d.ts";

/** y = act(conv(x) + b), in float64 (finite differences use it too). */
export function conv2dForwardCpu(
  l: ConvLayer,
  s: ImageShape,
  x: ArrayLike<number>,
  params: ArrayLike<number>,
  offset: number,
): Float64Array {
  const { cin, cout } = l, { height: H, width: W } = s;
  const CI = paddedChannels(cin), CO = paddedChannels(cout);
  const y = new Float64Array(s.views * H * W * CO);
  for (let v = 0; v < s.views; v++) {
    for (let py = 0; py < H; py++) {
      for (let px = 0; px < W; px++) {
        const p = (v * H + py) * W + px;
        for (let o = 0; o < cout; o++) {
          let z = params[offset + biasIndex(l, o)];
          for (let ky = 0; ky < 3; ky++) {
            const yy = py + ky - 1;
            if (yy < 0 || yy >= H) continue;
            for (let kx = 0; kx < 3; kx++) {
              const xx = px + kx - 1;
              if (xx < 0 || xx >= W) continue;
              const q = ((v * H + yy) * W + xx) * CI;
              for (let i = 0; i < cin; i++) {
                z += params[offset + weightIndex(l, ky * 3 + kx, i, o)] * x[q + i];
              }
            }
          }
          y[p * CO + o] = l.relu ? Math.max(z, 0) : z;
        }
      }
    }
  }
  return y;
}

/** Gradients of a layer: dL/dx (padded image) and dL/d(parameters) (the layer's block, from its offset). */
export function conv2dBackwardCpu(
  l: ConvLayer,
  s: ImageShape,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  dy: ArrayLike<number>,
  params: ArrayLike<number>,
  offset: number,
): { dx: Float64Array; dparams: Float64Array } {
  const { cin, cout } = l, { height: H, width: W } = s;
  const CI = paddedChannels(cin), CO = paddedChannels(cout);
  const dx = new Float64Array(s.views * H * W * CI);
  const dp = new Float64Array(convParamCount(l));
  for (let v = 0; v < s.views; v++) {
    for (let py = 0; py < H; py++) {
      for (let px = 0; px < W; px++) {
        const p = (v * H + py) * W + px;
        for (let o = 0; o < cout; o++) {
          const k = p * CO + o;
          const g = l.relu && y[k] <= 0 ? 0 : dy[k];
          if (g === 0) continue;
          dp[biasIndex(l, o)] += g;
          for (let ky = 0; ky < 3; ky++) {
            const yy = py + ky - 1;
            if (yy < 0 || yy >= H) continue;
            for (let kx = 0; kx < 3; kx++) {
              const xx = px + kx - 1;
              if (xx < 0 || xx >= W) continue;
              const q = ((v * H + yy) * W + xx) * CI;
              for (let i = 0; i < cin; i++) {
                const w = weightIndex(l, ky * 3 + kx, i, o);
                dp[w] += g * x[q + i];
                dx[q + i] += g * params[offset + w];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dparams: dp };
}

/** A layer's parameter block with random logical weights and biases (pads 0), from `sample()`. */
export function randomConvParams(l: ConvLayer, sample: () => number): Float32Array {
  const p = new Float32Array(convParamCount(l));
  for (let o = 0; o < l.cout; o++) {
    p[biasIndex(l, o)] = sample();
    for (let t = 0; t < 9; t++) for (let i = 0; i < l.cin; i++) p[weightIndex(l, t, i, o)] = sample();
  }
  return p;
}
