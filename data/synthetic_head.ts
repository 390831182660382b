/**
 * The built-in synthetic head rig (the project's default data): head and neck with nose, ears, eye sockets and
 * lids, eyeballs with iris and pupil, lips with a mouth slit, a mouth cavity with teeth and tongue that shows when
 * the jaw opens, brows and a hair cap, with a procedural per-vertex albedo and ARKit-named blendshapes.
 *
 * Every part is a deformed parametric grid; blendshape k is `geometry(expression with only k = 1) - neutral`,
 * so the deltas are smooth and exactly linear in the weights by construction. About 21k vertices by default.
 * Head frame: metres, +y up, +z out of the face, +x towards the head's left (the `_L` side); the crown is at
 * y = 0.13 and the neck ends at y = -0.26.
 */
import type { Rig } from "./rig.ts";
import { skinColor, type SkinMasks, smoothstep } from "./synthetic_head_albedo.ts";
import { addCavity, addEar, addEye, addTeeth, addTongue, MeshBuilder } from "./synthetic_head_parts.ts";
import {
  basePoint,
  columnAngle,
  type Expression,
  EYE_RADIUS,
  eyeCenter,
  hairMask,
  jaw,
  MOUTH_HALF_WIDTH,
  MOUTH_Y,
  profileAt,
  ringParameters,
  skinPosition,
} from "./synthetic_head_skin.ts";

/** The blendshapes of the synthetic head, in expression-code order. */
export const SYNTHETIC_BLENDSHAPES: readonly string[] = [
  "jawOpen",
  "jawLeft",
  "jawRight",
  "mouthSmile_L",
  "mouthSmile_R",
  "mouthFrown_L",
  "mouthFrown_R",
  "mouthPucker",
  "cheekPuff",
  "browInnerUp",
  "browOuterUp_L",
  "browOuterUp_R",
  "browDown_L",
  "browDown_R",
  "eyeBlink_L",
  "eyeBlink_R",
  "eyeWide_L",
  "eyeWide_R",
  "noseSneer_L",
  "noseSneer_R",
];

export interface SyntheticHeadOptions {
  /** Rings of the head/neck surface between the poles (default 124). */
  rows?: number;
  /** Vertices per ring (default 128). */
  cols?: number;
  /** Seed of the albedo noise (default 1). */
  seed?: number;
}

/** The separately built parts of the synthetic head, in vertex order. */
export type SyntheticPart = "skin" | "eyes" | "ears" | "teeth" | "tongue" | "cavity";

/** The synthetic head with what the rig alone does not say: its parts and its exact parametric geometry. */
export interface SyntheticHeadModel {
  rig: Rig;
  /** Vertex range [start, end) of each part in the rig's vertex order (skin first, then the parts). */
  parts: Record<SyntheticPart, [number, number]>;
  /** Skin vertices on the lip slit's border (both copies of the slit; the mouth corners included). */
  slitVertices: Uint32Array;
  /** Skin vertices of the lip region (the skin part of `rig.mouthVertices`). */
  lipVertices: Uint32Array;
  /**
   * Exact posed positions [V, 3] for blendshape weights (in `SYNTHETIC_BLENDSHAPES` order): the parametric
   * geometry itself, of which the rig's blend `positions + sum_k w_k deltas_k` is the linearization (they differ
   * where shapes combine: the eyelids, and the jaw's rotation composed with the other offsets).
   */
  geometry(weights: ArrayLike<number>): Float32Array;
}

interface SkinVertex {
  base: number[];
  slit: number;
  lower: boolean;
}

/** Builds the synthetic head rig. Deterministic for the options. */
export function buildSyntheticHead(opts: SyntheticHeadOptions = {}): Rig {
  return buildSyntheticHeadModel(opts).rig;
}

/** Builds the synthetic head rig with its parts and exact geometry. Deterministic for the options. */
export function buildSyntheticHeadModel(opts: SyntheticHeadOptions = {}): SyntheticHeadModel {
  const rows = opts.rows ?? 124, cols = opts.cols ?? 128, seed = opts.seed ?? 1;
  const skin: SkinVertex[] = [];
  const indices: number[] = [];
  const rings = ringParameters(rows).map(profileAt);
  const phis = Array.from({ length: cols }, (_, c) => columnAngle(c, cols));
  const add = (base: number[], slit = 0, lower = false) => skin.push({ base, slit, lower }) - 1;

  // Mouth ring and the columns of the slit (corners shared, interior duplicated).
  let mouthRow = 0;
  rings.forEach((r, i) =>
    Math.abs(r[0] - MOUTH_Y) < Math.abs(rings[mouthRow][0] - MOUTH_Y) && (mouthRow = i)
  );
  const inSlit = phis.map((p) =>
    Math.cos(p) > 0 && Math.abs(basePoint(rings[mouthRow], p)[0]) < MOUTH_HALF_WIDTH
  );

  const top = add(basePoint(profileAt(0), 0));
  const ids: number[][] = [];
  const lowerIds = new Map<number, number>();
  rings.forEach((ring, i) => {
    ids.push(phis.map((p) => add(basePoint(ring, p))));
    if (i === mouthRow) {
      phis.forEach((p, c) => {
        if (!inSlit[c]) return;
        const x = basePoint(ring, p)[0];
        const slit = Math.sqrt(Math.max(0, 1 - (x / MOUTH_HALF_WIDTH) ** 2));
        skin[ids[i][c]].slit = slit;
        lowerIds.set(c, add(basePoint(ring, p), slit, true));
      });
    }
  });
  const bottom = add(basePoint(profileAt(1), 0));
  for (let c = 0; c < cols; c++) {
    const c1 = (c + 1) % cols;
    indices.push(top, ids[0][c], ids[0][c1]);
    indices.push(bottom, ids[rows - 1][c1], ids[rows - 1][c]);
    for (let i = 0; i + 1 < rows; i++) {
      const lowerOf = (cc: number) => (i === mouthRow ? lowerIds.get(cc) ?? ids[i][cc] : ids[i][cc]);
      const a = lowerOf(c), b = lowerOf(c1), d = ids[i + 1][c], e = ids[i + 1][c1];
      indices.push(a, d, b, b, d, e);
    }
  }
  orientOutward(skin.map((s) => s.base), indices, [0, -0.05, 0]);

  // Separate parts.
  const lipZ = skinPosition(basePoint(rings[mouthRow], 0), 0, false, {})[2];
  const parts = new MeshBuilder();
  const skinRgb = (p: readonly number[]) => skinColor(p, skinMasks(p), seed);
  const S = skin.length;
  const range = (build: () => void): [number, number] => {
    const start = S + parts.count;
    build();
    return [start, S + parts.count];
  };
  const ranges: Record<SyntheticPart, [number, number]> = {
    skin: [0, S],
    eyes: range(() => [1, -1].forEach((s) => addEye(parts, s, seed))),
    ears: range(() => [1, -1].forEach((s) => addEar(parts, s, skinRgb))),
    teeth: range(() => [true, false].forEach((upper) => addTeeth(parts, upper, lipZ, seed))),
    tongue: range(() => addTongue(parts, lipZ, seed)),
    cavity: range(() => addCavity(parts, lipZ)),
  };
  const mouthPartsStart = ranges.teeth[0] - S;

  const V = S + parts.count;
  const geometry = (e: Expression): Float32Array => {
    const out = new Float32Array(V * 3);
    skin.forEach((v, i) => out.set(skinPosition(v.base, v.slit, v.lower, e), i * 3));
    for (let i = 0; i < parts.count; i++) {
      const p = parts.positions.slice(i * 3, i * 3 + 3);
      out.set(jaw(p, parts.jawWeights[i], e), (S + i) * 3);
    }
    return out;
  };
  const positions = geometry({});
  const deltas = SYNTHETIC_BLENDSHAPES.map((name) => {
    const d = geometry({ [name]: 1 });
    for (let i = 0; i < d.length; i++) {
      const v = d[i] - positions[i];
      d[i] = Math.abs(v) < 1e-7 ? 0 : v;
    }
    return d;
  });

  const colors = new Float32Array(V * 3);
  skin.forEach((v, i) => colors.set(skinRgb(v.base), i * 3));
  colors.set(parts.colors, S * 3);
  const mouth: number[] = [];
  skin.forEach((v, i) => {
    const [x, y, z] = v.base;
    if (z > 0 && Math.abs(x) < 0.032 && Math.abs(y - MOUTH_Y) < 0.018) mouth.push(i);
  });
  const lipVertices = Uint32Array.from(mouth);
  for (let i = mouthPartsStart; i < parts.count; i++) mouth.push(S + i);
  const rig: Rig = {
    positions,
    indices: Uint32Array.from([...indices, ...parts.indices.map((i) => i + S)]),
    colors,
    blendshapeNames: [...SYNTHETIC_BLENDSHAPES],
    deltas,
    mouthVertices: Uint32Array.from(mouth),
  };
  const slit = [
    ...lowerIds.values(),
    ...ids[mouthRow].filter((_, c) =>
      inSlit[c] || inSlit[(c + 1) % cols] ||
      inSlit[(c + cols - 1) % cols]
    ),
  ];
  return {
    rig,
    parts: ranges,
    slitVertices: Uint32Array.from(slit.sort((a, b) => a - b)),
    lipVertices,
    geometry: (weights) => {
      const e: Record<string, number> = {};
      SYNTHETIC_BLENDSHAPES.forEach((name, k) => (e[name] = weights[k] ?? 0));
      return geometry(e);
    },
  };
}

function g2(dx: number, dy: number, sx: number, sy: number): number {
  return Math.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2));
}

/** Region masks of the skin at a neutral base point (see `SkinMasks`). */
function skinMasks(p: readonly number[]): SkinMasks {
  const [x, y, z] = p;
  const ax = Math.abs(x);
  const front = smoothstep(0.01, 0.05, z);
  const dy = y - MOUTH_Y + 0.0005;
  const lipD = (x / (MOUTH_HALF_WIDTH * 1.02)) ** 2 + (dy / (dy > 0 ? 0.0095 : 0.0115)) ** 2;
  const bow = dy > 0 ? 0.25 * g2(x, 0, 0.004, 1) : 0;
  const lips = smoothstep(1.15, 0.8, lipD + bow) * front;
  const t = (ax - 0.011) / 0.046;
  const browY = 0.03 + 0.009 * Math.sin(Math.PI * Math.min(Math.max(t, 0), 1) ** 0.8);
  const thick = 0.0048 * (1 - 0.45 * t);
  const brows = smoothstep(thick, thick * 0.55, Math.abs(y - browY)) * smoothstep(0.008, 0.014, ax) *
    smoothstep(0.06, 0.052, ax) * front;
  const eye = eyeCenter(x >= 0 ? 1 : -1);
  const r = Math.hypot(x - eye[0], y - eye[1]);
  const lids = smoothstep(1.25 * EYE_RADIUS, 0.8 * EYE_RADIUS, r) *
    smoothstep(eye[1] - 0.004, eye[1] + 0.002, y) * front;
  return {
    lips,
    brows,
    hair: hairMask(p),
    lids,
    blush: g2(ax - 0.045, y + 0.03, 0.016, 0.013) * front,
    nostril: 0.45 * g2(ax - 0.007, y + 0.0375, 0.002, 0.0012) * front,
    neck: smoothstep(-0.11, -0.14, y),
  };
}

/** Flips the winding of a closed mesh if most triangles face towards `centre`. */
function orientOutward(points: number[][], indices: number[], centre: number[]): void {
  let sum = 0;
  for (let t = 0; t < indices.length; t += 3) {
    const [a, b, c] = [points[indices[t]], points[indices[t + 1]], points[indices[t + 2]]];
    const u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]], v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    sum += n[0] * (a[0] - centre[0]) + n[1] * (a[1] - centre[1]) + n[2] * (a[2] - centre[2]);
  }
  if (sum < 0) {
    for (let t = 0; t < indices.length; t += 3) {
      [indices[t + 1], indices[t + 2]] = [indices[t + 2], indices[t + 1]];
    }
  }
}
