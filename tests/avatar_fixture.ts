/**
 * A small random avatar for format and command tests: random Gaussians (SH degree 1, 8 latent features), G
 * with a random last layer and a small random forward field F, so posing at a code moves the Gaussians.
 */
import type { Gpu } from "../gpu/device.ts";
import { Rng } from "../gpu/rng.ts";
import { randomGaussians } from "../render/random_scene.ts";
import { type Avatar, avatarFromCloud, type AvatarSnapshot } from "../training/avatar.ts";
import { ForwardField, type ForwardFieldConfig } from "../training/distill.ts";

/** The live avatar and F (the caller destroys them) with their CPU snapshots. */
export interface RandomAvatar {
  avatar: Avatar;
  field: ForwardField;
  snapshot: AvatarSnapshot;
  fieldState: { config: ForwardFieldConfig; params: Float32Array };
}

/** `count` Gaussians from seed `seeds[0]`, features from `seeds[1]`, for codes of length `exprDim`. */
export async function randomAvatar(
  gpu: Gpu,
  count: number,
  exprDim: number,
  seeds: [number, number],
): Promise<RandomAvatar> {
  const g = randomGaussians(new Rng(seeds[0]), count, {
    shDegree: 1,
    extraChannels: 0,
    extent: 0.08,
    logScale: [-5.5, -4],
    opacityLogit: [0, 3],
  });
  const rng = new Rng(seeds[1]);
  const features = new Float32Array(count * 8).map(() => rng.normal());
  const cloud = { ...g, count, shDegree: 1, features, featureDim: 8 };
  const avatar = avatarFromCloud(gpu, cloud, { exprDim, featureDim: 8, shDegree: 1 });
  avatar.detail.init(5, { lastLayerScale: 0.3 });
  const field = new ForwardField(gpu, {
    frame: { center: [0, 0, 0], scale: 10, diagonal: 0.3 },
    codeDim: exprDim,
    featureDim: 8,
    width: 16,
    layers: 2,
  });
  field.mlp.init(7);
  const snapshot = await avatar.snapshot();
  const fieldState = { config: field.config, params: await field.mlp.getParams() };
  return { avatar, field, snapshot, fieldState };
}
