/**
 * Backward pass of the Gaussian rasterizer.
 *
 * 1. blend_backward_prep: per-pixel state (upstream colour gradient, final transmittance, last contributor and
 *    the seed of the running "colour behind" sum, which folds in the background and dL/dalpha).
 * 2. blend_backward (the design; see also the kernel header): one workgroup per (tile, view), each invocation
 *    owning columns of 4 pixels in 8x4 pixel blocks with their state in vec4 registers. The tile's list is walked
 *    back to front from the tile's largest last-contributor index, in batches staged in workgroup memory; every
 *    invocation applies each entry to its pixels in reverse order (the 3DGS recurrence: T_j = T_{j+1} /
 *    (1 - alpha_j), dL/dalpha_j = T_j (g . c_j) - R / (1 - alpha_j), R += (g . c_j) alpha_j T_j), skipping
 *    entries at or behind a pixel's last contributor and, per block, entries whose alpha >= 1/255 ellipse cannot
 *    reach the block (the same conservative mask as the forward). The entry's gradient summed over the
 *    invocation's pixels goes to workgroup memory; after the batch one invocation per entry reduces the partial
 *    sums and writes the entry's gradient for this tile as one row of a per-pair buffer [P, 3 + ceil(C / 4)]
 *    vec4f, at the pair's emit position (rasterizer.ts step 4: the pairs of an entry are consecutive there). No
 *    atomics at all (gradients are deterministic), no wavefront, two barriers per batch. On software adapters
 *    (lavapipe runs a workgroup's invocations as 8-wide SIMD lanes, barriers switch coroutines, private-array and
 *    workgroup-memory loads are per lane) the default is one SIMD group of 8 invocations per tile, each owning all
 *    8 blocks (32 pixels), so every staged entry is loaded once per 32 pixels and the reduction is over 8
 *    partials; on GPUs 64 invocations own one block each (`blocksPerThread`).
 * 3. gather_pair_grads: per Gaussian, looping over the views, sums each entry's consecutive rows into the
 *    per-(view, Gaussian) buffer `grad2d` [V * N, 12] and the extra-channel gradients into the caller's tensor.
 * 4. Per Gaussian, looping over the views (one writer per element, no atomics): colour_backward (SH and the
 *    view-direction part of the mean), geometry_backward (mean, quaternion, log-scales through the EWA
 *    projection), opacity_backward (opacity logit and the density-control statistics).
 *
 * Measured on the 2-core lavapipe adapter (SH degree 3, minimum of interleaved runs on a shared, loaded machine):
 * at 256² with 10k random Gaussians the blend-backward pass took 197 ms with the previous per-splat wavefront
 * kernel (CAS atomics per entry and batch) and 47 ms with this design when it still added its per-entry sums with
 * CAS atomics (727 -> 163 ms with 8 extra channels, 417 -> 37 ms on an avatar-like scene of small Gaussians);
 * replacing those atomics by the per-pair rows and the gather brought 100k Gaussians at 550x802 from about
 * 1080 to 995 ms for forward+backward (medians), the atomics having been half of that pass there.
 * Memory: the rows take 48 + 16 ceil(C / 4) bytes per pair during the backward.
 *
 * Gradients are ADDED to the tensors the caller passes (zero them first for a fresh gradient), in the parameter
 * layouts of rasterizer.ts. `densify` [N, 4] accumulates per Gaussian: the NDC-space 2D mean gradient norm, the
 * norm of the per-pixel absolute-value gradient sums (AbsGS variant), and the number of views in which it was
 * visible (the fourth column is unused).
 */
import { dispatch } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { frameUniform } from "./frame_uniform.ts";
import type { GaussianRasterizer, GaussianTensors, RenderOutput } from "./rasterizer.ts";
import prepSrc from "./blend_backward_prep.wgsl" with { type: "text" };
import blendBackSrc from "./blend_backward.wgsl" with { type: "text" };
import colorBackSrc from "./color_backward.wgsl" with { type: "text" };
import geometryBackSrc from "./geometry_backward.wgsl" with { type: "text" };
import opacityBackSrc from "./opacity_backward.wgsl" with { type: "text" };
import gatherSrc from "./gather_pair_grads.wgsl" with { type: "text" };

const WG = 128;

/** Floats per row of the per-pair gradient buffer for `extraChannels` extra channels: 12 + 4 ceil(C / 4). */
export function pairGradientStride(extraChannels: number): number {
  return 12 + 4 * Math.ceil(extraChannels / 4);
}

/** Upstream gradients of the render outputs. */
export interface RenderGradients {
  /** [V, H, W, 3] dL/dRGB. */
  rgb: Tensor;
  /** [V, H, W, C] dL/d(extra channels); omitted = zero. */
  extras?: Tensor;
  /** [V, H, W] dL/dalpha; omitted = zero. */
  alpha?: Tensor;
}

/** Gradient tensors (same layouts as the parameters); results are added to their contents. */
export interface GaussianGradients {
  means: Tensor;
  quats: Tensor;
  logScales: Tensor;
  opacityLogits: Tensor;
  sh: Tensor;
  /** Required when the rasterizer has extra channels. */
  extras?: Tensor;
  /** [N, 4] density-control statistics (optional). */
  densify?: Tensor;
}

/**
 * Records the backward pass of `out` (which must still be alive and rendered from `g`) into the shared encoder,
 * adding the parameter gradients into `grads`.
 */
export function rasterizeBackward(
  raster: GaussianRasterizer,
  g: GaussianTensors,
  out: RenderOutput,
  up: RenderGradients,
  grads: GaussianGradients,
): void {
  const gpu = raster.gpu, pool = raster.pool, f = out.frame;
  const V = f.views, N = g.count, C = raster.extraChannels;
  const px = V * f.height * f.width;
  if (N !== f.gaussians) throw new Error("rasterizeBackward: Gaussian count differs from the render");
  if (up.rgb.size !== px * 3) throw new Error(`rasterizeBackward: dRGB must have ${px * 3} elements`);
  if (up.alpha && up.alpha.size !== px) throw new Error(`rasterizeBackward: dAlpha must have ${px} elements`);
  if (C > 0 && up.extras && up.extras.size !== px * C) {
    throw new Error(`rasterizeBackward: dExtras must have ${px * C} elements`);
  }
  if (C > 0 && (!grads.extras || grads.extras.size < N * C)) {
    throw new Error(`rasterizeBackward: an extras gradient of ${N * C} elements is required`);
  }
  const sizes: [string, Tensor, number][] = [
    ["means", grads.means, 3 * N],
    ["quats", grads.quats, 4 * N],
    ["logScales", grads.logScales, 3 * N],
    ["opacityLogits", grads.opacityLogits, N],
    ["sh", grads.sh, 3 * raster.shK * N],
  ];
  for (const [name, t, n] of sizes) {
    if (t.size < n) throw new Error(`rasterizeBackward: gradient ${name} has ${t.size} elements, need ${n}`);
  }

  const state = pool.acquire([px, 8], "f32", "raster.pixelState");
  const dAlpha = up.alpha ?? pool.acquire([px], "f32", "raster.zeroAlphaGrad");
  dispatch(gpu, raster.pipeline(prepSrc, { WG }, "raster.blendBackwardPrep"), {
    bindings: [out.aux, up.rgb, dAlpha, state, frameUniform(gpu, f, px)],
    workgroups: Math.ceil(px / WG),
  });
  if (!up.alpha) dAlpha.destroy();

  let dExtraImg = raster.dummy;
  if (C > 0) dExtraImg = up.extras ?? pool.acquire([px * C], "f32", "raster.zeroExtraGrad");
  const nt = 64 / raster.blocksPerThread;
  const kb = raster.backwardBatch;
  const slots = 3 + Math.ceil(C / 4);
  const rows = pool.acquire([Math.max(out.pairs, 1), pairGradientStride(C)], "f32", "raster.pairGrads");
  const blendBack = raster.pipeline(blendBackSrc, {
    NT: nt,
    KB: kb,
    SLOTS: slots,
    EXT_STAGE: Math.max(1, kb * Math.ceil(C / 4)),
    PART: kb * nt * slots,
  }, "raster.blendBackward");
  dispatch(gpu, blendBack, {
    bindings: [
      out.proj,
      out.pairVals,
      out.ranges,
      out.rowBase,
      state,
      dExtraImg,
      C > 0 ? g.extras! : raster.dummy,
      rows,
      frameUniform(gpu, f, px),
    ],
    workgroups: [f.tilesX, f.tilesY, V],
  });
  state.destroy();
  if (C > 0 && !up.extras) dExtraImg.destroy();

  const wg = Math.ceil(N / WG);
  const grad2d = pool.acquire([V * N, 12], "f32", "raster.grad2d");
  dispatch(gpu, raster.pipeline(gatherSrc, { WG, SLOTS: slots }, "raster.gatherPairGrads"), {
    bindings: [
      out.rowBase,
      out.proj,
      rows,
      grad2d,
      C > 0 ? grads.extras! : raster.dummy,
      frameUniform(gpu, f, N),
    ],
    workgroups: wg,
  });
  rows.destroy();
  dispatch(gpu, raster.pipeline(colorBackSrc, { WG }, "raster.colorBackward"), {
    bindings: [g.means, g.sh, grad2d, grads.means, grads.sh, frameUniform(gpu, f, N)],
    workgroups: wg,
  });
  dispatch(gpu, raster.pipeline(geometryBackSrc, { WG }, "raster.geometryBackward"), {
    bindings: [
      g.means,
      g.quats,
      g.logScales,
      grad2d,
      grads.means,
      grads.quats,
      grads.logScales,
      frameUniform(gpu, f, N),
    ],
    workgroups: wg,
  });
  const densify = grads.densify ?? pool.acquire([N, 4], "f32", "raster.unusedDensify");
  dispatch(gpu, raster.pipeline(opacityBackSrc, { WG }, "raster.opacityBackward"), {
    bindings: [g.opacityLogits, grad2d, out.proj, grads.opacityLogits, densify, frameUniform(gpu, f, N)],
    workgroups: wg,
  });
  if (!grads.densify) densify.destroy();
  grad2d.destroy();
}
