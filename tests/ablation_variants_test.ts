/**
 * The ablation study's variant settings and report (no GPU): every variant resolves to a valid trainer config
 * from the CLI's base settings, including `--field-lr` (which the mesh-rigged baseline, having no F, must ignore),
 * and the markdown says how F was treated.
 */
import assert from "node:assert/strict";
import { ablationMarkdown, type AblationResult, checkBar } from "../cli/ablate_report.ts";
import { ABLATION_VARIANTS, PHOTOMETRIC_FIELD_LR, variantConfig } from "../training/ablation.ts";
import { resolveTrainerConfig } from "../training/trainer_config.ts";

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
      } else {
        assert.equal(c.fieldLr, fieldLr ?? 0, v.name);
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
