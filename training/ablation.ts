/**
 * The ablation study's variants and their evaluation (cli/ablate.ts runs them). Every variant is the default
 * trainer config plus the full model's settings (`FULL_MODEL`: the CNN on) plus a few overrides, trained with
 * the same budget (iterations, initial Gaussians, seed, images); a variant whose settings this build's
 * `TrainerConfig` lacks is reported as not available.
 *
 * Evaluation renders each val / test frame once and scores PSNR and SSIM over the whole image (as evaluate.ts)
 * and PSNR over the mouth region (region_metrics.ts) on the frames whose camera sees the mouth.
 */
import type { Gpu } from "../gpu/device.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { posedPositions, type Rig } from "../data/rig.ts";
import { type EvalRenderer, imageScores } from "./evaluate.ts";
import { frameTargets, spreadFrames } from "./frame_batches.ts";
import { PhotometricLoss } from "./photometric_loss.ts";
import { type FaceRegion, maskedPsnr, regionMask } from "./region_metrics.ts";
import { meshBounds } from "./rig_sampling.ts";
import { defaultTrainerConfig, type TrainerConfig } from "./trainer_config.ts";

/** One row of the study: a name (for --only), a label, and the config overrides. */
export interface AblationVariant {
  name: string;
  label: string;
  overrides: Record<string, unknown>;
}

/** Learning rate of F when it is learned only photometrically ("no-distill"). */
export const PHOTOMETRIC_FIELD_LR = 5e-4;

/** The variants, in table order. */
export const ABLATION_VARIANTS: readonly AblationVariant[] = [
  { name: "full", label: "full model", overrides: {} },
  {
    name: "field-rotation",
    label: "with F's local rotation (field_rotation.ts; off by default)",
    overrides: { fieldRotation: true },
  },
  {
    name: "no-detail",
    label: "without the detail network G (frozen at zero output)",
    overrides: { detailLr: 0 },
  },
  {
    name: "no-features",
    label: "without per-Gaussian features (so also without the CNN, which reads them)",
    overrides: { featureDim: 0, cnn: false },
  },
  { name: "no-laplacian", label: "without Laplacian terms", overrides: { lapFeatures: 0, lapDynamics: 0 } },
  {
    name: "basic-density",
    label:
      "basic density control (3DGS: mean gradient over the views in the frustum, not only where it showed)",
    overrides: { densityMode: "basic" },
  },
  { name: "no-densify", label: "without density control", overrides: { densify: false } },
  { name: "no-cnn", label: "without the CNN", overrides: { cnn: false } },
  {
    name: "no-distill",
    label: "without distillation (F learned photometrically)",
    overrides: {
      priorSteps: 0,
      distillSteps: 0,
      fieldFromZero: true,
      fieldLr: PHOTOMETRIC_FIELD_LR,
      cycleWeight: 0,
    },
  },
  {
    name: "mesh",
    label: "mesh-rigged baseline (GaussianAvatars-style, no CNN)",
    overrides: { deformation: "mesh", priorSteps: 0, distillSteps: 0, fieldLr: 0, cnn: false },
  },
];

/** The settings of `v` that this build's TrainerConfig does not know (empty: the variant is available). */
export function missingSettings(v: AblationVariant): string[] {
  const known = defaultTrainerConfig() as unknown as Record<string, unknown>;
  return Object.keys(v.overrides).filter((k) => !(k in known));
}

/**
 * Settings of the full NPGA model that differ from the trainer's defaults (the refinement CNN is off by default
 * in `deno task train`); every variant starts from them, as far as this build's TrainerConfig has them.
 */
export const FULL_MODEL: Readonly<Record<string, unknown>> = { cnn: true };

/** `base` with the full model's settings and the variant's overrides (call only for available variants). */
export function variantConfig(v: AblationVariant, base: Partial<TrainerConfig>): Partial<TrainerConfig> {
  const known = defaultTrainerConfig() as unknown as Record<string, unknown>;
  const full = Object.fromEntries(Object.entries(FULL_MODEL).filter(([k]) => k in known));
  return { ...base, ...full, ...(v.overrides as Partial<TrainerConfig>) };
}

/** Scores of one split. */
export interface AblationSplitScores {
  psnr: number;
  ssim: number;
  frames: number;
  /** Mean PSNR over the mouth region of the frames that see it (null when none does). */
  mouthPsnr: number | null;
  mouthFrames: number;
  /** The same over the eye region (region_metrics.ts `eyeRegion`; absent from tables written before it). */
  eyePsnr?: number | null;
  eyeFrames?: number;
}

/**
 * Renders and scores up to `count` frames of `frames` (spread evenly; 0 = all): whole-image PSNR / SSIM and
 * the PSNR over the mouth region and (when given) the eye region.
 */
export async function scoreFrames(
  gpu: Gpu,
  renderer: EvalRenderer,
  ds: Dataset,
  rig: Rig,
  region: FaceRegion,
  frames: readonly Frame[],
  count: number,
  eyes?: FaceRegion,
): Promise<AblationSplitScores> {
  const picked = spreadFrames(frames, count);
  if (picked.length === 0) throw new Error("scoreFrames: no frames to score");
  const loss = new PhotometricLoss(gpu);
  let psnr = 0, ssim = 0, mouth = 0, mouthFrames = 0, eye = 0, eyeFrames = 0;
  try {
    for (const f of picked) {
      const out = await renderer.render([f]);
      const s = await imageScores(loss, out.rgb, frameTargets([f]), {
        views: 1,
        height: f.height,
        width: f.width,
        channels: 3,
      });
      out.release();
      psnr += s.psnr;
      ssim += s.ssim;
      const code = codeOf(ds, f.timestep);
      const mask = regionMask(rig, region, f, code);
      if (mask) {
        mouth += maskedPsnr(s.pred, f.image, mask);
        mouthFrames++;
      }
      const eyeMask = eyes ? regionMask(rig, eyes, f, code) : null;
      if (eyeMask) {
        eye += maskedPsnr(s.pred, f.image, eyeMask);
        eyeFrames++;
      }
    }
  } finally {
    loss.destroy();
  }
  const n = picked.length;
  return {
    psnr: psnr / n,
    ssim: ssim / n,
    frames: n,
    mouthPsnr: mouthFrames ? mouth / mouthFrames : null,
    mouthFrames,
    ...(eyes ? { eyePsnr: eyeFrames ? eye / eyeFrames : null, eyeFrames } : {}),
  };
}

/** The expression code of `timestep`. */
export function codeOf(ds: Dataset, timestep: number): Float32Array {
  const D = ds.expressionDim;
  return ds.expressions.slice(timestep * D, timestep * D + D);
}

/**
 * The held-out frame with the most open mouth: the test timestep with the largest `jawOpen` weight (or, for
 * rigs without one, the largest mean displacement of the mouth vertices), seen by the camera that looks most
 * directly at the mouth. Null when the test split is empty.
 */
export function openMouthFrame(ds: Dataset, rig: Rig, region: FaceRegion): Frame | null {
  const test = ds.splits.test;
  if (test.length === 0) return null;
  const jaw = rig.blendshapeNames.indexOf("jawOpen");
  const V = region.vertices.length
    ? region.vertices
    : Uint32Array.from({ length: rig.positions.length / 3 }, (_, i) => i);
  const openness = (t: number): number => {
    const z = codeOf(ds, t);
    if (jaw >= 0) return z[jaw];
    let s = 0;
    for (const v of V) {
      const d = [0, 1, 2].map((c) => rig.deltas.reduce((acc, dk, k) => acc + z[k] * dk[3 * v + c], 0));
      s += Math.hypot(d[0], d[1], d[2]);
    }
    return s / V.length;
  };
  let best = test[0].timestep, bestOpen = -Infinity;
  for (const t of new Set(test.map((f) => f.timestep))) {
    const o = openness(t);
    if (o > bestOpen) [best, bestOpen] = [t, o];
  }
  const frames = test.filter((f) => f.timestep === best);
  // The camera looking most directly at the mouth: cosine between (camera - mouth centroid) and (mouth
  // centroid - head centre), the mouth posed by the frame's code.
  const b = meshBounds(rig), centre = [0, 1, 2].map((c) => 0.5 * (b.min[c] + b.max[c]));
  const posed = posedPositions(rig, codeOf(ds, best));
  const m = [0, 0, 0];
  for (const v of V) for (let c = 0; c < 3; c++) m[c] += posed[3 * v + c] / V.length;
  const out = m.map((x, c) => x - centre[c]);
  const facing = (f: Frame): number => {
    const to = [3, 7, 11].map((i, c) => f.camToWorldGL[i] - m[c]);
    return (to[0] * out[0] + to[1] * out[1] + to[2] * out[2]) / (Math.hypot(...to) * Math.hypot(...out) || 1);
  };
  return frames.reduce((a, f) => (facing(f) > facing(a) ? f : a));
}

/** Horizontal strip of RGB u8 panels ([H, W, 3] each), upscaled `zoom` times (nearest). */
export function imageStrip(panels: Uint8Array[], width: number, height: number, zoom = 1): {
  data: Uint8Array;
  width: number;
  height: number;
} {
  const W = width * zoom, H = height * zoom, out = new Uint8Array(panels.length * W * H * 3);
  panels.forEach((p, i) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const src = (Math.floor(y / zoom) * width + Math.floor(x / zoom)) * 3;
        const dst = (y * panels.length * W + i * W + x) * 3;
        out[dst] = p[src];
        out[dst + 1] = p[src + 1];
        out[dst + 2] = p[src + 2];
      }
    }
  });
  return { data: out, width: panels.length * W, height: H };
}

/** RGB f32 in 0..1 -> u8. */
export function toBytes(rgb: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = Math.round(255 * Math.min(Math.max(rgb[i], 0), 1));
  return out;
}
