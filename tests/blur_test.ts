import { convolve1d, gaussianTaps } from "../gpu/blur.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { assertClose, testGpu } from "./helpers.ts";

function convolveCpu(
  src: Float32Array,
  taps: Float32Array,
  P: number,
  H: number,
  W: number,
  axis: 0 | 1,
): number[] {
  const R = (taps.length - 1) / 2;
  const out = new Array<number>(P * H * W).fill(0);
  for (let p = 0; p < P; p++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let k = -R; k <= R; k++) {
          const xx = axis === 0 ? x + k : x, yy = axis === 1 ? y + k : y;
          if (xx >= 0 && xx < W && yy >= 0 && yy < H) acc += taps[k + R] * src[(p * H + yy) * W + xx];
        }
        out[(p * H + y) * W + x] = acc;
      }
    }
  }
  return out;
}

Deno.test("blur: 1-D convolution along x and y matches the CPU reference (zero padding, odd sizes)", async () => {
  const gpu = await testGpu();
  const rng = new Rng(3);
  for (const [P, H, W, R] of [[1, 1, 1, 5], [3, 7, 13, 2], [2, 40, 33, 5]] as const) {
    const src = rng.floats(P * H * W);
    const taps = gaussianTaps(R, 1.5);
    const ts = Tensor.from(gpu, src), td = Tensor.empty(gpu, [P * H * W]), tt = Tensor.from(gpu, taps);
    for (const axis of [0, 1] as const) {
      convolve1d(gpu, ts, td, tt, { planes: P, height: H, width: W }, axis);
      assertClose(await td.read(), convolveCpu(src, taps, P, H, W, axis), {
        atol: 1e-6,
        what: `P${P} H${H} W${W} axis ${axis}`,
      });
    }
  }
});
