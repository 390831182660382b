/**
 * The avatar's trainable state: canonical Gaussians (positions, rotations, log-scales, opacity logits, SH colour,
 * latent features f in R^F) with matching gradient tensors, the detail network G (last layer zero at creation,
 * so the posed avatar starts as canonical + dx_F), the posing constants, and the Adam parameter groups with
 * 3DGS-style learning rates. Initialization from a rig lives in avatar_init.ts.
 *
 * SH degree defaults to 1: the training images are mostly diffuse skin under fixed lighting, so the band-1
 * terms capture the low-frequency view dependence while keeping 12 instead of 48 SH floats per Gaussian (4x less
 * SH memory, projection and gradient work on the 2-core software adapter). Degree 3 is a flag away.
 */
import type { Adam, AdamGroup } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { Mlp } from "../gpu/mlp.ts";
import { readTensors, Tensor } from "../gpu/tensor.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { exponentialDecay } from "./schedule.ts";
import {
  type CanonicalTensors,
  detailNetworkSpec,
  type PosedGaussians,
  type PosedGradients,
  Poser,
} from "./pose.ts";
import type { OffsetRegWeights, PoseConstants } from "./pose_cpu.ts";

/** Options of an avatar (all but `exprDim` have defaults). */
export interface AvatarOptions {
  /** Expression code length D. */
  exprDim: number;
  /** Latent feature dimension F (default 8). */
  featureDim?: number;
  /** SH degree 0..3 (default 1, see the module comment). */
  shDegree?: number;
  /** Hidden width and depth of G (default 64 and 3). */
  detailWidth?: number;
  detailDepth?: number;
  /** Seed of G's initialization (default 1). */
  seed?: number;
  /** Offset regularizer weights on normalized offsets (see `defaultRegWeights`). */
  reg?: Partial<OffsetRegWeights>;
  /** Whether G's input gradient reaches the canonical positions (default true). */
  positionGradThroughG?: boolean;
}

/** Default regularizer weights: 0.01 on squared offsets in normalized units (0.001 for opacity logits). */
export function defaultRegWeights(positionScale: number): OffsetRegWeights {
  return {
    position: 0.01 / (positionScale * positionScale),
    rotation: 0.01,
    scale: 0.01,
    opacity: 0.001,
    colour: 0.01,
  };
}

/** Learning rates of the parameter groups at `step` (3DGS defaults; position decays exponentially). */
export interface AvatarLearningRates {
  means: number;
  quats: number;
  logScales: number;
  opacityLogits: number;
  sh: number;
  features: number;
  detail: number;
}

/** Learning-rate schedule: 3DGS values (position 1.6e-4 -> 1.6e-6 times `sceneScale` over `steps`). */
export function avatarLearningRates(step: number, steps: number, sceneScale: number): AvatarLearningRates {
  return {
    means: exponentialDecay(step, { initial: 1.6e-4 * sceneScale, final: 1.6e-6 * sceneScale, steps }),
    quats: 1e-3,
    logScales: 5e-3,
    opacityLogits: 0.05,
    // One group for all SH bands (the tensor interleaves them); 3DGS uses 2.5e-3 for DC, 1/20 of it above.
    sh: 2.5e-3,
    features: 2.5e-3,
    detail: exponentialDecay(step, { initial: 1e-3, final: 1e-4, steps }),
  };
}

/** The canonical field names, in the order of the Adam groups. */
export const CANONICAL_FIELDS = ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const;
type Field = typeof CANONICAL_FIELDS[number];

function emptyCanonical(gpu: Gpu, n: number, K: number, F: number, what: string): CanonicalTensors {
  return {
    count: n,
    means: Tensor.empty(gpu, [n, 3], "f32", `${what}.means`),
    quats: Tensor.empty(gpu, [n, 4], "f32", `${what}.quats`),
    logScales: Tensor.empty(gpu, [n, 3], "f32", `${what}.logScales`),
    opacityLogits: Tensor.empty(gpu, [n], "f32", `${what}.opacityLogits`),
    sh: Tensor.empty(gpu, [n, K, 3], "f32", `${what}.sh`),
    features: Tensor.empty(gpu, [n, F], "f32", `${what}.features`),
  };
}

/** Canonical Gaussians, their gradients, G and the posing constants. */
export class Avatar {
  readonly gpu: Gpu;
  readonly params: CanonicalTensors;
  /** Gradients in the same layouts (the pose backward adds into them; `zeroGrads` clears). */
  readonly grads: CanonicalTensors;
  readonly detail: Mlp;
  readonly poser: Poser;
  readonly constants: PoseConstants;

  constructor(gpu: Gpu, count: number, constants: PoseConstants, opts: AvatarOptions) {
    this.gpu = gpu;
    this.constants = constants;
    const K = (constants.shDegree + 1) ** 2, F = constants.featureDim;
    this.params = emptyCanonical(gpu, count, K, F, "avatar");
    this.grads = emptyCanonical(gpu, count, K, F, "avatar.grad");
    this.detail = new Mlp(gpu, detailNetworkSpec(constants, opts.detailWidth ?? 64, opts.detailDepth ?? 3));
    this.detail.init(opts.seed ?? 1, { lastLayerScale: 0 });
    this.poser = new Poser(gpu, constants);
  }

  /** Number of Gaussians. */
  get count(): number {
    return this.params.count;
  }

  /** Records zero fills of every gradient (canonical and G's). */
  zeroGrads(): void {
    for (const f of CANONICAL_FIELDS) this.grads[f].zero();
    this.detail.grads.zero();
  }

  /** Adam groups (canonical fields by name, G as "detail") with the rates of `avatarLearningRates` at step 0. */
  adamGroups(steps: number, sceneScale: number): AdamGroup[] {
    const lr = avatarLearningRates(0, steps, sceneScale);
    const groups: AdamGroup[] = CANONICAL_FIELDS.map((f: Field) => ({
      name: f,
      params: this.params[f],
      grads: this.grads[f],
      lr: lr[f],
      eps: 1e-15,
    }));
    groups.push({ name: "detail", params: this.detail.params, grads: this.detail.grads, lr: lr.detail });
    return groups;
  }

  /** Sets the learning rates of `adam`'s groups for `step`. */
  applySchedule(adam: Adam, step: number, steps: number, sceneScale: number): void {
    const lr = avatarLearningRates(step, steps, sceneScale);
    for (const name of adam.groupNames) {
      if (name in lr) adam.setLr(name, lr[name as keyof AvatarLearningRates]);
    }
  }

  /** Reads the canonical Gaussians back as a `GaussianCloud` (features included). */
  async toCloud(): Promise<GaussianCloud> {
    const p = this.params;
    const [means, quats, logScales, opacityLogits, sh, features] = await readTensors(
      p.means.gpu,
      [p.means, p.quats, p.logScales, p.opacityLogits, p.sh, p.features],
    ) as Float32Array[];
    return {
      count: p.count,
      shDegree: this.constants.shDegree,
      means,
      quats,
      logScales,
      opacityLogits,
      sh,
      features,
      featureDim: this.constants.featureDim,
    };
  }

  /**
   * Records the posing forward for `expression` with optional forward-field offsets `dxF` [N, 3] (see pose.ts);
   * `train` keeps G's activations for `backward`. The caller destroys the result.
   */
  pose(expression: ArrayLike<number>, dxF?: Tensor, train = false): PosedGaussians {
    return this.poser.forward(this.params, this.detail, expression, dxF, { train });
  }

  /**
   * Records the posing backward of a training `pose`: adds the canonical gradients into `grads`, writes G's
   * gradients (added with `accumulateG`), and returns dL/d(dx_F) [N, 3] (the caller destroys it).
   * `addGOutputGrad` records additions to dL/d(G output) before G's backward (see `Poser.backward`).
   */
  backward(
    posed: PosedGaussians,
    posedGrads: PosedGradients,
    accumulateG = false,
    addGOutputGrad?: (dGout: Tensor<"f32">) => void,
  ): Tensor<"f32"> {
    return this.poser.backward(this.params, this.grads, this.detail, posed, posedGrads, {
      accumulateG,
      addGOutputGrad,
    });
  }

  /**
   * Replaces the canonical Gaussians (e.g. after densification) with those of `cloud`, keeping G and the posing
   * constants. New parameter and gradient tensors are made (gradients zero): give them to the optimizer with
   * `Adam.setGroup` (by the names of `CANONICAL_FIELDS`), with remapped moments if wanted.
   */
  setGaussians(cloud: GaussianCloud): void {
    const c = this.constants, K = (c.shDegree + 1) ** 2, F = c.featureDim;
    if (cloud.shDegree !== c.shDegree) {
      throw new Error(`setGaussians: SH degree ${cloud.shDegree}, expected ${c.shDegree}`);
    }
    if (cloud.features && cloud.featureDim !== F) {
      throw new Error(`setGaussians: ${cloud.featureDim} features, expected ${F}`);
    }
    const params = emptyCanonical(this.gpu, cloud.count, K, F, "avatar");
    const grads = emptyCanonical(this.gpu, cloud.count, K, F, "avatar.grad");
    uploadCloud(params, cloud);
    for (const f of CANONICAL_FIELDS) {
      this.params[f].destroy();
      this.grads[f].destroy();
    }
    Object.assign(this.params, params);
    Object.assign(this.grads, grads);
  }

  /** Everything needed to rebuild the avatar with `avatarFromCloud` (checkpoints, export). */
  async snapshot(): Promise<AvatarSnapshot> {
    return {
      cloud: await this.toCloud(),
      constants: structuredClone(this.constants),
      detailParams: await this.detail.getParams(),
    };
  }

  /** Frees every tensor. */
  destroy(): void {
    for (const f of CANONICAL_FIELDS) {
      this.params[f].destroy();
      this.grads[f].destroy();
    }
    this.detail.destroy();
    this.poser.destroy();
  }
}

/** The avatar's full state as plain arrays. */
export interface AvatarSnapshot {
  cloud: GaussianCloud;
  constants: PoseConstants;
  detailParams: Float32Array;
}

function uploadCloud(t: CanonicalTensors, cloud: GaussianCloud): void {
  if (cloud.count === 0) return;
  t.means.upload(cloud.means);
  t.quats.upload(cloud.quats);
  t.logScales.upload(cloud.logScales);
  t.opacityLogits.upload(cloud.opacityLogits);
  t.sh.upload(cloud.sh);
  if (cloud.features && t.features.size > 0) t.features.upload(cloud.features);
}

/** Posing constants for Gaussians in the box [min, max]: centre, half of the largest side, position scale. */
export function poseConstantsFor(
  min: readonly number[],
  max: readonly number[],
  opts: AvatarOptions,
): PoseConstants {
  const extent = Math.max(0.5 * Math.max(max[0] - min[0], max[1] - min[1], max[2] - min[2]), 1e-6);
  return {
    featureDim: opts.featureDim ?? 8,
    exprDim: opts.exprDim,
    shDegree: opts.shDegree ?? 1,
    center: [0, 1, 2].map((c) => 0.5 * (min[c] + max[c])) as [number, number, number],
    extent,
    // G's position output is in the same normalized units as its input.
    positionScale: extent,
    reg: { ...defaultRegWeights(extent), ...opts.reg },
    positionGradThroughG: opts.positionGradThroughG ?? true,
  };
}

function bounds(means: Float32Array): [number[], number[]] {
  const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < means.length; i++) {
    min[i % 3] = Math.min(min[i % 3], means[i]);
    max[i % 3] = Math.max(max[i % 3], means[i]);
  }
  return means.length ? [min, max] : [[0, 0, 0], [1, 1, 1]];
}

/**
 * An avatar holding the Gaussians of `cloud` (canonical; features zero when the cloud has none). The posing
 * constants are `saved.constants` when given (keep them across densification and checkpoints: G's input
 * normalization depends on them), else they come from the cloud's bounding box; G starts fresh unless
 * `saved.detailParams` is given.
 */
export function avatarFromCloud(
  gpu: Gpu,
  cloud: GaussianCloud,
  opts: AvatarOptions,
  saved: { constants?: PoseConstants; detailParams?: Float32Array } = {},
): Avatar {
  const [min, max] = bounds(cloud.means);
  const c = saved.constants ?? poseConstantsFor(min, max, { ...opts, shDegree: cloud.shDegree });
  if (c.shDegree !== cloud.shDegree) {
    throw new Error(
      `avatarFromCloud: the cloud has SH degree ${cloud.shDegree}, the constants ${c.shDegree}`,
    );
  }
  const F = c.featureDim;
  if (cloud.features && cloud.featureDim !== F) {
    throw new Error(`avatarFromCloud: the cloud has ${cloud.featureDim} features, the avatar ${F}`);
  }
  const a = new Avatar(gpu, cloud.count, c, opts);
  uploadCloud(a.params, cloud);
  if (saved.detailParams) a.detail.setParams(saved.detailParams);
  return a;
}
