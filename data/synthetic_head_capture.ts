/**
 * Camera rig and expression sequences for the synthetic dataset: cameras on a frontal sphere cap around the head
 * (like a multi-view capture dome), and smooth blendshape-weight sequences that pass through keyframes covering
 * every blendshape at full strength plus combined and extreme expressions.
 */
import { Rng } from "../gpu/rng.ts";
import { lookAt, type PinholeCamera } from "./rig_renderer.ts";

/** Point the cameras look at (head frame, metres) and their distance from it. */
export const RIG_TARGET: readonly number[] = [0, -0.005, 0];
export const RIG_DISTANCE = 1.0;

/**
 * `n` cameras at RIG_DISTANCE on a frontal cap (azimuth within +-65 degrees, elevation -20..+30 degrees), laid out
 * as a sunflower spiral with a small seeded jitter; square `size` images, focal length chosen so the head and
 * upper neck fill the frame. Returns the cameras and the index of the one held out for validation (the one
 * nearest to 20 degrees right, 5 degrees up: a novel, mostly frontal view).
 */
export function capCameras(
  n: number,
  size: number,
  seed: number,
): { cameras: PinholeCamera[]; valIndex: number } {
  const rng = new Rng(seed ^ 0x0ca3e7a5);
  const golden = Math.PI * (3 - Math.sqrt(5));
  const cameras: PinholeCamera[] = [];
  let valIndex = 0, best = Infinity;
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt((i + 0.5) / n), th = i * golden;
    const az = r * Math.cos(th) * 65 + rng.uniform(-2, 2);
    const el = 5 + r * Math.sin(th) * 25 + rng.uniform(-2, 2);
    const a = (az * Math.PI) / 180, e = (el * Math.PI) / 180;
    const eye = [
      RIG_TARGET[0] + RIG_DISTANCE * Math.sin(a) * Math.cos(e),
      RIG_TARGET[1] + RIG_DISTANCE * Math.sin(e),
      RIG_TARGET[2] + RIG_DISTANCE * Math.cos(a) * Math.cos(e),
    ];
    const f = size * 2.9;
    cameras.push({
      c2w: lookAt(eye, RIG_TARGET),
      fx: f,
      fy: f,
      cx: size / 2,
      cy: size / 2,
      width: size,
      height: size,
    });
    const d = Math.hypot(az - 20, el - 5);
    if (d < best) [best, valIndex] = [d, i];
  }
  return { cameras, valIndex };
}

/** Pairs of blendshapes that usually move together (both eyes blink, both brows rise). */
function partner(name: string): string | null {
  if (name.endsWith("_L")) return name.slice(0, -2) + "_R";
  if (name.endsWith("_R")) return name.slice(0, -2) + "_L";
  return null;
}

/** At most this many primary blendshapes per keyframe (so a short sequence covers fewer). */
const MAX_PRIMARIES = 3;

/** Keyframes of a sequence of T steps at `spacing`. */
function keyCount(T: number, spacing: number): number {
  return Math.max(Math.ceil((T - 1) / spacing) + 1, 2);
}

/** Keyframe q is neutral: the first and every eighth (q = 7, 15, ...). */
function neutralKey(q: number): boolean {
  return q === 0 || q % 8 === 7;
}

/**
 * Primary blendshapes per keyframe for a sequence of T steps at `spacing` over K blendshapes to feature every
 * one (up to `MAX_PRIMARIES`): 2 for the default training sequence (60 steps, spacing 5, 20 blendshapes).
 */
export function coveringPrimaries(T: number, K: number, spacing = 5): number {
  const n = keyCount(T, spacing);
  let active = 0;
  for (let q = 0; q < n; q++) if (!neutralKey(q)) active++;
  return Math.min(MAX_PRIMARIES, Math.max(1, Math.ceil(K / Math.max(active, 1))));
}

/**
 * A smooth sequence of T expression codes over the blendshapes `names` ([T, K] float32, weights in [0, 1]).
 * Keyframes every `spacing` steps: each non-neutral one features `primaries` blendshapes at 0.75..1 (default
 * `coveringPrimaries`: as many as it takes for the sequence to feature every blendshape once, cycling through
 * them in a seeded order), often with a primary's left/right partner, the jaw opening and one or two others at
 * lower weight; every fourth keyframe is extreme (three or four shapes near 1), and the first and every eighth
 * are neutral. Between keyframes the weights follow a cosine ease, so the sequence is C1-smooth. A training
 * sequence thus shows every blendshape strongly at least once, as a capture protocol would, and a held-out one
 * (same `primaries`) tests new combinations and timings rather than shapes never seen (with one primary per
 * keyframe, 60 timesteps at spacing 5 featured 12 of the 20 built-in blendshapes).
 */
export function expressionSequence(
  T: number,
  names: readonly string[],
  seed: number,
  spacing = 5,
  primaries = coveringPrimaries(T, names.length, spacing),
): Float32Array {
  const K = names.length;
  const rng = new Rng(seed);
  const order = Array.from({ length: K }, (_, k) => k);
  for (let i = K - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nKeys = keyCount(T, spacing);
  let next = 0;
  const keys: Float32Array[] = [];
  for (let q = 0; q < nKeys; q++) {
    const w = new Float32Array(K);
    if (!neutralKey(q) && K > 0) {
      for (let j = 0; j < primaries; j++) {
        const primary = order[next++ % K];
        w[primary] = Math.max(w[primary], rng.uniform(0.75, 1));
        const p = partner(names[primary]), pk = p ? names.indexOf(p) : -1;
        if (pk >= 0 && rng.next() < 0.6) w[pk] = Math.max(w[pk], w[primary] * rng.uniform(0.7, 1));
      }
      const jaw = names.indexOf("jawOpen");
      if (jaw >= 0 && rng.next() < 0.3) w[jaw] = Math.max(w[jaw], rng.uniform(0.3, 1));
      const extra = q % 4 === 3 ? 2 + rng.int(2) : rng.int(3);
      for (let x = 0; x < extra; x++) {
        const k = rng.int(K);
        w[k] = Math.max(w[k], q % 4 === 3 ? rng.uniform(0.85, 1) : rng.uniform(0.15, 0.6));
      }
    }
    keys.push(w);
  }
  const out = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const q = Math.min(Math.floor(t / spacing), nKeys - 2);
    const f = Math.min((t - q * spacing) / spacing, 1);
    const s = 0.5 - 0.5 * Math.cos(Math.PI * f);
    const a = keys[q], b = keys[q + 1];
    for (let k = 0; k < K; k++) out[t * K + k] = a[k] + (b[k] - a[k]) * s;
  }
  return out;
}
