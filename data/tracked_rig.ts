/**
 * A tracked-style approximation of the synthetic head's rig, the way a FLAME fit approximates a real person:
 *
 * - outer surface only: the skin, the eyeballs and the ears are kept (FLAME has eyeballs); the teeth, the
 *   tongue and the mouth cavity are dropped (a tracked mesh has no mouth interior);
 * - decimated with meshoptimizer's simplifier to about `targetVertices` (default 5,000, FLAME has 5,023), with
 *   the mesh borders and the lip slit locked so the mouth stays open. The simplifier keeps a subset of the
 *   original vertices, so `vertexMap[i]` (approximate vertex i -> full vertex) is exact;
 * - each blendshape's deltas carried from the kept vertices, then smoothed over the decimated mesh graph by
 *   Taubin iterations (lambda 0.5, mu -0.53: a Laplacian step and an inflating step, so the deltas blur
 *   without shrinking), as a fitted model's expression basis is smoother than the real face.
 *
 * The mouth vertices of the approximation are its lip-region vertices (so the mouth-region metrics still find a
 * mouth). Deterministic for the inputs.
 */
import { MeshoptSimplifier } from "meshoptimizer";
import type { Rig } from "./rig.ts";
import type { SyntheticHeadModel, SyntheticPart } from "./synthetic_head.ts";

export interface TrackedRigOptions {
  /** Vertices of the decimated mesh, approximately (default 5000). */
  targetVertices?: number;
  /** Taubin smoothing iterations on the blendshape deltas (default 3; 0 keeps the deltas as they are). */
  smoothIterations?: number;
}

/** The parts a tracked mesh keeps, and those it lacks. */
export const TRACKED_PARTS: readonly SyntheticPart[] = ["skin", "eyes", "ears"];
export const DROPPED_PARTS: readonly SyntheticPart[] = ["teeth", "tongue", "cavity"];

export interface TrackedRig {
  rig: Rig;
  /** Approximate vertex i is full vertex `vertexMap[i]` (increasing). */
  vertexMap: Uint32Array;
  /** Vertices of the full rig, of its kept parts before decimation, and of each dropped part. */
  fullVertices: number;
  keptBeforeDecimation: number;
  dropped: Record<string, number>;
  smoothIterations: number;
}

export const TRACKED_DEFAULT_VERTICES = 5000;
export const TRACKED_DEFAULT_SMOOTHING = 3;

/** Builds the tracked-style approximation of the synthetic head's rig (see the module comment). */
export async function trackedRig(
  model: SyntheticHeadModel,
  opts: TrackedRigOptions = {},
): Promise<TrackedRig> {
  const target = opts.targetVertices ?? TRACKED_DEFAULT_VERTICES;
  const iterations = opts.smoothIterations ?? TRACKED_DEFAULT_SMOOTHING;
  if (!(target >= 100)) throw new Error(`tracked rig: target vertex count ${target} is below 100`);
  const full = model.rig, V = full.positions.length / 3;
  const keep = new Uint8Array(V);
  let kept = 0;
  for (const p of TRACKED_PARTS) {
    const [a, b] = model.parts[p];
    keep.fill(1, a, b);
    kept += b - a;
  }
  const tris: number[] = [];
  for (let t = 0; t < full.indices.length; t += 3) {
    const a = full.indices[t], b = full.indices[t + 1], c = full.indices[t + 2];
    if (keep[a] && keep[b] && keep[c]) tris.push(a, b, c);
  }
  const indices = Uint32Array.from(tris);
  const lock = new Uint8Array(V);
  for (const v of model.slitVertices) lock[v] = 1;

  await MeshoptSimplifier.ready;
  let simplified: Uint32Array = indices, used = kept;
  if (target < kept) {
    let count = Math.min(indices.length, 3 * Math.round(2 * target));
    for (let attempt = 0; attempt < 6; attempt++) {
      [simplified] = MeshoptSimplifier.simplifyWithAttributes(
        indices,
        full.positions,
        3,
        new Float32Array(0),
        0,
        [],
        lock,
        count,
        1,
        ["LockBorder"],
      );
      used = new Set(simplified).size;
      if (Math.abs(used - target) <= 0.02 * target) break;
      count = Math.min(indices.length, 3 * Math.max(1, Math.round((count / 3) * (target / used))));
    }
  } else simplified = indices;

  const vertexMap = Uint32Array.from(new Set(simplified)).sort();
  const index = new Int32Array(V).fill(-1);
  vertexMap.forEach((v, i) => (index[v] = i));
  const n = vertexMap.length;
  const pick = (src: Float32Array) => {
    const out = new Float32Array(n * 3);
    vertexMap.forEach((v, i) => out.set(src.subarray(v * 3, v * 3 + 3), i * 3));
    return out;
  };
  const newIndices = simplified.map((v) => index[v]);
  const graph = adjacency(newIndices, n);
  const lips = new Set(model.lipVertices);
  const mouth = Array.from(vertexMap).flatMap((v, i) => (lips.has(v) ? [i] : []));
  const dropped: Record<string, number> = {};
  for (const p of DROPPED_PARTS) dropped[p] = model.parts[p][1] - model.parts[p][0];
  return {
    rig: {
      positions: pick(full.positions),
      indices: newIndices,
      colors: pick(full.colors),
      blendshapeNames: [...full.blendshapeNames],
      deltas: full.deltas.map((d) => taubinSmooth(pick(d), graph, iterations)),
      mouthVertices: Uint32Array.from(mouth),
    },
    vertexMap,
    fullVertices: V,
    keptBeforeDecimation: kept,
    dropped,
    smoothIterations: iterations,
  };
}

/** Vertex neighbours of a triangle mesh as CSR (offsets [n + 1], neighbours), each edge once per side. */
export function adjacency(
  indices: Uint32Array,
  n: number,
): { offsets: Uint32Array; neighbours: Uint32Array } {
  const sets = Array.from({ length: n }, () => new Set<number>());
  for (let t = 0; t < indices.length; t += 3) {
    for (let k = 0; k < 3; k++) {
      const a = indices[t + k], b = indices[t + ((k + 1) % 3)];
      if (a === b) continue;
      sets[a].add(b);
      sets[b].add(a);
    }
  }
  const offsets = new Uint32Array(n + 1);
  sets.forEach((s, i) => (offsets[i + 1] = offsets[i] + s.size));
  const neighbours = new Uint32Array(offsets[n]);
  sets.forEach((s, i) => neighbours.set([...s].sort((a, b) => a - b), offsets[i]));
  return { offsets, neighbours };
}

/**
 * Taubin smoothing of a per-vertex [n, 3] field over a graph: `iterations` pairs of uniform Laplacian steps
 * with factors 0.5 and -0.53. Returns a new array.
 */
export function taubinSmooth(
  field: Float32Array,
  graph: { offsets: Uint32Array; neighbours: Uint32Array },
  iterations: number,
): Float32Array {
  let cur = field.slice(), next = new Float32Array(field.length);
  const { offsets, neighbours } = graph, n = offsets.length - 1;
  for (let it = 0; it < 2 * iterations; it++) {
    const f = it % 2 === 0 ? 0.5 : -0.53;
    for (let v = 0; v < n; v++) {
      const a = offsets[v], b = offsets[v + 1];
      for (let k = 0; k < 3; k++) {
        const x = cur[v * 3 + k];
        if (b === a) {
          next[v * 3 + k] = x;
          continue;
        }
        let s = 0;
        for (let j = a; j < b; j++) s += cur[neighbours[j] * 3 + k];
        next[v * 3 + k] = x + f * (s / (b - a) - x);
      }
    }
    [cur, next] = [next, cur];
  }
  return cur;
}

/**
 * Roughness of a per-vertex [n, 3] field over a graph: the mean norm of its uniform Laplacian
 * (value minus the mean of the neighbours), for tests and reports.
 */
export function fieldRoughness(
  field: Float32Array,
  graph: { offsets: Uint32Array; neighbours: Uint32Array },
): number {
  const { offsets, neighbours } = graph, n = offsets.length - 1;
  let sum = 0;
  for (let v = 0; v < n; v++) {
    const a = offsets[v], b = offsets[v + 1];
    if (b === a) continue;
    let r2 = 0;
    for (let k = 0; k < 3; k++) {
      let s = 0;
      for (let j = a; j < b; j++) s += field[neighbours[j] * 3 + k];
      r2 += (field[v * 3 + k] - s / (b - a)) ** 2;
    }
    sum += Math.sqrt(r2);
  }
  return sum / Math.max(n, 1);
}
