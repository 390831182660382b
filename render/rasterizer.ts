/**
 * The differentiable Gaussian rasterizer (forward pass). Renders a batch of views of one set of Gaussians:
 *
 * 1. project (per view and Gaussian: 2D mean, conic, opacity, depth, radius, SH colour, the half-widths of the
 *    box where alpha can reach 1/255, the binned tile rectangle — the 3-sigma rectangle cut to the tiles that box
 *    reaches — and its tile count; culled entries count 0 and are tallied in `stats`),
 * 2. depth keys (culls Gaussians with non-finite extra channels), stable radix sort of all entries by depth,
 * 3. tile counts gathered in depth order, exclusive scan; pair_args.wgsl turns the total number of pairs into
 *    the pair info (total, used, overflow flag, capacity) and the indirect dispatch arguments of steps 4's
 *    sort and ranges, against the capacity the pair buffers get. `render` reads the total back first (one
 *    4-byte read-back, one GPU wait) and uses it as the capacity, so nothing is ever dropped; `record` takes
 *    the capacity from the caller and waits for nothing: when the total exceeds it, the pairs past the capacity
 *    are dropped and `pairInfo` says so (the trainer reads it a few steps late, redoes that step with a larger
 *    capacity and never applies the update of an overflowed render, train_step.ts),
 * 4. emit (tile, entry) pairs (the pairs of one entry get consecutive emit positions, which the backward uses as
 *    rows of a per-pair gradient buffer, so each entry's first position is kept), stable radix
 *    sort by the key v * tiles + tile using only ceil(log2(V * tiles)) bits (entries keep depth order inside a
 *    tile), per-tile ranges,
 * 5. blend: one workgroup per 16x16 tile with entries staged in workgroup memory and per-8x4-block masks, each
 *    invocation owning `blocksPerThread` blocks of pixels in registers (see blend.wgsl).
 *
 * Measured on the 2-core lavapipe adapter (10k random Gaussians at 256², SH degree 3, minimum over 8 interleaved
 * runs): forward 86 ms and forward+backward 107 ms after the blend rewrite (230 and 607 ms before), 6.3x faster
 * than the float64 CPU reference forward; with 8 extra channels 101 and 229 ms. About 45 passes per call.
 *
 * Parameter tensors (all f32, flat): means [N, 3], quats [N, 4] (w, x, y, z; normalized inside), logScales
 * [N, 3], opacityLogits [N], sh [N, (deg + 1)^2, 3] (index (n * K + k) * 3 + c), extras [N, C].
 * Outputs: rgb [V, H, W, 3], extras [V, H, W, C] (channel-last like the loss module), aux [V, H, W, 4]
 * (alpha, alpha-weighted depth sum — divide by alpha for the expected depth of the covered part —, final
 * transmittance, tile-list entries walked up to the last contributor).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { radixSort } from "../gpu/radix_sort.ts";
import { exclusiveScan } from "../gpu/scan.ts";
import { readBuffer, Tensor, TensorPool } from "../gpu/tensor.ts";
import { type Camera, validateCamera } from "./camera.ts";
import { type FrameInfo, frameInfo, frameUniform, kernelSource } from "./frame_uniform.ts";
import { shCoeffCount } from "./sh.ts";
import {
  type GaussianGradients,
  pairGradientStride,
  rasterizeBackward,
  type RenderGradients,
} from "./rasterize_backward.ts";
import projectSrc from "./project.wgsl" with { type: "text" };
import cullSrc from "./cull_keys.wgsl" with { type: "text" };
import gatherSrc from "./gather_counts.wgsl" with { type: "text" };
import emitSrc from "./emit_pairs.wgsl" with { type: "text" };
import rangesSrc from "./tile_ranges.wgsl" with { type: "text" };
import pairArgsSrc from "./pair_args.wgsl" with { type: "text" };
import { SORT_TILE } from "../gpu/radix_sort.ts";
import blendSrc from "./blend.wgsl" with { type: "text" };

/** Largest number of extra channels. */
export const MAX_EXTRA_CHANNELS = 32;
const WG = 128;

/** Fixed at rasterizer creation. */
export interface RasterizerConfig {
  /** SH degree 0..3. */
  shDegree: number;
  /** Extra per-Gaussian channels rendered like colour (0..32). */
  extraChannels: number;
  /** Background colour of the RGB output (extra channels have background 0). Default black. */
  background?: readonly number[];
  /**
   * 8x4-pixel blocks each invocation of the forward and backward blend owns (1, 2, 4 or 8 of a tile's 8; the
   * workgroups have 64 / this invocations). More means fewer loads per pixel, fewer partial sums to reduce per
   * entry in the backward and fewer, busier invocations. Default 8 on software adapters (one 8-wide SIMD group
   * per tile), 1 on GPUs.
   */
  blocksPerThread?: number;
}

/** The Gaussian parameters of one render (the rasterizer only reads them). */
export interface GaussianTensors {
  count: number;
  means: Tensor;
  quats: Tensor;
  logScales: Tensor;
  opacityLogits: Tensor;
  sh: Tensor;
  /** [N, C]; required when extraChannels > 0. */
  extras?: Tensor;
}

/** Result of a forward render; keeps what the backward pass needs until `destroy()`. */
export interface RenderOutput {
  frame: FrameInfo;
  /** [V, H, W, 3] */
  rgb: Tensor<"f32">;
  /** [V, H, W, C] (a 1-element dummy when C = 0) */
  extras: Tensor<"f32">;
  /** [V, H, W, 4]: alpha, sum of weight * depth, final transmittance, entries walked. */
  aux: Tensor<"f32">;
  /** u32 [4], summed over views: visible, culled non-finite, behind the near plane, off-image or degenerate. */
  stats: Tensor<"u32">;
  /**
   * Capacity of the pair buffers: the number of (tile, Gaussian) pairs for `render`; for `record`, the caller's
   * capacity (the pairs rendered are then `pairInfo[1]`).
   */
  pairs: number;
  /** u32 [4], on the GPU: total pairs, pairs used (min(total, capacity)), overflow flag (1: pairs dropped), capacity. */
  pairInfo: Tensor<"u32">;
  /** [V * N, 16] projected records (layout in gaussian_common.wgsl). */
  proj: Tensor<"f32">;
  /** [P] entry index v * N + n of each tile-sorted pair. */
  pairVals: Tensor<"u32">;
  /** [V * tiles, 2] pair range per tile. */
  ranges: Tensor<"u32">;
  /**
   * [V * N] first emit position of each visible entry: its pairs are rowBase + (ty - y0) * (x1 - x0) + (tx - x0)
   * over its tile rectangle (the rows of the backward's per-pair gradient buffer).
   */
  rowBase: Tensor<"u32">;
  /** Releases every tensor of the output (back to the rasterizer's pool). */
  destroy(): void;
}

/** Cull statistics of a render, summed over its views (each (view, Gaussian) entry counted once). */
export interface RenderStats {
  visible: number;
  nonFinite: number;
  behindNearPlane: number;
  offImage: number;
}

/** Reads the cull statistics of a render (a small readback). */
export async function readRenderStats(out: RenderOutput): Promise<RenderStats> {
  const s = await out.stats.read();
  return { visible: s[0], nonFinite: s[1], behindNearPlane: s[2], offImage: s[3] };
}

/** What steps 1-3 of a render leave for the rest. */
interface Front {
  f: FrameInfo;
  proj: Tensor<"f32">;
  order: Tensor<"u32">;
  sorted: Tensor<"u32">;
  offsets: Tensor<"u32">;
  stats: Tensor<"u32">;
  extras: Tensor;
}

/** Forward renderer; `backward` lives in rasterize_backward.ts and takes the same rasterizer. */
export class GaussianRasterizer {
  readonly gpu: Gpu;
  readonly shDegree: number;
  readonly shK: number;
  readonly extraChannels: number;
  readonly background: readonly number[];
  readonly pool: TensorPool;
  readonly blocksPerThread: number;
  #dummy: Tensor;

  constructor(gpu: Gpu, cfg: RasterizerConfig) {
    this.gpu = gpu;
    this.shDegree = cfg.shDegree;
    this.shK = shCoeffCount(cfg.shDegree);
    if (
      !Number.isInteger(cfg.extraChannels) || cfg.extraChannels < 0 || cfg.extraChannels > MAX_EXTRA_CHANNELS
    ) {
      throw new Error(`extraChannels must be an integer in 0..${MAX_EXTRA_CHANNELS}`);
    }
    this.extraChannels = cfg.extraChannels;
    this.background = cfg.background ?? [0, 0, 0];
    this.pool = new TensorPool(gpu);
    this.blocksPerThread = cfg.blocksPerThread ?? (gpu.isSoftware ? 8 : 1);
    if (![1, 2, 4, 8].includes(this.blocksPerThread)) {
      throw new Error("blocksPerThread must be 1, 2, 4 or 8");
    }
    this.#dummy = Tensor.empty(gpu, [4], "f32", "raster.dummy");
  }

  /** Pipeline of a rasterizer kernel, specialized for this SH degree and channel count. */
  pipeline(src: string, constants: Record<string, number> = {}, label = "raster"): GPUComputePipeline {
    return this.gpu.pipeline(kernelSource(src, this.extraChannels, this.blocksPerThread), "main", {
      SH_K: this.shK,
      NC: this.extraChannels,
      NC4: Math.ceil(this.extraChannels / 4),
      ...constants,
    }, label);
  }

  /**
   * Entries the forward blend stages per round: the largest power of two <= 256 whose staging (48 + 16 ceil(C / 4)
   * bytes per entry) fits the device's workgroup memory.
   */
  get blendBatch(): number {
    const bytes = 48 + 16 * Math.ceil(this.extraChannels / 4);
    let b = 256;
    while (b > 16 && b * bytes > this.gpu.limits.maxComputeWorkgroupStorageSize) b /= 2;
    return b;
  }

  /**
   * Entries the backward blend stages per batch: the largest power of two <= 128 whose staging and partial sums
   * (48 + 16 ceil(C / 4) + 16 (3 + ceil(C / 4)) * invocations bytes per entry) fit the workgroup memory.
   */
  get backwardBatch(): number {
    const c4 = Math.ceil(this.extraChannels / 4);
    const bytes = 48 + 16 * c4 + 16 * (3 + c4) * (64 / this.blocksPerThread);
    let b = 128;
    while (b > 1 && b * bytes + 16 > this.gpu.limits.maxComputeWorkgroupStorageSize) b /= 2;
    return b;
  }

  /** A zero f32 tensor to bind where an optional buffer is absent. */
  get dummy(): Tensor {
    return this.#dummy;
  }

  /** Checks tensor sizes against the configuration and Gaussian count. */
  validate(g: GaussianTensors): void {
    const n = g.count;
    const want: [string, Tensor | undefined, number][] = [
      ["means", g.means, 3 * n],
      ["quats", g.quats, 4 * n],
      ["logScales", g.logScales, 3 * n],
      ["opacityLogits", g.opacityLogits, n],
      ["sh", g.sh, this.shK * 3 * n],
    ];
    if (this.extraChannels > 0) want.push(["extras", g.extras, this.extraChannels * n]);
    for (const [name, t, size] of want) {
      if (!t) throw new Error(`render: ${name} is required`);
      if (t.size < size) throw new Error(`render: ${name} has ${t.size} elements, need ${size}`);
    }
  }

  /**
   * Renders `cameras` (one image size, at most 32 views) of the Gaussians, with pair buffers sized exactly: reads
   * the pair count back (one GPU wait).
   */
  async render(g: GaussianTensors, cameras: readonly Camera[]): Promise<RenderOutput> {
    const front = this.#front(g, cameras);
    const M = front.f.views * g.count;
    const total = new Uint32Array(await readBuffer(this.gpu, front.offsets.buffer, 4, M * 4))[0];
    return this.#back(g, front, total);
  }

  /**
   * Records a render of `cameras` without waiting for the GPU: the pair buffers hold `capacity` pairs; when the
   * render needs more, the pairs past it are dropped (a wrong image) and `pairInfo` flags the overflow, so the
   * caller must check `pairInfo` (on the GPU or read later) before trusting the output.
   */
  record(g: GaussianTensors, cameras: readonly Camera[], capacity: number): RenderOutput {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`record: invalid pair capacity ${capacity}`);
    }
    return this.#back(g, this.#front(g, cameras), capacity);
  }

  /** Largest pair capacity the device allows (the backward's per-pair gradient rows must fit one binding). */
  get maxPairs(): number {
    return Math.floor(
      this.gpu.limits.maxStorageBufferBindingSize / (4 * pairGradientStride(this.extraChannels)),
    );
  }

  /** Steps 1-3 (projection, depth sort, tile counts and their scan). */
  #front(g: GaussianTensors, cameras: readonly Camera[]): Front {
    this.validate(g);
    cameras.forEach((c, i) => validateCamera(c, `camera ${i}`));
    const gpu = this.gpu, pool = this.pool;
    const f = frameInfo(g.count, cameras, this.background);
    const V = f.views, N = g.count, M = V * N;
    const extras = this.extraChannels > 0 ? g.extras! : this.#dummy;

    const proj = pool.acquire([Math.max(M, 1), 16], "f32", "raster.proj");
    const counts = pool.acquire([M], "u32", "raster.counts");
    const reasons = pool.acquire([M], "u32", "raster.reasons");
    const keys = pool.acquire([M], "u32", "raster.depthKeys");
    const order = pool.acquire([M], "u32", "raster.depthOrder");
    const stats = pool.acquire([4], "u32", "raster.stats");
    dispatch(gpu, this.pipeline(projectSrc, { WG }, "raster.project"), {
      bindings: [
        g.means,
        g.quats,
        g.logScales,
        g.opacityLogits,
        g.sh,
        proj,
        counts,
        reasons,
        frameUniform(gpu, f, M),
      ],
      workgroups: Math.ceil(M / WG),
    });
    dispatch(gpu, this.pipeline(cullSrc, { WG }, "raster.cullKeys"), {
      bindings: [proj, extras, counts, reasons, keys, order, stats, frameUniform(gpu, f, M)],
      workgroups: Math.ceil(M / WG),
    });
    reasons.destroy();
    if (M > 1) radixSort(gpu, keys, order, { bits: 32, pool });
    keys.destroy();
    const sorted = pool.acquire([M + 1], "u32", "raster.sortedCounts");
    dispatch(gpu, this.pipeline(gatherSrc, { WG }, "raster.gatherCounts"), {
      bindings: [order, counts, sorted, frameUniform(gpu, f, M)],
      workgroups: Math.ceil(M / WG),
    });
    counts.destroy();
    const offsets = pool.acquire([M + 1], "u32", "raster.offsets");
    exclusiveScan(gpu, sorted, offsets, { pool });
    return { f, proj, order, sorted, offsets, stats, extras };
  }

  /** Steps 3 (pair info and indirect arguments for `capacity` pairs) to 5. */
  #back(g: GaussianTensors, front: Front, capacity: number): RenderOutput {
    const gpu = this.gpu, pool = this.pool;
    const { f, proj, order, sorted, offsets, stats, extras } = front;
    const V = f.views, M = V * g.count, C = this.extraChannels;
    const tiles = V * f.tilesX * f.tilesY;
    const px = V * f.height * f.width;
    if (capacity > this.maxPairs) {
      throw new Error(
        `render: ${capacity} tile/Gaussian pairs exceed the device's largest storage buffer ` +
          `(${gpu.limits.maxStorageBufferBindingSize} bytes for the per-pair gradients); render fewer views ` +
          `per call or smaller images`,
      );
    }
    const cap = Math.max(capacity, 1);
    const pairInfo = pool.acquire([4], "u32", "raster.pairInfo");
    const args = gpu.device.createBuffer({
      size: 32,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.INDIRECT,
      label: "raster.pairArgs",
    });
    gpu.destroyAfterSubmit(args);
    const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    dispatch(gpu, gpu.pipeline(pairArgsSrc, "main", {}, "raster.pairArgs"), {
      bindings: [offsets, pairInfo, args, uniforms(gpu, [M, capacity, SORT_TILE, WG, maxDim])],
      workgroups: 1,
    });

    const pairKeys = pool.acquire([cap], "u32", "raster.pairKeys");
    const pairVals = pool.acquire([cap], "u32", "raster.pairVals");
    const rowBase = pool.acquire([M], "u32", "raster.rowBase");
    dispatch(gpu, this.pipeline(emitSrc, { WG }, "raster.emitPairs"), {
      bindings: [proj, order, sorted, offsets, pairKeys, pairVals, rowBase, frameUniform(gpu, f, M)],
      workgroups: Math.ceil(M / WG),
    });
    order.destroy();
    sorted.destroy();
    offsets.destroy();
    if (cap > 1) {
      radixSort(gpu, pairKeys, pairVals, {
        count: cap,
        bits: Math.max(1, Math.ceil(Math.log2(tiles))),
        pool,
        countFrom: { tensor: pairInfo, index: 1 },
        indirect: { buffer: args, offset: 0 },
      });
    }
    const ranges = pool.acquire([tiles, 2], "u32", "raster.ranges");
    dispatch(gpu, this.pipeline(rangesSrc, { WG }, "raster.tileRanges"), {
      bindings: [pairKeys, ranges, frameUniform(gpu, f, cap), pairInfo],
      workgroups: Math.ceil(cap / WG),
      indirect: { buffer: args, offset: 16 },
    });
    pairKeys.destroy();

    const rgb = pool.acquire([V, f.height, f.width, 3], "f32", "raster.rgb");
    const outExtras = C > 0
      ? pool.acquire([V, f.height, f.width, C], "f32", "raster.extras")
      : pool.acquire([1]);
    const aux = pool.acquire([V, f.height, f.width, 4], "f32", "raster.aux");
    const batch = this.blendBatch;
    dispatch(
      gpu,
      this.pipeline(
        blendSrc,
        { BATCH: batch, EXT_STAGE: Math.max(1, batch * Math.ceil(C / 4)), NT: 64 / this.blocksPerThread },
        "raster.blend",
      ),
      {
        bindings: [proj, pairVals, ranges, extras, rgb, outExtras, aux, frameUniform(gpu, f, px)],
        workgroups: [f.tilesX, f.tilesY, V],
      },
    );
    const owned = [proj, pairVals, ranges, rowBase, rgb, outExtras, aux, stats, pairInfo];
    return {
      frame: f,
      rgb,
      extras: outExtras,
      aux,
      stats,
      pairs: capacity,
      pairInfo,
      proj,
      pairVals,
      ranges,
      rowBase,
      destroy: () => owned.forEach((t) => t.destroy()),
    };
  }

  /**
   * Records the backward pass of `out` (rendered from `g`, not yet destroyed), ADDING the parameter gradients
   * into `grads` (see rasterize_backward.ts).
   */
  backward(g: GaussianTensors, out: RenderOutput, up: RenderGradients, grads: GaussianGradients): void {
    rasterizeBackward(this, g, out, up, grads);
  }

  /** Frees pooled buffers and the dummy. */
  destroy(): void {
    this.pool.clear();
    this.#dummy.destroy();
  }
}
