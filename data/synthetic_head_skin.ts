/**
 * Geometry of the synthetic head's skin: a closed surface of revolution (head and neck, pole at the crown and
 * under the neck) with an elliptical cross-section, deformed by analytic bumps into nose, brow ridge,
 * cheekbones, lips, chin, eyelids and a hair cap. The mouth line is a slit (upper and lower lip vertices are
 * duplicated) so the jaw can open. Every function maps a *neutral base point* plus an expression to a position,
 * so blendshapes are differences of the same function at different expressions.
 *
 * Head frame: metres, +y up, +z out of the face, +x towards the head's left (the `_L` side).
 */
import { smoothstep } from "./synthetic_head_albedo.ts";

/** Landmarks shared by all parts of the head. */
export const MOUTH_Y = -0.058;
export const MOUTH_HALF_WIDTH = 0.024;
export const EYE_X = 0.033;
export const EYE_Y = 0.014;
export const EYE_RADIUS = 0.0135;
/** Eye opening half-width and half-height (metres). */
export const EYE_OPEN_W = 0.0118;
export const EYE_OPEN_H = 0.0062;
/** Jaw hinge (rotation axis is x through this point). */
export const JAW_PIVOT: readonly number[] = [0, -0.005, -0.012];

/** Profile of the surface of revolution: [y, half width, front depth, back depth] from crown to neck base. */
const PROFILE: readonly (readonly number[])[] = [
  [0.128, 0, 0, 0],
  [0.121, 0.036, 0.038, 0.042],
  [0.1, 0.062, 0.066, 0.076],
  [0.065, 0.075, 0.085, 0.096],
  [0.025, 0.078, 0.092, 0.1],
  [-0.015, 0.077, 0.095, 0.094],
  [-0.05, 0.07, 0.092, 0.08],
  [-0.085, 0.059, 0.085, 0.066],
  [-0.108, 0.05, 0.07, 0.058],
  [-0.125, 0.052, 0.054, 0.056],
  [-0.15, 0.055, 0.052, 0.058],
  [-0.2, 0.058, 0.054, 0.06],
  [-0.228, 0.062, 0.058, 0.064],
  [-0.24, 0, 0, 0],
];

function catmull(p0: number, p1: number, p2: number, p3: number, t: number): number {
  const t2 = t * t, t3 = t2 * t;
  return 0.5 *
    (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3);
}

/** Profile row at parameter u in [0, 1] (uniform in control-point index), Catmull-Rom interpolated. */
export function profileAt(u: number): number[] {
  const n = PROFILE.length - 1;
  const x = Math.min(Math.max(u, 0), 1) * n;
  const i = Math.min(Math.floor(x), n - 1), t = x - i;
  const P = (k: number) => PROFILE[Math.min(Math.max(k, 0), n)];
  return [0, 1, 2, 3].map((c) =>
    Math.max(catmull(P(i - 1)[c], P(i)[c], P(i + 1)[c], P(i + 2)[c], t), c ? 0 : -1)
  );
}

/**
 * Profile parameters for `rows` rings strictly between the two poles, spaced by arc length with extra density
 * in the face (eyes to chin).
 */
export function ringParameters(rows: number): number[] {
  const N = 4000;
  const cum = [0];
  let prev = profileAt(0);
  for (let i = 1; i <= N; i++) {
    const cur = profileAt(i / N);
    const len = Math.hypot(cur[0] - prev[0], Math.max(cur[1], cur[2]) - Math.max(prev[1], prev[2]));
    const y = cur[0];
    const dens = 1 + 1.8 * smoothstep(0.065, 0.04, y) * smoothstep(-0.125, -0.1, y);
    cum.push(cum[i - 1] + len * dens);
    prev = cur;
  }
  const out: number[] = [];
  let j = 0;
  for (let r = 1; r <= rows; r++) {
    const target = (cum[N] * r) / (rows + 1);
    while (cum[j + 1] < target) j++;
    out.push((j + (target - cum[j]) / (cum[j + 1] - cum[j])) / N);
  }
  return out;
}

/** Azimuth of column c of `cols` (0 = front, +pi/2 = +x), denser at the front. */
export function columnAngle(c: number, cols: number): number {
  const t = -1 + (2 * c) / cols;
  return Math.PI * (t - (0.62 * Math.sin(Math.PI * t)) / Math.PI);
}

function spow(v: number, e: number): number {
  return Math.sign(v) * Math.abs(v) ** e;
}

/** Point on the undeformed surface of revolution for a profile row and azimuth. */
export function basePoint(row: readonly number[], phi: number): number[] {
  const [y, w, f, b] = row;
  const s = Math.sin(phi), c = Math.cos(phi);
  return [w * spow(s, 2 / 2.4), y, (c >= 0 ? f : b) * spow(c, 2 / 2.4)];
}

function g2(dx: number, dy: number, sx: number, sy: number): number {
  return Math.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2));
}

/** Hair cap mask at a base point: above a hairline that is high on the forehead and low at the back. */
export function hairMask(p: readonly number[]): number {
  const a = Math.atan2(p[0], p[2]) / Math.PI; // 0 front, +-1 back
  const line = 0.072 - 0.16 * smoothstep(0.25, 1.0, Math.abs(a)) + 0.012 * Math.cos(a * 9);
  const sideburn = 0.035 * smoothstep(0.3, 0.5, Math.abs(a)) * smoothstep(0.75, 0.55, Math.abs(a));
  return smoothstep(line - sideburn - 0.008, line - sideburn + 0.008, p[1]);
}

/** Expression parameters the skin geometry understands (blendshape name -> weight). */
export type Expression = Readonly<Record<string, number>>;

/** z of the face with the nose, brow ridge, cheekbones, lips and chin, added to base point z (front only). */
function faceRelief(x: number, y: number): number {
  const ax = Math.abs(x);
  const bridge = 0.016, tip = -0.028;
  const ny = Math.min(Math.max((bridge - y) / (bridge - tip), 0), 1);
  let nose = y > bridge ? 0.006 * Math.exp(-(((y - bridge) / 0.012) ** 2)) : 0.006 + 0.019 * ny ** 1.6;
  if (y < tip) nose = 0.025 * Math.exp(-(((y - tip) / 0.0075) ** 2));
  const sx = 0.0055 + 0.007 * ny;
  let dz = nose * Math.exp(-0.5 * (x / sx) ** 2);
  dz += 0.008 * g2(ax - 0.012, y - (tip - 0.004), 0.006, 0.005); // alae
  dz += 0.005 * g2(ax - 0.031, y - 0.032, 0.018, 0.006); // brow ridge
  dz += 0.004 * g2(ax - 0.047, y + 0.014, 0.014, 0.01); // cheekbones
  const lipShape = Math.exp(-0.5 * (x / 0.017) ** 4);
  dz += 0.0042 * lipShape * g2(0, y - (MOUTH_Y + 0.005), 1, 0.0045); // upper lip
  dz += 0.005 * lipShape * g2(0, y - (MOUTH_Y - 0.0065), 1, 0.0055); // lower lip
  dz += 0.002 * g2(x, y - (MOUTH_Y + 0.014), 0.004, 0.005); // philtrum columns
  dz -= 0.003 * g2(ax - MOUTH_HALF_WIDTH, y - MOUTH_Y, 0.004, 0.004); // mouth corners
  dz -= 0.004 * g2(x, y - (MOUTH_Y - 0.02), 0.02, 0.005); // mentolabial sulcus
  dz += 0.006 * g2(x, y + 0.097, 0.014, 0.009); // chin
  return dz;
}

const eyeCenters = new Map<number, number[]>();

/** Eye centre for side s (+1 = left, +x). Placed so the closed lid lies just behind the face surface. */
export function eyeCenter(s: number): number[] {
  const hit = eyeCenters.get(s);
  if (hit) return hit;
  const row = profileAt(rowParamAtY(EYE_Y));
  const phi = Math.asin(Math.min((s * EYE_X) / row[1], 1));
  const surface = basePoint(row, phi)[2] + faceRelief(s * EYE_X, EYE_Y);
  const c = [s * EYE_X, EYE_Y, surface - EYE_RADIUS - 0.0035];
  eyeCenters.set(s, c);
  return c;
}

/** Profile parameter whose y is `y` (bisection; y decreases along the profile). */
export function rowParamAtY(y: number): number {
  let lo = 0, hi = 1;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (profileAt(mid)[0] > y) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Eye socket and lids: near eye side s the skin follows a sphere slightly larger than the eyeball (the lid),
 * except inside the almond-shaped opening, where it sinks behind the eyeball. Blink closes the opening from the
 * top down to a meeting line below the centre; points near the lid edges are covered first (their recess is
 * shallow), so a half blink looks like a half-closed lid. Widen enlarges the opening.
 */
function eyeRegion(x: number, y: number, zFace: number, s: number, blink: number, wide: number): number {
  const c = eyeCenter(s);
  const dx = x - c[0], dy = y - c[1];
  const r = Math.hypot(dx, dy * 0.9);
  const region = 1 - smoothstep(0.75 * EYE_RADIUS, 1.08 * EYE_RADIUS, r);
  if (region <= 0) return zFace;
  const dOut = 0.0016;
  const h0 = EYE_OPEN_H * (1 + 0.45 * wide) * (1 - Math.abs(dx / EYE_OPEN_W) ** 2);
  const meet = -0.45 * EYE_OPEN_H;
  const top = meet + (h0 - meet) * (1 - blink), bottom = meet + (-h0 * 0.85 - meet) * (1 - blink);
  // Signed depth inside the opening (> 0 inside, in units of the opening height); smooth across the lid edge.
  const inside = Math.min(top - dy, dy - bottom) / EYE_OPEN_H;
  // Position between a lid edge (0) and the meeting line (1): a vertex is covered once the blink weight passes
  // f(q), so the upper lid sweeps down and the lower lid up under linear blending.
  const q = dy >= meet
    ? (top - dy) / Math.max(top - meet, 1e-6)
    : (dy - bottom) / Math.max(meet - bottom, 1e-6);
  const f = Math.min(0.05 + 0.9 * Math.min(Math.max(q, 0), 1), 0.8);
  const recess = (dOut * f) / (1 - f);
  const rho = EYE_RADIUS + dOut - (dOut + recess) * smoothstep(-0.08, 0.1, inside);
  const zLid = c[2] + Math.sqrt(Math.max(rho * rho - dx * dx - dy * dy, 0));
  return zFace + (zLid - zFace) * region;
}

/**
 * Position of a skin vertex given its base point, whether it is a lower-lip slit copy (`lowerLip`, with slit
 * profile `slit` in [0, 1]: 1 at the middle of the mouth, 0 at the corners), and an expression.
 * The eyelids are the only non-additive part: blink and widen reshape the opening rather than add offsets.
 */
export function skinPosition(
  base: readonly number[],
  slit: number,
  lowerLip: boolean,
  e: Expression,
): number[] {
  let [x, y, z] = base;
  const front = smoothstep(0.0, 0.045, z);
  z += faceRelief(x, y) * front;
  for (const s of [1, -1]) {
    const side = s > 0 ? "L" : "R";
    if (s * x > 0.005 && base[2] > 0.03) {
      z = eyeRegion(x, y, z, s, e[`eyeBlink_${side}`] ?? 0, e[`eyeWide_${side}`] ?? 0);
    }
  }
  // Hair cap volume along the horizontal outward direction (and up on the crown).
  const hair = hairMask(base) * (1 - front * smoothstep(0.09, 0.06, y));
  const len = Math.hypot(x, y - 0.01, z + 0.005) || 1;
  const vol = 0.007 * hair;
  x += (vol * x) / len;
  y += (vol * (y - 0.01)) / len;
  z += (vol * (z + 0.005)) / len;

  const d = expressionOffsets(base, e);
  x += d[0];
  y += d[1];
  z += d[2];
  return jaw([x, y, z], jawWeight(base, slit, lowerLip), e);
}

/** Additive expression offsets (smile, frown, pucker, brows, cheek puff, sneer) at a base point. */
function expressionOffsets(p: readonly number[], e: Expression): number[] {
  const [x, y, z] = p;
  const out = [0, 0, 0];
  const front = smoothstep(0.0, 0.05, z);
  const add = (w: number, m: number, d: readonly number[]) => {
    if (!w || m < 1e-4) return;
    for (let i = 0; i < 3; i++) out[i] += w * m * d[i] * front;
  };
  for (const s of [1, -1]) {
    const side = s > 0 ? "L" : "R";
    const sx = s * x;
    const corner = g2(sx - MOUTH_HALF_WIDTH, y - MOUTH_Y, 0.012, 0.011);
    add(e[`mouthSmile_${side}`], corner, [s * 0.005, 0.009, -0.004]);
    add(e[`mouthSmile_${side}`], g2(sx - 0.038, y + 0.03, 0.014, 0.012), [s * 0.001, 0.004, 0.004]);
    add(e[`mouthFrown_${side}`], corner, [s * 0.001, -0.008, -0.001]);
    add(e[`mouthFrown_${side}`], g2(sx - 0.012, y - MOUTH_Y + 0.008, 0.01, 0.005), [0, -0.002, 0.002]);
    add(e[`browOuterUp_${side}`], g2(sx - 0.048, y - 0.036, 0.013, 0.014), [0, 0.009, 0.001]);
    add(e[`browDown_${side}`], g2(sx - 0.028, y - 0.034, 0.016, 0.012), [-s * 0.003, -0.007, 0.002]);
    add(e[`noseSneer_${side}`], g2(sx - 0.012, y + 0.018, 0.008, 0.01), [0, 0.004, 0.002]);
    add(e[`noseSneer_${side}`], g2(sx - 0.02, y - 0.03, 0.012, 0.01), [0, -0.003, 0.001]);
    add(e.cheekPuff, g2(sx - 0.046, y + 0.045, 0.016, 0.016), [s * 0.014, 0, 0.005]);
    add(e.browInnerUp, g2(sx - 0.014, y - 0.036, 0.014, 0.013), [0, 0.009, 0.001]);
  }
  const lips = g2(x, y - MOUTH_Y, 0.028, 0.014);
  add(e.mouthPucker, lips, [-0.45 * x, -0.2 * (y - MOUTH_Y), 0.011]);
  return out;
}

/**
 * How much a skin point follows the jaw: 1 on the chin and lower lip, 0 above the mouth and on the back of the
 * head; the lower copy of the lip slit is pulled to 1 and the upper copy to 0 towards the middle of the mouth.
 */
export function jawWeight(p: readonly number[], slit: number, lowerLip: boolean): number {
  const [, y, z] = p;
  let w = smoothstep(MOUTH_Y + 0.012, MOUTH_Y - 0.026, y);
  // Fade out behind the chin and down the neck, so the skin under the jaw stretches instead of folding.
  w *= smoothstep(-0.035, 0.04, z) * (1 - smoothstep(-0.092, -0.14, y) * (1 - smoothstep(0.05, 0.085, z)));
  return lowerLip ? w + (1 - w) * slit : w * (1 - slit);
}

/** Applies jaw open (rotation about x through the hinge) and jaw left/right (shift along x), scaled by w. */
export function jaw(p: readonly number[], w: number, e: Expression): number[] {
  if (w === 0) return [...p];
  const a = 0.3 * (e.jawOpen ?? 0) * w;
  const dy = p[1] - JAW_PIVOT[1], dz = p[2] - JAW_PIVOT[2];
  const c = Math.cos(a), s = Math.sin(a);
  const shift = 0.011 * ((e.jawLeft ?? 0) - (e.jawRight ?? 0)) * w;
  return [p[0] + shift, JAW_PIVOT[1] + c * dy - s * dz, JAW_PIVOT[2] + s * dy + c * dz];
}
