/**
 * Training data for the deformation fields B and F, drawn from an expression rig: expression codes from the
 * training mixture, posed/canonical point pairs on and near the surface (optionally concentrated on moving
 * geometry), and the relative error statistics the fit reports use.
 */
import { PointGrid } from "./point_grid.ts";
import type { Rng } from "../gpu/rng.ts";
import { headFrame } from "./deform_inputs.ts";
import { MOVING_VERTEX_MM, STILL_RADIUS_M } from "./field_fit.ts";
import {
  drawTriangle,
  posedPoints,
  type RigMesh,
  samplesOnTriangles,
  sampleSurface,
  type SurfaceSamples,
  triangleAreaCdf,
} from "./rig_sampling.ts";

export interface CodeSampling {
  /** Dataset expression codes [T, D] to draw from (with perturbations). */
  dataset?: Float32Array;
  /** Standard deviation of the Gaussian perturbation of dataset codes (default 0.05). */
  perturb?: number;
  /** Range of a blendshape weight (default [0, 1]). */
  range?: [number, number];
}

/**
 * `count` expression codes [count, D] from the training mixture: with dataset codes, 40% perturbed dataset
 * codes, 20% uniform over the range, 25% sparse (about 3 active shapes, uniform weights), 15% one-hot extremes
 * (one shape at the top of the range); without, the non-dataset kinds in the same proportions.
 */
export function sampleCodes(rng: Rng, D: number, count: number, o: CodeSampling = {}): Float32Array {
  const [lo, hi] = o.range ?? [0, 1];
  const T = o.dataset ? o.dataset.length / D : 0;
  const out = new Float32Array(count * D);
  for (let g = 0; g < count; g++) {
    const z = out.subarray(g * D, (g + 1) * D);
    let r = rng.next();
    if (T > 0) {
      if (r < 0.4) {
        const t = rng.int(T);
        const sigma = o.perturb ?? 0.05;
        for (let k = 0; k < D; k++) {
          z[k] = Math.min(hi, Math.max(lo, o.dataset![t * D + k] + sigma * rng.normal()));
        }
        continue;
      }
      r = (r - 0.4) / 0.6;
    }
    if (r < 1 / 3) { for (let k = 0; k < D; k++) z[k] = rng.uniform(lo, hi); }
    else if (r < 0.75) {
      for (let k = 0; k < D; k++) if (rng.next() < Math.min(1, 3 / D)) z[k] = rng.uniform(lo, hi);
    } else z[rng.int(D)] = hi;
  }
  return out;
}

/** A batch of training pairs: posed and canonical world points, with codes[index[i]] posing point i. */
export interface PosedPairs {
  count: number;
  posed: Float32Array;
  canonical: Float32Array;
  codes: Float32Array;
  index: Uint32Array;
  /**
   * With `PairSampling.basis`: the rig's blendshape deltas at each point, [N, 3D] world units (x of all D
   * shapes, then y, then z: the layout of a code-basis head, code_basis.ts), the exact basis of the forward
   * field of a linear rig (off-surface points move with their surface point).
   */
  basis?: Float32Array;
}

export interface PairSampling extends CodeSampling {
  /** Normal offset std of the off-surface half of the samples, world units (default 1% of the head diagonal). */
  shell?: number;
  /** Points sharing one code (default 16). */
  perCode?: number;
  /** Pose group g with row g mod H of these codes [H, D] instead of sampling codes. */
  fixedCodes?: Float32Array;
  /** Cumulative triangle weights to sample from (default: by area; training uses `motionFocusCdf`). */
  cdf?: Float64Array;
  /** Expression [D] of the canonical space: canonical points are the rig posed with it (default: neutral). */
  canonicalCode?: Float32Array;
  /** Put a fraction of each code's points where that code moves the surface (`shapeFocusOf`). */
  shapeFocus?: ShapeFocus;
  /** Also return the rig's basis at the points (`PosedPairs.basis`). */
  basis?: boolean;
}

/**
 * Per-blendshape sampling weights: `cdfs[k]` the cumulative triangle weights A_f m_kf (area times the largest
 * displacement of blendshape k at the triangle's vertices; null for a shape that moves nothing), and the
 * fraction of each group's points drawn from them. A group posed with code z draws such a point from shape k
 * with probability proportional to |z_k - z0_k|, so every active shape gets points where it moves, however
 * small its motion: area times motion over all shapes (`motionFocusCdf`) leaves the lids, brows and nose
 * (millimetres, tiny areas) a few samples beside the jaw (centimetres over the lower face), and B and F then
 * learn the jaw and barely anything else.
 */
export interface ShapeFocus {
  cdfs: (Float64Array | null)[];
  fraction: number;
}

/** The `ShapeFocus` of a rig, with `fraction` of each group's points focused (default 0.5). */
export function shapeFocusOf(mesh: RigMesh, fraction = 0.5): ShapeFocus {
  const cdfs = mesh.deltas.map((d) => {
    const w = areaTimesMotion(mesh, vertexMotion(mesh.positions.length / 3, [d]));
    for (let f = 1; f < w.length; f++) w[f] += w[f - 1];
    return w[w.length - 1] > 0 ? w : null;
  });
  return { cdfs, fraction };
}

/**
 * Per-shape weights (m / m_k)^power of F's basis supervision (distill.ts `DistillOptions.basisWeight`): m_k
 * the largest vertex displacement of blendshape k, m the largest of all; 0 for a shape that moves nothing. [D]
 */
export function basisShapeWeights(mesh: RigMesh, power: number): Float32Array {
  const V = mesh.positions.length / 3;
  const m = mesh.deltas.map((d) => Math.max(...vertexMotion(V, [d])));
  const top = Math.max(...m);
  return Float32Array.from(m, (mk) => (mk > 0 ? (top / mk) ** power : 0));
}

/** Per vertex, the largest displacement any of `deltas` gives it. */
function vertexMotion(V: number, deltas: Float32Array[]): Float64Array {
  const motion = new Float64Array(V);
  for (const d of deltas) {
    for (let v = 0; v < V; v++) {
      motion[v] = Math.max(motion[v], Math.hypot(d[3 * v], d[3 * v + 1], d[3 * v + 2]));
    }
  }
  return motion;
}

/** motion^power where a vertex moves by more than MOVING_VERTEX_MM (rig units are metres), else 0 (in place). */
function movingPower(motion: Float64Array, power: number): Float64Array {
  for (let v = 0; v < motion.length; v++) {
    motion[v] = motion[v] > MOVING_VERTEX_MM / 1000 ? motion[v] ** power : 0;
  }
  return motion;
}

/** Per triangle, its area times the largest `motion` of its vertices. */
function areaTimesMotion(mesh: RigMesh, motion: Float64Array): Float64Array {
  const area = triangleAreaCdf(mesh), I = mesh.indices, out = new Float64Array(area.length);
  for (let f = 0; f < area.length; f++) {
    const a = area[f] - (f ? area[f - 1] : 0);
    out[f] = a * Math.max(motion[I[3 * f]], motion[I[3 * f + 1]], motion[I[3 * f + 2]]);
  }
  return out;
}

/**
 * Cumulative triangle weights that put a fraction `focus` of the samples on moving geometry: triangle f gets
 * (1 - focus) * A_f / sum A + focus * A_f m_f / sum(A m), where A is the area and m_f the largest blendshape
 * displacement of its vertices. Static regions (neck, back of the head) have B = 0 and are easy; the moving
 * lips, jaw, lids and brows need the capacity. With power != 1, m_f^power over the triangles with a vertex that
 * moves by more than MOVING_VERTEX_MM (0 elsewhere). With balance > 0, a share focus * balance of all samples
 * is drawn by `shapeBalancedWeights` and the rest as above (each part scaled by 1 - focus * balance). With
 * still > 0, a share `still` of all samples is drawn by `stillNeighbourWeights` and the rest as above.
 */
export function motionFocusCdf(
  mesh: RigMesh,
  focus = 0.5,
  power = 1,
  balance = 0,
  still = 0,
): Float64Array {
  if (still > 0) {
    return mixCdf(motionFocusCdf(mesh, focus, power, balance), stillNeighbourWeights(mesh), still);
  }
  if (balance > 0) {
    return mixCdf(motionFocusCdf(mesh, focus, power), shapeBalancedWeights(mesh), focus * balance);
  }
  const area = triangleAreaCdf(mesh);
  const F = area.length;
  const motion = vertexMotion(mesh.positions.length / 3, mesh.deltas);
  const am = areaTimesMotion(mesh, power === 1 ? motion : movingPower(motion, power));
  const a = new Float64Array(F);
  let sa = 0, sam = 0;
  for (let f = 0; f < F; f++) {
    a[f] = area[f] - (f ? area[f - 1] : 0);
    sa += a[f];
    sam += am[f];
  }
  const cdf = new Float64Array(F);
  let acc = 0;
  for (let f = 0; f < F; f++) {
    acc += (sam > 0 ? 1 - focus : 1) * a[f] / sa + (sam > 0 ? focus * am[f] / sam : 0);
    cdf[f] = acc;
  }
  return cdf;
}

/**
 * Per triangle, the mean over the blendshapes that move of (its area / the area that shape moves by more than
 * MOVING_VERTEX_MM) where that shape moves it, else 0: every shape gets the same share of the samples, however
 * small the region it moves (the lids: about 1% of the moving area of the built-in head). Sums to 1.
 */
export function shapeBalancedWeights(mesh: RigMesh): Float64Array {
  const V = mesh.positions.length / 3, out = new Float64Array(mesh.indices.length / 3);
  let shapes = 0;
  for (const d of mesh.deltas) {
    // movingPower(., 0) is 1 on the vertices that move, 0 elsewhere: `own` is the area this shape moves.
    const own = areaTimesMotion(mesh, movingPower(vertexMotion(V, [d]), 0));
    const total = own.reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    shapes++;
    for (let f = 0; f < out.length; f++) out[f] += own[f] / total;
  }
  if (shapes > 0) { for (let f = 0; f < out.length; f++) out[f] /= shapes; }
  return out;
}

/**
 * Per triangle, its share of the area of the still triangles near motion: those none of whose vertices any
 * blendshape moves by more than MOVING_VERTEX_MM, with the centroid within `radius` (rig units) of a vertex
 * that one does; 0 elsewhere. Sums to 1 (all 0 when there is none). These pin a smooth field to zero where the
 * rig's motion stops: an eyeball in front of a lid that moves inside it, the skull beside a moving jaw.
 */
export function stillNeighbourWeights(mesh: RigMesh, radius = STILL_RADIUS_M): Float64Array {
  const V = mesh.positions.length / 3, P = mesh.positions, I = mesh.indices;
  const motion = vertexMotion(V, mesh.deltas), moving = MOVING_VERTEX_MM / 1000;
  const movers: number[] = [];
  for (let v = 0; v < V; v++) if (motion[v] > moving) movers.push(v);
  const grid = new PointGrid(P, movers, radius);
  const area = triangleAreaCdf(mesh), out = new Float64Array(area.length);
  let total = 0;
  for (let f = 0; f < out.length; f++) {
    const a = I[3 * f], b = I[3 * f + 1], c = I[3 * f + 2];
    if (motion[a] > moving || motion[b] > moving || motion[c] > moving) continue;
    const near = grid.near(
      (P[3 * a] + P[3 * b] + P[3 * c]) / 3,
      (P[3 * a + 1] + P[3 * b + 1] + P[3 * c + 1]) / 3,
      (P[3 * a + 2] + P[3 * b + 2] + P[3 * c + 2]) / 3,
    );
    if (!near) continue;
    out[f] = area[f] - (f ? area[f - 1] : 0);
    total += out[f];
  }
  if (total > 0) { for (let f = 0; f < out.length; f++) out[f] /= total; }
  return out;
}

/** The cumulative weights (1 - share) * (the distribution of `cdf`) + share * `weights` (which sum to 1). */
function mixCdf(cdf: Float64Array, weights: Float64Array, share: number): Float64Array {
  const total = cdf[cdf.length - 1],
    hasShapes = weights.some((w) => w > 0),
    out = new Float64Array(cdf.length);
  let acc = 0;
  for (let f = 0; f < cdf.length; f++) {
    const p = (cdf[f] - (f ? cdf[f - 1] : 0)) / total;
    acc += hasShapes ? (1 - share) * p + share * weights[f] : p;
    out[f] = acc;
  }
  return out;
}

/** Draws `count` posed/canonical pairs from the rig (see the module comment). */
export function samplePairs(mesh: RigMesh, count: number, rng: Rng, o: PairSampling = {}): PosedPairs {
  const D = mesh.deltas.length;
  const shell = o.shell ?? 0.01 * headFrame(mesh).diagonal;
  const per = o.perCode ?? 16;
  const groups = Math.ceil(count / per);
  const fixed = o.fixedCodes, H = fixed ? fixed.length / D : 0;
  const drawCodes = () =>
    fixed
      ? Float32Array.from({ length: groups * D }, (_, j) => fixed[(Math.floor(j / D) % H) * D + (j % D)])
      : sampleCodes(rng, D, groups, o);
  const base = o.cdf ?? triangleAreaCdf(mesh);
  let s: SurfaceSamples, codes: Float32Array;
  if (o.shapeFocus) {
    codes = drawCodes();
    const { cdfs, fraction } = o.shapeFocus, z0 = o.canonicalCode, w = new Float64Array(D);
    let group = -1, total = 0;
    s = samplesOnTriangles(
      count,
      (i) => {
        const g = Math.floor(i / per);
        if (g !== group) {
          group = g;
          total = 0;
          for (let k = 0; k < D; k++) {
            w[k] = cdfs[k] ? Math.abs(codes[g * D + k] - (z0?.[k] ?? 0)) : 0;
            total += w[k];
          }
        }
        if (!(total > 0) || rng.next() >= fraction) return drawTriangle(base, rng);
        let r = rng.next() * total, k = 0;
        while (k < D - 1 && (r -= w[k]) > 0) k++;
        while (!cdfs[k]) k--; // r landed past the last weighted shape by rounding
        return drawTriangle(cdfs[k]!, rng);
      },
      rng,
      shell,
    );
  } else {
    s = sampleSurface(mesh, count, rng, shell, base);
    codes = drawCodes();
  }
  for (let i = 0; i < count; i += 2) s.offsets[i] = 0;
  const posed = new Float32Array(3 * count);
  const index = new Uint32Array(count);
  for (let g = 0; g < groups; g++) {
    const a = g * per, b = Math.min(count, a + per);
    const sub: SurfaceSamples = {
      count: b - a,
      triangles: s.triangles.subarray(a, b),
      barycentrics: s.barycentrics.subarray(3 * a, 3 * b),
      offsets: s.offsets.subarray(a, b),
    };
    posed.set(posedPoints(mesh, sub, codes.subarray(g * D, (g + 1) * D)), 3 * a);
    index.fill(g, a, b);
  }
  const canonical = posedPoints(mesh, s, o.canonicalCode ?? null);
  return { count, posed, canonical, codes, index, ...(o.basis ? { basis: basisTargets(mesh, s) } : {}) };
}

/** The blendshape deltas at the samples, [N, 3D] (layout of `PosedPairs.basis`). */
export function basisTargets(mesh: RigMesh, s: SurfaceSamples): Float32Array {
  const D = mesh.deltas.length, I = mesh.indices, out = new Float32Array(s.count * 3 * D);
  for (let i = 0; i < s.count; i++) {
    const f = s.triangles[i], row = i * 3 * D;
    for (let j = 0; j < 3; j++) {
      const v = 3 * I[3 * f + j], b = s.barycentrics[3 * i + j];
      for (let k = 0; k < D; k++) {
        const d = mesh.deltas[k];
        out[row + k] += b * d[v];
        out[row + D + k] += b * d[v + 1];
        out[row + 2 * D + k] += b * d[v + 2];
      }
    }
  }
  return out;
}

/** Relative displacement above which a point counts as moving (0.1% of the head diagonal). */
export const MOVING_THRESHOLD = 1e-3;

/** Errors restricted to the points that move under their expression. */
export interface MovingStats {
  /** Mean relative error over moving points. */
  mean: number;
  /** Mean relative true displacement over moving points (the zero field's error there). */
  zeroMean: number;
  /** Fraction of points that move. */
  fraction: number;
}

/** `MovingStats` of per-point errors `err` given the true relative displacements `truth`. */
export function movingStats(err: Float64Array, truth: Float64Array): MovingStats {
  let n = 0, e = 0, z = 0;
  for (let i = 0; i < err.length; i++) {
    if (!(truth[i] > MOVING_THRESHOLD)) continue;
    n++;
    e += err[i];
    z += truth[i];
  }
  return { mean: n ? e / n : NaN, zeroMean: n ? z / n : NaN, fraction: n / Math.max(err.length, 1) };
}

/** Mean and 95th percentile of non-negative errors. */
export function errorStats(err: Float64Array): { mean: number; p95: number } {
  const sorted = Float64Array.from(err).sort();
  const mean = err.reduce((a, b) => a + b, 0) / Math.max(err.length, 1);
  return { mean, p95: sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))] ?? NaN };
}
