/**
 * Procedural albedo for the synthetic head: seeded 3-D value noise and the colour of each region (skin with
 * variation and blush, lips, brows, hair, eyelids, nostrils, eyes, teeth, tongue, mouth cavity). Colours are
 * sRGB-encoded in [0, 1]. All functions take neutral positions in metres (head frame, see `synthetic_head.ts`).
 */

export type Rgb = [number, number, number];

/** Hermite smoothstep from e0 to e1 (also works with e0 > e1). */
export function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(Math.max((x - e0) / (e1 - e0), 0), 1);
  return t * t * (3 - 2 * t);
}

/** Linear blend of two colours. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function hash3(x: number, y: number, z: number, seed: number): number {
  let h = Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1) ^ Math.imul(z, 0x9e3779b1) ^
    Math.imul(seed, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 4294967296;
}

/** Trilinear value noise in [0, 1) with smooth interpolation; `seed` selects an independent field. */
export function valueNoise(x: number, y: number, z: number, seed: number): number {
  const xi = Math.floor(x), yi = Math.floor(y), zi = Math.floor(z);
  const fx = x - xi, fy = y - yi, fz = z - zi;
  const u = fx * fx * (3 - 2 * fx), v = fy * fy * (3 - 2 * fy), w = fz * fz * (3 - 2 * fz);
  let acc = 0;
  for (let dz = 0; dz < 2; dz++) {
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const weight = (dx ? u : 1 - u) * (dy ? v : 1 - v) * (dz ? w : 1 - w);
        acc += weight * hash3(xi + dx, yi + dy, zi + dz, seed);
      }
    }
  }
  return acc;
}

/** Fractal noise: `octaves` of value noise at frequency `freq` (cycles per metre), centred on 0, range ~[-1, 1]. */
export function fbm(p: readonly number[], freq: number, octaves: number, seed: number): number {
  let amp = 1, sum = 0, norm = 0, f = freq;
  for (let o = 0; o < octaves; o++) {
    sum += amp * (valueNoise(p[0] * f, p[1] * f, p[2] * f, seed + o * 101) * 2 - 1);
    norm += amp;
    amp *= 0.5;
    f *= 2.03;
  }
  return sum / norm;
}

const SKIN: Rgb = [0.86, 0.64, 0.53];
const BLUSH: Rgb = [0.85, 0.5, 0.46];
const LIP: Rgb = [0.7, 0.33, 0.34];
const BROW: Rgb = [0.2, 0.13, 0.09];
const HAIR: Rgb = [0.3, 0.19, 0.11];
const LID: Rgb = [0.72, 0.52, 0.48];

/** Masks of the skin regions at a neutral position, each in [0, 1]. */
export interface SkinMasks {
  lips: number;
  brows: number;
  hair: number;
  lids: number;
  blush: number;
  nostril: number;
  neck: number;
}

/** Colour of the head skin given its region masks, with seeded noise for pores, freckles and hair strands. */
export function skinColor(p: readonly number[], m: SkinMasks, seed: number): Rgb {
  const n1 = fbm(p, 60, 4, seed), n2 = fbm(p, 400, 2, seed + 7);
  const freckle = smoothstep(0.55, 0.75, valueNoise(p[0] * 500, p[1] * 500, p[2] * 500, seed + 13));
  let c: Rgb = [
    SKIN[0] * (1 + 0.07 * n1 + 0.03 * n2),
    SKIN[1] * (1 + 0.08 * n1 + 0.03 * n2),
    SKIN[2] * (1 + 0.06 * n1),
  ];
  c = mix(c, [0.72, 0.5, 0.4], 0.25 * freckle * (1 - m.hair));
  c = mix(c, mix(SKIN, [0.8, 0.6, 0.5], 0.5), 0.5 * m.neck);
  c = mix(c, BLUSH, 0.45 * m.blush);
  c = mix(c, LID, 0.5 * m.lids);
  const lipN = 1 + 0.08 * fbm(p, 900, 2, seed + 3);
  c = mix(c, [LIP[0] * lipN, LIP[1] * lipN, LIP[2] * lipN], m.lips);
  c = mix(c, [0.32, 0.16, 0.13], m.nostril);
  // Brow hairs: strokes along x (high frequency across y), modulating the brow mask.
  const stroke = 0.6 + 0.4 * valueNoise(p[0] * 250, p[1] * 1400, p[2] * 250, seed + 17);
  c = mix(c, BROW, m.brows * stroke);
  // Hair: strands stretched along the flow (mostly vertical), a few lighter streaks.
  const strand = valueNoise(p[0] * 900, p[1] * 120, p[2] * 900, seed + 23);
  const streak = fbm(p, 25, 3, seed + 29);
  const hair: Rgb = mix(
    mix(HAIR, [0.12, 0.07, 0.04], 0.6 * strand),
    [0.5, 0.34, 0.2],
    0.4 * smoothstep(0.2, 0.6, streak),
  );
  return mix(c, hair, m.hair);
}

/**
 * Eyeball colour at polar angle `theta` from the gaze axis and azimuth `phi`: sclera with faint vessels, a
 * limbal ring, a textured iris and the pupil.
 */
export function eyeColor(theta: number, phi: number, seed: number): Rgb {
  const IRIS = 0.37, PUPIL = 0.14;
  if (theta < PUPIL) return [0.03, 0.03, 0.04];
  if (theta < IRIS) {
    const r = (theta - PUPIL) / (IRIS - PUPIL);
    const radial = valueNoise(Math.cos(phi) * 6 + 9, Math.sin(phi) * 6 + 9, r * 2, seed);
    const base: Rgb = mix([0.32, 0.52, 0.62], [0.5, 0.38, 0.18], smoothstep(0.4, 0.0, r) * 0.6);
    const c = mix(base, [0.16, 0.26, 0.32], 0.45 * radial);
    return mix(c, [0.08, 0.09, 0.1], smoothstep(0.75, 1.0, r));
  }
  const vessel = smoothstep(0.8, 0.95, valueNoise(phi * 8 + 3, theta * 3, 0, seed + 5)) *
    smoothstep(1.0, 1.8, theta);
  return mix([0.93, 0.91, 0.87], [0.85, 0.55, 0.52], 0.5 * vessel);
}

/** Tooth enamel colour along the dental arch (`s` in [0,1] across the arch), darker in the gaps. */
export function toothColor(s: number, nTeeth: number, seed: number): Rgb {
  const k = s * nTeeth, f = k - Math.floor(k);
  const gap = smoothstep(0.12, 0.0, Math.min(f, 1 - f));
  const tint = 0.04 * (hash3(Math.floor(k), 0, 0, seed) - 0.5);
  return mix([0.93 + tint, 0.9 + tint, 0.8 + tint], [0.45, 0.38, 0.33], 0.8 * gap);
}

/** Tongue colour with papillae noise. */
export function tongueColor(p: readonly number[], seed: number): Rgb {
  const n = fbm(p, 600, 2, seed);
  return [0.78 * (1 + 0.08 * n), 0.38 * (1 + 0.1 * n), 0.4];
}

/** Mouth cavity lining, darker towards the throat (`depth` in [0, 1]). */
export function cavityColor(depth: number): Rgb {
  return mix([0.55, 0.2, 0.2], [0.25, 0.07, 0.07], depth);
}
