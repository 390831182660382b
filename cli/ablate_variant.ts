/**
 * One variant of the ablation study (cli/ablate.ts): trains it with the study's budget, scores val / test (whole
 * image, mouth and eye regions), renders the held-out open-mouth frame beside the ground truth into
 * `renders/<variant>.png`, and reads such a saved render back for the combined image of a partial rerun.
 */
import type { Gpu } from "../gpu/device.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import { decodeImage, encodePng } from "../data/image_io.ts";
import type { Rig } from "../data/rig.ts";
import {
  type AblationVariant,
  imageStrip,
  scoreFrames,
  toBytes,
  variantConfig,
} from "../training/ablation.ts";
import type { FaceRegion } from "../training/region_metrics.ts";
import { Trainer, type TrainerInputs } from "../training/trainer.ts";
import { reusesField } from "../training/trainer_setup.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import type { AblationRow } from "./ablate_report.ts";
import type { CachedField } from "./ablate_field_cache.ts";

/** What every variant of one study shares. */
export interface VariantContext {
  ds: Dataset;
  rig: Rig;
  region: FaceRegion;
  eyes: FaceRegion;
  base: Partial<TrainerConfig>;
  evalFrames: number;
  /** F distilled by the first variant that fits it (or read from the cache), reused by the others. */
  field?: TrainerInputs["pretrainedField"];
  /** Called once when a variant has fitted F (before it trains), e.g. to write the cache. */
  onFieldFitted?: (field: CachedField) => Promise<void>;
}

/** Trains and scores one variant; returns its row and its open-mouth render (RGB u8). */
export async function runVariant(
  gpu: Gpu,
  v: AblationVariant,
  ctx: VariantContext,
  open: Frame | null,
  out: string,
): Promise<{ row: AblationRow; render: Uint8Array | null }> {
  const t0 = performance.now();
  const tag = `ablate[${v.name}]`;
  const config = resolveTrainerConfig(variantConfig(v, ctx.base));
  console.log(`${tag}: ${v.label}`);
  const trainer = await Trainer.create(gpu, {
    dataset: ctx.ds,
    rig: ctx.rig,
    config,
    pretrainedField: ctx.field,
    listeners: [(e) => {
      if (e.kind === "phase" && e.phase !== "eval") console.log(`${tag}: ${e.message}`);
      if (e.kind === "progress") {
        console.log(
          `${tag}: step ${e.step}/${e.iters} loss ${
            e.losses.total.toFixed(4)
          } | ${e.gaussians} Gaussians | ` +
            `${e.stepsPerSecond.toFixed(2)} steps/s`,
        );
      }
      if (e.kind === "rollback") console.warn(`${tag}: ${e.message}`);
    }],
  });
  if (!ctx.field && trainer.field && reusesField(config) && config.priorSteps > 0) {
    ctx.field = {
      config: structuredClone(trainer.field.config),
      params: await trainer.field.mlp.getParams(),
      report: trainer.fieldReport,
    };
    await ctx.onFieldFitted?.(ctx.field);
  }
  try {
    const summary = await trainer.run();
    if (summary.stopped) throw new Error("training stopped early");
    console.log(`${tag}: trained in ${Math.round(summary.seconds)} s; evaluating`);
    const score = (frames: readonly Frame[]) =>
      frames.length
        ? scoreFrames(gpu, trainer, ctx.ds, ctx.rig, ctx.region, frames, ctx.evalFrames, ctx.eyes)
        : undefined;
    const val = await score(ctx.ds.splits.val);
    const test = await score(ctx.ds.splits.test);
    let render: Uint8Array | null = null, file: string | undefined;
    if (open) {
      const r = await trainer.render([open]);
      render = toBytes(await r.rgb.read() as Float32Array);
      r.release();
      const strip = imageStrip([render, open.image], open.width, open.height, 2);
      file = `renders/${v.name}.png`;
      await Deno.mkdir(`${out}/renders`, { recursive: true });
      await Deno.writeFile(`${out}/${file}`, encodePng(strip.data, strip.width, strip.height, 3));
    }
    const row: AblationRow = {
      name: v.name,
      label: v.label,
      available: true,
      seconds: (performance.now() - t0) / 1000,
      gaussians: trainer.avatar.count,
      val,
      test,
      render: file,
      measured: new Date().toISOString(),
    };
    console.log(
      `${tag}: test PSNR ${test?.psnr.toFixed(2)} SSIM ${test?.ssim.toFixed(4)} mouth ${
        test?.mouthPsnr?.toFixed(2)
      } eyes ${test?.eyePsnr?.toFixed(2)} | val PSNR ${val?.psnr.toFixed(2)} | ${Math.round(row.seconds!)} s`,
    );
    return { row, render };
  } finally {
    trainer.destroy();
  }
}

/** The left panel (the render) of a saved renders/<variant>.png, for the combined image of a partial rerun. */
export async function savedRender(
  out: string,
  row: AblationRow | undefined,
  frame: Frame,
): Promise<Uint8Array | null> {
  if (!row?.render) return null;
  try {
    const img = decodeImage(await Deno.readFile(`${out}/${row.render}`), row.render);
    const W = frame.width, H = frame.height, px = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const src = ((2 * y) * img.width + 2 * x) * img.channels;
        for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = img.data[src + c];
      }
    }
    return px;
  } catch {
    return null;
  }
}
