/**
 * `ablate`: the ablation study of issue #8 (training/ablation.ts has the variants). Trains every variant with the
 * same budget (steps, initial Gaussians, seed, images) on the built-in synthetic head (or `--data DIR`),
 * evaluates val / test PSNR and SSIM and the mouth-region PSNR, renders the held-out frame with the most open
 * mouth, and writes to `--out`:
 *
 *   ablation.json, ablation.md        the table (also printed), the budget and the bar check (ablate_report.ts)
 *   renders/<variant>.png             the open-mouth render beside the ground truth (2x zoom)
 *   open_mouth_full_vs_mesh.png       full model | mesh-rigged baseline | ground truth (2x zoom)
 *
 * `--only a,b` runs just those variants and merges them into an existing ablation.json in the out folder. The
 * forward field F (frozen in every variant that has B) is distilled once, by the first such variant, and shared;
 * it is written to OUT/field.safetensors and reused by later runs whose rig, codes and fit settings match
 * (ablate_field_cache.ts), so a rerun with other avatar settings skips the 8-12 minutes of fitting B and F.
 * Default budget (downscale 2 = 128x128, 400 steps, 5,000 Gaussians): see ABLATE_TIME_NOTE.
 */
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { type Dataset, loadDataset } from "../data/dataset.ts";
import { DataError } from "../data/errors.ts";
import { readRigGlb } from "../data/gltf_rig.ts";
import { encodePng } from "../data/image_io.ts";
import type { Rig } from "../data/rig.ts";
import {
  ABLATION_VARIANTS,
  type AblationVariant,
  imageStrip,
  missingSettings,
  openMouthFrame,
} from "../training/ablation.ts";
import { eyeRegion, mouthRegion } from "../training/region_metrics.ts";
import { codeCoverage, formatNovel, novelCoefficients } from "../training/code_coverage.ts";
import { reusesField } from "../training/trainer_setup.ts";
import { resolveTrainerConfig, type TrainerConfig } from "../training/trainer_config.ts";
import {
  ablationMarkdown,
  type AblationResult,
  type AblationRow,
  checkBar,
  mergeRows,
} from "./ablate_report.ts";
import { fieldCacheKey, loadCachedField, saveCachedField } from "./ablate_field_cache.ts";
import { runVariant, savedRender, type VariantContext } from "./ablate_variant.ts";
import { MODEL_OPTIONS, modelOverrides } from "./model_options.ts";
import { type Command, numberOption, type ParsedArgs, stringOption, UsageError } from "./command.ts";
import { DEFAULT_DATA, ensureDefaultData } from "./default_data.ts";

/**
 * Measured time of the default budget (see the help text). On the shared 2-core machine with the software
 * adapter at a load average of about 11: 400 steps in 11.5 minutes (about 0.7-1 steps/s at 128x128; the
 * Gaussians grow to the 10,000 cap) and 3-4 minutes of evaluation over all 220 val/test frames, per variant. On
 * 2026-12-07, quiet, with --eval-frames 48: B (1,000 steps) and F (3,000) 8.3 minutes once; the full model
 * trained in 159 s; the mesh-rigged baseline trained and was evaluated in 94 s.
 */
export const ABLATE_TIME_NOTE =
  "about 15 minutes per variant on a busy 2-core software adapter (2-4 on a quiet one with --eval-frames 48), " +
  "plus about 12 minutes once for B and F";

const num = (args: ParsedArgs, name: string, o: { min?: number; max?: number } = {}) =>
  numberOption(args, name, { integer: true, min: 0, ...o });

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function selected(args: ParsedArgs): AblationVariant[] {
  const only = stringOption(args, "only");
  if (!only) return [...ABLATION_VARIANTS];
  const names = only.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !ABLATION_VARIANTS.some((v) => v.name === n));
  if (unknown.length) {
    throw new UsageError(
      `--only: unknown variant(s) ${unknown.join(", ")}; choose from ${
        ABLATION_VARIANTS.map((v) => v.name).join(", ")
      }`,
    );
  }
  return ABLATION_VARIANTS.filter((v) => names.includes(v.name));
}

async function loadInputs(
  gpu: Gpu,
  dir: string,
  downscale: number,
  builtIn: boolean,
): Promise<{ ds: Dataset; rig: Rig }> {
  if (builtIn) await ensureDefaultData(gpu, "ablate", dir);
  const ds = await loadDataset(dir, { downscale });
  const rigPath = `${dir}/rig.glb`;
  if (!(await exists(rigPath))) {
    throw new DataError(
      rigPath,
      "is missing: the ablation needs the dataset's rig (for the avatar, the prior, the mesh-rigged baseline and the mouth region)",
      "Add the head rig as rig.glb (glTF with one morph target per expression coefficient)",
    );
  }
  return { ds, rig: await readRigGlb(await Deno.readFile(rigPath), rigPath) };
}

export const ablateCommand: Command = {
  name: "ablate",
  summary: "ablation study: full model vs. variants and the mesh-rigged baseline (PSNR/SSIM, mouth PSNR)",
  usage: "[--data DIR] [--iters N] [--gaussians N] [--downscale N] [--only a,b] [--out DIR]",
  options: {
    data: {
      type: "string",
      value: "DIR",
      description: `dataset folder (default: ${DEFAULT_DATA}, synthesized)`,
    },
    out: {
      type: "string",
      value: "DIR",
      description: "folder for ablation.md/.json and renders",
      default: "runs/ablation",
    },
    iters: {
      type: "string",
      value: "N",
      description: `steps per variant (the default budget takes ${ABLATE_TIME_NOTE})`,
      default: "400",
    },
    gaussians: { type: "string", value: "N", description: "initial Gaussians per variant", default: "5000" },
    downscale: {
      type: "string",
      value: "N",
      description: "downscale the images by N (2: 128x128)",
      default: "2",
    },
    seed: { type: "string", value: "N", description: "random seed (same for every variant)", default: "1" },
    "eval-frames": {
      type: "string",
      value: "N",
      description: "frames per split evaluated, spread evenly (0: all)",
      default: "0",
    },
    "field-cache": {
      type: "string",
      value: "FILE",
      description:
        "the fitted F, written after fitting and reused when rig, codes and settings match (default: OUT/field.safetensors)",
    },
    ...MODEL_OPTIONS,
    only: {
      type: "string",
      value: "a,b",
      description: `variants to run (merged into an existing ablation.json): ${
        ABLATION_VARIANTS.map((v) => v.name).join(", ")
      }`,
    },
  },
  async run(args) {
    const variants = selected(args);
    const data = stringOption(args, "data") ?? DEFAULT_DATA;
    const out = stringOption(args, "out") ?? "runs/ablation";
    const downscale = num(args, "downscale", { min: 1, max: 64 }) ?? 2;
    const evalFrames = num(args, "eval-frames") ?? 0;
    const base: Partial<TrainerConfig> = {
      iters: num(args, "iters", { min: 1 }) ?? 400,
      gaussians: num(args, "gaussians", { min: 1 }) ?? 5000,
      seed: num(args, "seed", { max: 2 ** 32 - 1 }) ?? 1,
      evalEvery: 0,
      evalFrames: 1,
      checkpointEvery: 0,
      logEvery: 50,
      ...modelOverrides(args),
    };
    let b: TrainerConfig;
    try {
      b = resolveTrainerConfig(base);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const gpu = await acquireGpu();
    try {
      const { ds, rig } = await loadInputs(gpu, data, downscale, !stringOption(args, "data"));
      const region = mouthRegion(rig), eyes = eyeRegion(rig);
      const open = openMouthFrame(ds, rig, region);
      const novel = novelCoefficients(codeCoverage(ds, rig.blendshapeNames));
      console.log(
        `ablate: ${data} (${ds.splits.train.length} train, ${ds.splits.val.length} val, ${ds.splits.test.length} ` +
          `test frames of ${ds.splits.train[0].width}x${
            ds.splits.train[0].height
          }); mouth region: ${region.note}; eye region: ${eyes.note}; ` +
          `variants: ${variants.map((v) => v.name).join(", ")}`,
      );
      if (novel.length) {
        console.log(
          `ablate: the test split drives expression coefficients beyond their training range (only the rig ` +
            `models them there): ${formatNovel(novel)}`,
        );
      }
      await Deno.mkdir(out, { recursive: true });
      const rows: AblationRow[] = [], renders = new Map<string, Uint8Array>();
      const ctx: VariantContext = { ds, rig, region, eyes, base, evalFrames };
      const cachePath = stringOption(args, "field-cache") ?? `${out}/field.safetensors`;
      const cacheKey = await fieldCacheKey(ds, rig, b);
      const cached = reusesField(b) && b.priorSteps > 0 ? await loadCachedField(cachePath, cacheKey) : null;
      if (cached?.field) {
        ctx.field = cached.field;
        console.log(
          `ablate: B and F reused from ${cachePath} (fitted ${cached.created} with the same rig, codes and ` +
            `settings; delete it to refit after changing the fitting code)`,
        );
      } else if (cached) console.log(`ablate: B and F are fitted (${cached.reason})`);
      ctx.onFieldFitted = async (field) => {
        await saveCachedField(cachePath, cacheKey, field);
        console.log(
          `ablate: wrote B and F's fit to ${cachePath} (reused by later runs with the same settings)`,
        );
      };
      const jsonPath = `${out}/ablation.json`;
      // Written after every variant (so a long study keeps its finished rows); with --only, merged into the
      // rows already in the out folder (re-read each time, so concurrent --only runs into one folder combine).
      const write = async (): Promise<string> => {
        let all = rows;
        if (stringOption(args, "only") && (await exists(jsonPath))) {
          const old = JSON.parse(await Deno.readTextFile(jsonPath)) as AblationResult;
          all = mergeRows(old.rows, rows, ABLATION_VARIANTS.map((v) => v.name));
        }
        const result: AblationResult = {
          dataset: data,
          budget: {
            iters: b.iters,
            gaussians: b.gaussians,
            downscale,
            seed: b.seed,
            evalFrames,
            fieldSteps: b.priorSteps,
            distillSteps: b.distillSteps,
            fieldLr: b.fieldLr,
          },
          mouth: region.note,
          eyes: eyes.note,
          novel,
          openMouthFrame: open ? { file: open.file, timestep: open.timestep, camera: open.camera } : null,
          rows: all,
          bar: checkBar(all),
          adapter: gpu.adapterName,
          created: new Date().toISOString(),
        };
        if (open) {
          const full = renders.get("full") ??
            await savedRender(out, all.find((r) => r.name === "full"), open);
          const mesh = renders.get("mesh") ??
            await savedRender(out, all.find((r) => r.name === "mesh"), open);
          if (full && mesh) {
            const s = imageStrip([full, mesh, open.image], open.width, open.height, 2);
            await Deno.writeFile(
              `${out}/open_mouth_full_vs_mesh.png`,
              encodePng(s.data, s.width, s.height, 3),
            );
          }
        }
        const md = ablationMarkdown(result);
        await Deno.writeTextFile(jsonPath, JSON.stringify(result, null, 1) + "\n");
        await Deno.writeTextFile(`${out}/ablation.md`, md);
        return md;
      };
      const t0 = performance.now();
      for (const [i, v] of variants.entries()) {
        const missing = missingSettings(v);
        if (missing.length) {
          const note = `this build's trainer has no setting ${missing.join(", ")}`;
          console.log(`ablate[${v.name}]: not available (${note})`);
          rows.push({ name: v.name, label: v.label, available: false, note });
          continue;
        }
        const r = await runVariant(gpu, v, ctx, open, out);
        rows.push(r.row);
        if (r.render) renders.set(v.name, r.render);
        await write();
        const per = (performance.now() - t0) / 1000 / (i + 1);
        console.log(
          `ablate: ${i + 1}/${variants.length} variants done; about ${
            Math.round(per * (variants.length - i - 1))
          } s left`,
        );
      }
      const md = await write();
      console.log(`\n${md}\nablate: wrote ${out}/ablation.md, ${jsonPath} and renders`);
    } finally {
      gpu.destroy();
    }
  },
};
