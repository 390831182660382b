/**
 * The ablation study's results (cli/ablate.ts): the JSON layout written to `ablation.json`, the markdown table
 * of `ablation.md`, merging rows of a partial rerun (`--only`) into an earlier result, and the issue's bar
 * (full model best on the test split, at least 1 dB ahead of the mesh-rigged baseline overall and further
 * ahead in the mouth region).
 */
import type { AblationSplitScores } from "../training/ablation.ts";
import { type CodeCoverage, formatNovel, NOVEL_MARGIN } from "../training/code_coverage.ts";

/** One variant's result. */
export interface AblationRow {
  name: string;
  label: string;
  available: boolean;
  /** Why a variant is not available. */
  note?: string;
  /** Training and evaluation wall time in seconds. */
  seconds?: number;
  /** Gaussians at the end of training. */
  gaussians?: number;
  val?: AblationSplitScores;
  test?: AblationSplitScores;
  /** The open-mouth render beside the ground truth (relative to the out folder). */
  render?: string;
  /** When the row was measured. */
  measured?: string;
}

/** Contents of ablation.json. */
export interface AblationResult {
  dataset: string;
  budget: {
    iters: number;
    gaussians: number;
    downscale: number;
    seed: number;
    evalFrames: number;
    /** Steps of fitting B (absent: no B in the study). */
    fieldSteps?: number;
    /** Steps of distilling F (absent in files written before F had its own count: `fieldSteps`). */
    distillSteps?: number;
    /** Learning rate of F's joint fine-tuning (absent or 0: F frozen after distillation and shared). */
    fieldLr?: number;
  };
  /** How the mouth region was chosen (region_metrics.ts). */
  mouth: string;
  /** How the eye region was chosen (absent in files written before the eye metric). */
  eyes?: string;
  /** Expression coefficients the test split drives beyond their training range (code_coverage.ts). */
  novel?: CodeCoverage[];
  /** The held-out open-mouth frame of the renders. */
  openMouthFrame: { file: string; timestep: number; camera: number } | null;
  rows: AblationRow[];
  /** The issue's bar, as measured (null when the full model or the baseline is missing). */
  bar: BarCheck | null;
  adapter: string;
  created: string;
}

/** The issue's bar on the test split. */
export interface BarCheck {
  fullBestOnTest: boolean;
  marginOverall: number;
  marginMouth: number | null;
  met: boolean;
}

/** Replaces rows of `old` by name with those of `rows` (order of `order`). */
export function mergeRows(old: AblationRow[], rows: AblationRow[], order: readonly string[]): AblationRow[] {
  const byName = new Map(old.map((r) => [r.name, r]));
  for (const r of rows) byName.set(r.name, r);
  return order.flatMap((n) => (byName.has(n) ? [byName.get(n)!] : []));
}

/** The bar (see the module comment); null without both the full model and the mesh-rigged baseline. */
export function checkBar(rows: AblationRow[]): BarCheck | null {
  const full = rows.find((r) => r.name === "full" && r.test);
  const mesh = rows.find((r) => r.name === "mesh" && r.test);
  if (!full?.test || !mesh?.test) return null;
  const others = rows.filter((r) => r !== full && r.test);
  const fullBestOnTest = others.every((r) => full.test!.psnr >= r.test!.psnr);
  const marginOverall = full.test.psnr - mesh.test.psnr;
  const marginMouth = full.test.mouthPsnr !== null && mesh.test.mouthPsnr !== null
    ? full.test.mouthPsnr - mesh.test.mouthPsnr
    : null;
  const met = fullBestOnTest && marginOverall >= 1 && marginMouth !== null && marginMouth > marginOverall;
  return { fullBestOnTest, marginOverall, marginMouth, met };
}

/** "B and F fitted (N steps each)" or, when the counts differ, "B fitted (N steps) and F distilled (M steps)". */
function fieldSteps(prior: number, distill: number): string {
  return prior === distill
    ? `B and F fitted (${prior} steps each)`
    : `B fitted (${prior} steps) and F distilled (${distill} steps)`;
}

const f2 = (x: number | null | undefined) => (x === null || x === undefined ? "–" : x.toFixed(2));
const f4 = (x: number | null | undefined) => (x === null || x === undefined ? "–" : x.toFixed(4));

/** The markdown report. */
export function ablationMarkdown(r: AblationResult): string {
  const b = r.budget;
  const lines = [
    "# Ablation study",
    "",
    `Dataset \`${r.dataset}\`, downscale ${b.downscale}; every variant: ${b.iters} steps, ${b.gaussians} initial ` +
    `Gaussians, seed ${b.seed}` +
    (b.fieldSteps === undefined
      ? ""
      : `; ${fieldSteps(b.fieldSteps, b.distillSteps ?? b.fieldSteps)}${
        b.fieldLr ? `, F fine-tuned jointly (learning rate ${b.fieldLr})` : " once, F shared"
      }`) +
    `; up to ${
      b.evalFrames || "all"
    } frames per split evaluated. Adapter: ${r.adapter}. Written ${r.created}.`,
    "",
    "| variant | test PSNR | test SSIM | test mouth PSNR | test eyes PSNR | val PSNR | val SSIM | val mouth PSNR | " +
    "val eyes PSNR | Gaussians | time |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of r.rows) {
    if (!row.available) {
      lines.push(`| ${row.label} | not available | | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${row.label} | ${f2(row.test?.psnr)} | ${f4(row.test?.ssim)} | ${f2(row.test?.mouthPsnr)} | ` +
        `${f2(row.test?.eyePsnr)} | ${f2(row.val?.psnr)} | ${f4(row.val?.ssim)} | ${
          f2(row.val?.mouthPsnr)
        } | ` +
        `${f2(row.val?.eyePsnr)} | ${row.gaussians ?? "–"} | ` +
        `${row.seconds !== undefined ? `${Math.round(row.seconds)} s` : "–"} |`,
    );
  }
  lines.push("");
  const t = rowsWith(r.rows, "test"), v = rowsWith(r.rows, "val");
  lines.push(
    `PSNR in dB, mean over frames (test: ${t} frames per row, held-out expressions; val: ${v} frames, held-out ` +
      `camera). Mouth PSNR: pixels inside the projected mouth region (${r.mouth}), over the frames whose camera ` +
      `sees the mouth${r.eyes ? `; eyes PSNR likewise over the projected eye region (${r.eyes})` : ""}. ` +
      `Time: wall time of training and evaluation (the first variant with F also fits B and F).`,
  );
  if (r.novel) {
    lines.push(
      "",
      `Expression coefficients the test split drives more than ${NOVEL_MARGIN} beyond their largest training ` +
        `weight (only the rig says how they look; nothing learned from the training images has seen them): ` +
        `${formatNovel(r.novel)}.`,
    );
  }
  for (const row of r.rows.filter((x) => !x.available)) {
    lines.push(`- ${row.label}: not available (${row.note}).`);
  }
  if (r.openMouthFrame) {
    lines.push(
      "",
      `Open-mouth renders (held-out timestep ${r.openMouthFrame.timestep}, camera ${r.openMouthFrame.camera}): ` +
        "`renders/<variant>.png` (render | ground truth), `open_mouth_full_vs_mesh.png` (full | mesh-rigged | " +
        "ground truth).",
    );
  }
  lines.push(
    "",
    "Bar (full model best on test, >= 1 dB ahead of the mesh-rigged baseline, more in the mouth): ",
  );
  const bar = r.bar;
  lines[lines.length - 1] += bar
    ? `${bar.met ? "met" : "not met"} (full best on test: ${bar.fullBestOnTest ? "yes" : "no"}; margin ` +
      `${bar.marginOverall.toFixed(2)} dB overall, ${f2(bar.marginMouth)} dB in the mouth).`
    : "not checked (the full model or the baseline is missing).";
  return lines.join("\n") + "\n";
}

function rowsWith(rows: AblationRow[], split: "val" | "test"): string {
  const counts = [...new Set(rows.flatMap((r) => (r[split] ? [r[split]!.frames] : [])))];
  return counts.length ? counts.join("/") : "0";
}
