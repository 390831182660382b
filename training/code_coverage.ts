/**
 * How well the training expressions cover the held-out ones, per expression coefficient: the largest weight
 * (absolute value) each coefficient reaches over the training timesteps and over the test timesteps. A
 * coefficient the test drives far beyond anything in training ("novel") can be reproduced only by what the rig
 * itself says about it (F's basis supervision, the mesh-rigged baseline's blendshape): nothing learned from the
 * training images has seen it. The ablation prints and records them, since they bound what the learned parts of
 * a model can do on the test split.
 */
import type { Dataset } from "../data/dataset.ts";
import { uniqueTimesteps } from "./trainer_setup.ts";

/** One coefficient's largest training and test weights. */
export interface CodeCoverage {
  name: string;
  trainMax: number;
  testMax: number;
}

/** A test weight is novel when it exceeds the training's largest by more than this. */
export const NOVEL_MARGIN = 0.25;

/** Per coefficient (names from the rig; `coef<k>` past their end), the largest |weight| in train and test. */
export function codeCoverage(ds: Dataset, names: readonly string[]): CodeCoverage[] {
  const D = ds.expressionDim;
  const maxOver = (timesteps: number[]) => {
    const m = new Float64Array(D);
    for (const t of timesteps) {
      for (let k = 0; k < D; k++) m[k] = Math.max(m[k], Math.abs(ds.expressions[t * D + k]));
    }
    return m;
  };
  const train = maxOver(uniqueTimesteps(ds.splits.train)), test = maxOver(uniqueTimesteps(ds.splits.test));
  return Array.from(
    { length: D },
    (_, k) => ({ name: names[k] ?? `coef${k}`, trainMax: train[k], testMax: test[k] }),
  );
}

/** The coefficients the test split drives more than `NOVEL_MARGIN` beyond their training range. */
export function novelCoefficients(coverage: readonly CodeCoverage[]): CodeCoverage[] {
  return coverage.filter((c) => c.testMax > c.trainMax + NOVEL_MARGIN);
}

/** "eyeBlink_R 0.82 (train 0.00), ..." or "none". */
export function formatNovel(novel: readonly CodeCoverage[]): string {
  return novel.length
    ? novel.map((c) => `${c.name} ${c.testMax.toFixed(2)} (train ${c.trainMax.toFixed(2)})`).join(", ")
    : "none";
}
