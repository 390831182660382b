/**
 * A trained avatar ready to render at any expression code, without a trainer: the canonical Gaussians and G
 * (training/avatar.ts), the forward field F (training/distill.ts), a rasterizer and, when the avatar has one, the
 * screen-space refinement CNN (training/refine_cnn.ts). Posing is canonical + F(x_c, z) + G. Without a CNN the
 * render goes through the dashboard's trainer-free path (dashboard/avatar_view.ts `renderView`); with one, the
 * rasterizer also splats the canonical features as extra channels and the CNN refines RGB + features into the
 * final RGB, as the trainer's refinement stage does (training/refine_stage.ts).
 */
import type { Gpu } from "../gpu/device.ts";
import { mlpLayout } from "../gpu/mlp.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { renderView, viewCamera, type ViewModel, type ViewRender } from "../dashboard/avatar_view.ts";
import type { CameraInfo } from "../data/dataset.ts";
import type { ViewSpec } from "../dashboard/avatar_view.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import type { Camera } from "../render/camera.ts";
import { avatarFromCloud } from "../training/avatar.ts";
import { ForwardField, type ForwardFieldConfig } from "../training/distill.ts";
import { RefineCnn, type RefineCnnConfig } from "../training/refine_cnn.ts";
import { recordFieldOffsets } from "../training/field_rotation.ts";
import { detailNetworkSpec, type PoseConstants } from "../training/pose.ts";

/** What rendering needs of a loaded avatar (a `LoadedAvatar` of data/avatar_file.ts has all of it). */
export interface DrivableAvatar {
  cloud: GaussianCloud;
  constants: PoseConstants;
  detailParams: Float32Array;
  field: { config: ForwardFieldConfig; params: Float32Array } | null;
  /** The refinement CNN, when the avatar has one. */
  cnn?: { config: RefineCnnConfig; params: Float32Array } | null;
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
  /** The refinement CNN (null: plain rasterizer RGB). */
  readonly cnn: RefineCnn | null;

  private constructor(model: ViewModel, constants: PoseConstants, cnn: RefineCnn | null) {
    this.model = model;
    this.constants = constants;
    this.cnn = cnn;
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
    let cnn: RefineCnn | null = null;
    if (a.cnn) {
      if (a.cnn.config.featureDim !== c.featureDim) {
        throw new Error(
          `the avatar's refinement CNN reads ${a.cnn.config.featureDim} feature channels, its Gaussians have ${c.featureDim}`,
        );
      }
      cnn = new RefineCnn(gpu, a.cnn.config);
      cnn.setParams(a.cnn.params);
    }
    const raster = new GaussianRasterizer(gpu, {
      shDegree: c.shDegree,
      extraChannels: cnn ? c.featureDim : 0,
      background,
    });
    return new AvatarDriver({ avatar, field, raster }, c, cnn);
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
    const camera = viewCamera(info, view, this.constants.center);
    return this.cnn ? this.#refined(camera, z) : renderView(this.model, camera, z);
  }

  async #refined(camera: Camera, z: Float32Array): Promise<ViewRender> {
    const { avatar, field, raster } = this.model, cnn = this.cnn!;
    const f = field ? recordFieldOffsets(field, avatar.params.means, z) : null;
    const posed = avatar.pose(z, f?.dx, false);
    f?.rotate(posed.quats);
    posed.extras = avatar.params.features;
    const out = await raster.render(posed, [camera]);
    const fw = cnn.forward(out.rgb, out.extras, { views: 1, height: camera.height, width: camera.width });
    try {
      const rgb = await fw.rgb.read() as Float32Array;
      return {
        rgb: rgb.slice(0, camera.width * camera.height * 3),
        width: camera.width,
        height: camera.height,
      };
    } finally {
      fw.release();
      out.destroy();
      posed.destroy();
      f?.destroy();
    }
  }

  /** Frees the GPU resources. */
  destroy(): void {
    this.cnn?.destroy();
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
