/**
 * The trainer's full state (trainer.ts `state()` / `restore()`): capture as plain arrays (a `TrainState`, what a
 * checkpoint holds) and restore into the live models and optimizer, plus the rollback messages of the
 * non-finite guard. No file access here: checkpoint.ts serializes, run_folder.ts writes.
 */
import type { Adam, AdamGroupState } from "../gpu/adam.ts";
import type { Avatar } from "./avatar.ts";
import type { TrainState } from "./checkpoint.ts";
import type { Densifier } from "./densifier.ts";
import type { ForwardField } from "./distill.ts";
import type { ExpressionPrior } from "./prior.ts";
import type { TrainerConfig } from "./trainer_config.ts";

/** The trainer's models and optimizer, as the state functions see them. */
export interface TrainerParts {
  config: TrainerConfig;
  sceneScale: number;
  avatar: Avatar;
  adam: Adam;
  field: ForwardField | null;
  /** B, kept only while F is fine-tuned. */
  prior: ExpressionPrior | null;
  /** F's parameters as distilled (what a state holds while F is frozen). */
  fieldParams: Float32Array | null;
  /** Whether F is fine-tuned jointly (its Adam group is "field"). */
  fineTunes: boolean;
  /** Density control, whose statistics a state holds (null when off). */
  densifier: Densifier | null;
}

/** The loop counters a state carries besides the models. */
export interface LoopCounters {
  step: number;
  salt: number;
  lrFactor: number;
}

/** Reads every tensor back into a `TrainState`. */
export async function captureTrainState(p: TrainerParts, c: LoopCounters): Promise<TrainState> {
  return {
    step: c.step,
    salt: c.salt,
    lrFactor: c.lrFactor,
    avatar: await p.avatar.snapshot(),
    adam: await p.adam.state(),
    field: p.field && p.fieldParams
      ? {
        config: structuredClone(p.field.config),
        params: p.fineTunes ? await p.field.mlp.getParams() : p.fieldParams.slice(),
      }
      : null,
    prior: p.prior
      ? { config: structuredClone(p.prior.config), params: await p.prior.mlp.getParams() }
      : null,
    density: p.densifier ? await p.densifier.stats.read() : null,
  };
}

/**
 * (Re)binds the avatar's Adam groups (canonical fields and G) to its current tensors, with the moments of
 * `saved` where a group is named there (zero moments otherwise). Call after `Avatar.setGaussians`.
 */
export function bindAvatarGroups(p: TrainerParts, saved?: ReadonlyMap<string, AdamGroupState>): void {
  for (const g of p.avatar.adamGroups(p.config.iters, p.sceneScale)) p.adam.setGroup(g, saved?.get(g.name));
}

/** Restores a state taken by `captureTrainState` (the same run's settings); returns its loop counters. */
export function restoreTrainState(p: TrainerParts, s: TrainState): LoopCounters {
  if (!!s.field !== !!p.field) throw new Error("restore: the state and the trainer differ in having F");
  if (s.field && p.field) p.field.mlp.setParams(s.field.params);
  p.avatar.setGaussians(s.avatar.cloud);
  p.avatar.detail.setParams(s.avatar.detailParams);
  // Statistics restart at zero when the state has none (density control was off, or an older checkpoint).
  p.densifier?.stats.set(s.avatar.cloud.count, s.density ?? undefined);
  if (p.densifier) p.densifier.generation++;
  const saved = new Map(s.adam.map((g) => [g.name, g]));
  bindAvatarGroups(p, saved);
  if (p.fineTunes) {
    const mlp = p.field!.mlp;
    p.adam.setGroup(
      { name: "field", params: mlp.params, grads: mlp.grads, lr: p.config.fieldLr },
      saved.get("field"),
    );
  }
  return { step: s.step, salt: s.salt, lrFactor: s.lrFactor };
}

/** The error that ends training when rolling back is impossible or exhausted. */
export function divergenceError(bad: number, step: number, rollbacks: number, hasCheckpoint: boolean): Error {
  return new Error(
    `training diverged: the loss was not finite in ${bad} consecutive steps (up to step ${step})` +
      (hasCheckpoint ? ` after ${rollbacks} rollbacks` : " and there is no checkpoint to roll back to") +
      `; try a smaller --lr-scale`,
  );
}

/** The message of a rollback event. */
export function rollbackMessage(bad: number, from: number, to: number, lrScale: number): string {
  return `non-finite loss in ${bad} consecutive steps (up to step ${from}): rolled back to the checkpoint ` +
    `of step ${to}, learning rates halved (x${lrScale})`;
}
