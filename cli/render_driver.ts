/**
 * A trained avatar ready to render at any expression code, without a trainer: the canonical Gaussians and G
 * (training/avatar.ts), the forward field F (training/distill.ts) and a rasterizer. Posing is canonical +
 * F(x_c, z) + G, rendered through the dashboard's trainer-free path (dashboard/avatar_view.ts `renderView`).
 */
import type { Gpu } from "../gpu/device.ts";
import { mlpLayout } from "../gpu/mlp.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { renderView, viewCamera, type ViewModel, type ViewRender } from "../dashboard/avatar_view.ts";
import type { CameraInfo } from "../data/dataset.ts";
import type { ViewSpec } from "../dashboard/avatar_view.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { avatarFromCloud } from "../training/avatar.ts";
import { ForwardField, type ForwardFieldConfig } from "../training/distill.ts";
import { detailNetworkSpec, type PoseConstants } from "../training/pose.ts";

/** What rendering needs of a loaded avatar (a `LoadedAvatar` of data/avatar_file.ts has all of it). */
export interface DrivableAvatar {
  cloud: GaussianCloud;
  constants: PoseConstants;
  detailParams: Float32Array;
  field: { config: ForwardFieldConfig; params: Float32Array } | null;
  /** The run's config.json (for G's width and depth), when known. */
  config?: Record<string, unknown> | null;
}

/**
 * G's hidden width and depth: from the run config when it says, else the (width, depth) whose parameter count
 * matches `detailParams` (the default 64 x 3 first).
 */
export function detailShapeOf(a: DrivableAvatar): { width: number; depth: number } {
  const count = (width: number, depth: number) => {
    const l = mlpLayout(detailNetworkSpec(a.constants, width, depth)).at(-1)!;
    return l.bOffset + l.out;
  };
  const n = a.detailParams.length;
  const t = (a.config?.trainer ?? {}) as { detailWidth?: unknown; detailDepth?: unknown };
  if (typeof t.detailWidth === "number" && typeof t.detailDepth === "number") {
    if (count(t.detailWidth, t.detailDepth) === n) return { width: t.detailWidth, depth: t.detailDepth };
  }
  if (count(64, 3) === n) return { width: 64, depth: 3 };
  for (let depth = 1; depth <= 16; depth++) {
    for (let width = 1; width <= 1024; width++) if (count(width, depth) === n) return { width, depth };
  }
  throw new Error(`the avatar's detail network has ${n} parameters, which fits no width/depth`);
}

/** A posable, renderable avatar on the GPU. */
export class AvatarDriver {
  readonly model: ViewModel;
  readonly constants: PoseConstants;

  private constructor(model: ViewModel, constants: PoseConstants) {
    this.model = model;
    this.constants = constants;
  }

  /** Uploads `a` and creates F and a rasterizer with the given background (RGB 0..1). */
  static create(gpu: Gpu, a: DrivableAvatar, background: readonly number[]): AvatarDriver {
    const c = a.constants, g = detailShapeOf(a);
    const avatar = avatarFromCloud(gpu, a.cloud, {
      exprDim: c.exprDim,
      featureDim: c.featureDim,
      shDegree: c.shDegree,
      detailWidth: g.width,
      detailDepth: g.depth,
    }, { constants: c, detailParams: a.detailParams });
    let field: ForwardField | null = null;
    if (a.field) {
      field = new ForwardField(gpu, a.field.config);
      field.mlp.setParams(a.field.params);
    }
    const raster = new GaussianRasterizer(gpu, { shDegree: c.shDegree, extraChannels: 0, background });
    return new AvatarDriver({ avatar, field, raster }, c);
  }

  /** Expression code length D. */
  get exprDim(): number {
    return this.constants.exprDim;
  }

  /** Renders expression `z` (length D) from `info` orbited by `view` around the avatar's centre. */
  render(info: CameraInfo, view: ViewSpec, z: Float32Array): Promise<ViewRender> {
    if (z.length !== this.exprDim) {
      throw new Error(`expression code has ${z.length} values, the avatar ${this.exprDim}`);
    }
    return renderView(this.model, viewCamera(info, view, this.constants.center), z);
  }

  /** Frees the GPU resources. */
  destroy(): void {
    this.model.raster.destroy();
    this.model.field?.destroy();
    this.model.avatar.destroy();
  }
}

/** 8-bit RGB of a render (values clamped to 0..1, rounded). */
export function toRgb8(r: ViewRender): Uint8Array {
  const out = new Uint8Array(r.rgb.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(Math.max(r.rgb[i], 0), 1) * 255);
  return out;
}
