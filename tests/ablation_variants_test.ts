/**
 * The ablation study's variant settings and report (no GPU): every variant resolves to a valid trainer config
 * from the CLI's base settings, including `--field-lr` (which the mesh-rigged baseline, having no F, must ignore),
 * and the markdown says how F was treated.
 */
import assert from "node:assert/strict";
import { ablationMarkdown, type AblationResult, checkBar } from "../cli/ablate_report.ts";
import { ABLATION_VARIANTS, PHOTOMETRIC_FIELD_LR, variantConfig } from "../training/ablation.ts";
import { defaultTrainerConfig, resolveTrainerConfig } from "../training/trainer_config.ts";
import { codeCoverage, formatNovel, novelCoefficients } from "../training/code_coverage.ts";
import type { Dataset, Frame } from "../data/dataset.ts";

Deno.test("ablation variants: each resolves from the base settings, with and without --field-lr", () => {
  for (const fieldLr of [undefined, 1e-4]) {
    const base = {
      iters: 10,
      gaussians: 100,
      priorSteps: 20,
      distillSteps: 20,
      ...(fieldLr ? { fieldLr } : {}),
    };
    for (const v of ABLATION_VARIANTS) {
      const c = resolveTrainerConfig(variantConfig(v, base));
      if (v.name === "mesh") {
        assert.equal(c.deformation, "mesh");
        assert.equal(c.fieldLr, 0, "the mesh baseline has no F to fine-tune");
      } else if (v.name === "no-distill") {
        assert.equal(c.fieldLr, PHOTOMETRIC_FIELD_LR);
        assert.equal(c.priorSteps, 0);
        assert.equal(c.fieldFromZero, true);
      } else {
        assert.equal(c.fieldLr, fieldLr ?? defaultTrainerConfig().fieldLr, v.name);
        assert.equal(c.priorSteps, 20, v.name);
      }
    }
  }
});

Deno.test("ablation report: says whether F was frozen and shared or fine-tuned; bar check", () => {
  const scores = (psnr: number, mouth: number) => ({
    psnr,
    ssim: 0.9,
    frames: 4,
    mouthPsnr: mouth,
    mouthFrames: 4,
  });
  const row = (name: string, psnr: number, mouth: number) => ({
    name,
    label: name,
    available: true,
    seconds: 1,
    gaussians: 10,
    test: scores(psnr, mouth),
    val: scores(psnr, mouth),
  });
  const rows = [row("full", 33.3, 26.7), row("mesh", 34.3, 27.8)];
  const result = (fieldLr: number, distillSteps?: number): AblationResult => ({
    dataset: "d",
    budget: {
      iters: 10,
      gaussians: 10,
      downscale: 2,
      seed: 1,
      evalFrames: 4,
      fieldSteps: 100,
      distillSteps,
      fieldLr,
    },
    mouth: "m",
    openMouthFrame: null,
    rows,
    bar: checkBar(rows),
    adapter: "a",
    created: "now",
  });
  assert.match(ablationMarkdown(result(0)), /B and F fitted \(100 steps each\) once, F shared/);
  assert.match(ablationMarkdown(result(0, 200)), /B fitted \(100 steps\) and F distilled \(200 steps\) once/);
  assert.match(ablationMarkdown(result(1e-4)), /F fine-tuned jointly \(learning rate 0\.0001\)/);
  const bar = checkBar(rows)!;
  assert.equal(bar.met, false);
  assert.ok(Math.abs(bar.marginOverall - -1) < 1e-9);
});

Deno.test("ablation report: eye PSNR column and the coefficients the test drives beyond training", () => {
  const s = { psnr: 30, ssim: 0.9, frames: 2, mouthPsnr: 25, mouthFrames: 2, eyePsnr: 23.456, eyeFrames: 2 };
  const r: AblationResult = {
    dataset: "d",
    budget: { iters: 1, gaussians: 1, downscale: 1, seed: 1, evalFrames: 2 },
    mouth: "m",
    eyes: "e",
    novel: [{ name: "eyeBlink_R", trainMax: 0, testMax: 0.82 }],
    openMouthFrame: null,
    rows: [{ name: "full", label: "full model", available: true, test: s, val: s }],
    bar: null,
    adapter: "a",
    created: "now",
  };
  const md = ablationMarkdown(r);
  assert.match(md, /\| test mouth PSNR \| test eyes PSNR \|/);
  assert.match(md, /\| full model \| 30\.00 \| 0\.9000 \| 25\.00 \| 23\.46 \| 30\.00 \|/);
  assert.match(md, /beyond their largest training weight .*: eyeBlink_R 0\.82 \(train 0\.00\)\./);
  assert.match(ablationMarkdown({ ...r, novel: [] }), /training weight .*: none\./);
});

Deno.test("code coverage: largest |weight| per coefficient over train and test timesteps, novel ones", () => {
  const frame = (timestep: number) => ({ timestep }) as Frame;
  const ds = {
    expressionDim: 2,
    // timesteps 0, 1 train; 2 test. Coefficient 0 stays in range, 1 is driven to 0.8 only in the test.
    expressions: Float32Array.from([0.5, 0, -0.9, 0.1, 0.7, 0.8]),
    splits: { train: [frame(0), frame(1), frame(1)], val: [], test: [frame(2)] },
  } as unknown as Dataset;
  const cov = codeCoverage(ds, ["jawOpen"]);
  assert.deepEqual(cov.map((c) => c.name), ["jawOpen", "coef1"]);
  assert.ok(Math.abs(cov[0].trainMax - 0.9) < 1e-6 && Math.abs(cov[0].testMax - 0.7) < 1e-6);
  assert.ok(Math.abs(cov[1].trainMax - 0.1) < 1e-6 && Math.abs(cov[1].testMax - 0.8) < 1e-6);
  assert.deepEqual(novelCoefficients(cov).map((c) => c.name), ["coef1"]);
  assert.match(formatNovel(novelCoefficients(cov)), /^coef1 0\.80 \(train 0\.10\)$/);
});
