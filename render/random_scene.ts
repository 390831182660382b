/**
 * Seeded random Gaussian scenes and camera rigs for tests, benchmarks and demos, plus upload to GPU tensors.
 */
import type { Gpu } from "../gpu/device.ts";
import type { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type Camera, lookAt } from "./camera.ts";
import type { GaussianArrays } from "./rasterize_cpu.ts";
import type { GaussianTensors } from "./rasterizer.ts";
import { shCoeffCount } from "./sh.ts";

/** Gaussian arrays with Float32Array storage (what the GPU tensors hold). */
export interface GaussianData extends GaussianArrays {
  means: Float32Array;
  quats: Float32Array;
  logScales: Float32Array;
  opacityLogits: Float32Array;
  sh: Float32Array;
  extras: Float32Array;
}

export interface RandomSceneOptions {
  shDegree: number;
  extraChannels: number;
  /** Means uniform in a cube of this half-size around the origin (default 1). */
  extent?: number;
  /** log-scale range (default [-3.5, -1.5]). */
  logScale?: [number, number];
  /** opacity logit range (default [-1, 3]). */
  opacityLogit?: [number, number];
  /** standard deviation of the higher SH coefficients (default 0.2). */
  shStd?: number;
}

/** N random Gaussians in a cube around the origin. */
export function randomGaussians(rng: Rng, n: number, o: RandomSceneOptions): GaussianData {
  const K = shCoeffCount(o.shDegree), C = o.extraChannels;
  const e = o.extent ?? 1;
  const [slo, shi] = o.logScale ?? [-3.5, -1.5];
  const [olo, ohi] = o.opacityLogit ?? [-1, 3];
  const sh = new Float32Array(n * K * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) sh[i * K * 3 + c] = rng.uniform(-1.5, 1.5);
    for (let k = 1; k < K; k++) {
      for (let c = 0; c < 3; c++) sh[(i * K + k) * 3 + c] = rng.normal() * (o.shStd ?? 0.2);
    }
  }
  return {
    count: n,
    means: rng.floats(3 * n, -e, e),
    quats: rng.normals(4 * n, 1),
    logScales: rng.floats(3 * n, slo, shi),
    opacityLogits: rng.floats(n, olo, ohi),
    sh,
    extras: rng.floats(n * C, -1, 1),
  };
}

/** Uploads the arrays as new tensors (the caller destroys them). */
export function uploadGaussians(gpu: Gpu, d: GaussianData): GaussianTensors {
  const n = d.count;
  return {
    count: n,
    means: Tensor.from(gpu, d.means, [n, 3], "means"),
    quats: Tensor.from(gpu, d.quats, [n, 4], "quats"),
    logScales: Tensor.from(gpu, d.logScales, [n, 3], "logScales"),
    opacityLogits: Tensor.from(gpu, d.opacityLogits, [n], "opacityLogits"),
    sh: Tensor.from(gpu, d.sh, [d.sh.length], "sh"),
    extras: Tensor.from(gpu, d.extras, [d.extras.length], "extras"),
  };
}

/** Destroys the tensors of `uploadGaussians`. */
export function destroyGaussians(g: GaussianTensors): void {
  for (const t of [g.means, g.quats, g.logScales, g.opacityLogits, g.sh, g.extras]) t?.destroy();
}

/**
 * `count` cameras on a ring of `radius` around the origin (slightly above it, alternating up and down by
 * `tilt`), looking at the origin, with a focal length giving roughly a `fovDeg` horizontal field of view.
 * `phase` turns the whole ring (radians).
 */
export function ringCameras(
  count: number,
  width: number,
  height: number,
  opts: { radius?: number; fovDeg?: number; phase?: number; tilt?: number } = {},
): Camera[] {
  const r = opts.radius ?? 4;
  const f = 0.5 * width / Math.tan(((opts.fovDeg ?? 50) * Math.PI) / 360);
  const cams: Camera[] = [];
  for (let i = 0; i < count; i++) {
    const a = (opts.phase ?? 0) + (2 * Math.PI * i) / count;
    const y = (opts.tilt ?? 0.3) * r * (i % 2 === 0 ? 1 : -1);
    cams.push(lookAt([r * Math.sin(a), y, r * Math.cos(a)], [0, 0, 0], [0, 1, 0], {
      fx: f,
      fy: f,
      cx: width / 2,
      cy: height / 2,
      width,
      height,
    }));
  }
  return cams;
}
