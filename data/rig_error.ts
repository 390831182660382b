/**
 * How far a rig handed to the trainer is from the geometry the images were rendered from: per timestep, the
 * rig posed with the codes it is given versus the rendered head posed with the true codes, at the rendered
 * vertices the rig keeps (`vertexMap`). Reported as mean and 95th percentile of the vertex distance, in mm and
 * in % of the rendered head's bounding-box diagonal, over
 *
 * - `moving`: the (vertex, timestep) samples where the rendered head moves more than 1 mm from its neutral,
 * - `mouth`: the rig's mouth vertices at every timestep,
 * - `all`: every kept vertex at every timestep,
 *
 * each beside the zero field for scale (the distance between the neutral and the posed rendered head on the
 * same samples: what a rig that does not move at all would get).
 *
 * With `surfacePoints` also `surface`: the distance from those rendered vertices (posed, true code) to the
 * rig's posed surface (closest point on its triangles), which also counts what decimation cut away, over the
 * same three sample sets (`mouth` = `surfaceMouth`); its zero field is the distance to the rig's neutral
 * surface.
 */
import { posedPositions, type Rig } from "./rig.ts";
import { SurfaceDistance } from "./surface_distance.ts";

export interface DistanceStats {
  mean_mm: number;
  p95_mm: number;
  mean_pct_diagonal: number;
  p95_pct_diagonal: number;
}

export interface RegionError {
  /** (vertex, timestep) samples in the region. */
  samples: number;
  rig: DistanceStats;
  zero_field: DistanceStats;
}

export interface RigErrorReport {
  /** Timesteps measured, [start, end). */
  timesteps: [number, number];
  head_diagonal_mm: number;
  moving: RegionError;
  mouth: RegionError;
  all: RegionError;
  surface?: { moving: RegionError; mouth: RegionError; all: RegionError };
}

export interface RigErrorInputs {
  /** Neutral positions of the rendered head [Vfull, 3]. */
  truthNeutral: Float32Array;
  /** Posed positions of the rendered head at timestep t (true code). */
  truthAt: (t: number) => Float32Array;
  /** The rig the trainer is given, its vertex map into the rendered head, and its codes [T, K]. */
  rig: Rig;
  vertexMap: Uint32Array;
  codes: Float32Array;
  timesteps: [number, number];
  /** Rendered vertices (indices into the rendered head) measured against the rig's surface, and the mouth's. */
  surfacePoints?: Uint32Array;
  surfaceMouth?: Uint32Array;
}

const MOVING_MM = 1;

/** Measures the rig against the rendered geometry (see the module comment). */
export function rigError(inp: RigErrorInputs): RigErrorReport {
  const K = inp.rig.deltas.length, n = inp.vertexMap.length;
  const diag = bboxDiagonal(inp.truthNeutral) * 1000;
  const isMouth = new Uint8Array(n);
  for (const m of inp.rig.mouthVertices) isMouth[m] = 1;
  const acc = { moving: new Acc(), mouth: new Acc(), all: new Acc() };
  const posed = new Float32Array(n * 3);
  const surf = { moving: new Acc(), mouth: new Acc(), all: new Acc() };
  const points = inp.surfacePoints ?? new Uint32Array();
  const surfMouth = new Uint8Array(inp.truthNeutral.length / 3);
  for (const v of inp.surfaceMouth ?? []) surfMouth[v] = 1;
  const neutral = points.length ? new SurfaceDistance(inp.rig.positions, inp.rig.indices) : null;
  for (let t = inp.timesteps[0]; t < inp.timesteps[1]; t++) {
    const truth = inp.truthAt(t);
    posedPositions(inp.rig, inp.codes.subarray(t * K, (t + 1) * K), posed);
    for (let i = 0; i < n; i++) {
      const v = inp.vertexMap[i];
      const d = 1000 * dist(posed, i, truth, v), z = 1000 * dist(inp.truthNeutral, v, truth, v);
      acc.all.add(d, z);
      if (z > MOVING_MM) acc.moving.add(d, z);
      if (isMouth[i]) acc.mouth.add(d, z);
    }
    if (!neutral) continue;
    const surface = new SurfaceDistance(posed, inp.rig.indices);
    for (const v of points) {
      const [x, y, z] = [truth[v * 3], truth[v * 3 + 1], truth[v * 3 + 2]];
      const d = 1000 * surface.distance(x, y, z), zero = 1000 * neutral.distance(x, y, z);
      surf.all.add(d, zero);
      if (1000 * dist(inp.truthNeutral, v, truth, v) > MOVING_MM) surf.moving.add(d, zero);
      if (surfMouth[v]) surf.mouth.add(d, zero);
    }
  }
  const report = (a: typeof acc) => ({
    moving: a.moving.report(diag),
    mouth: a.mouth.report(diag),
    all: a.all.report(diag),
  });
  return {
    timesteps: [...inp.timesteps],
    head_diagonal_mm: round(diag),
    ...report(acc),
    ...(neutral ? { surface: report(surf) } : {}),
  };
}

class Acc {
  rig: number[] = [];
  zero: number[] = [];
  add(d: number, z: number): void {
    this.rig.push(d);
    this.zero.push(z);
  }
  report(diag: number): RegionError {
    return { samples: this.rig.length, rig: stats(this.rig, diag), zero_field: stats(this.zero, diag) };
  }
}

function stats(xs: number[], diag: number): DistanceStats {
  const sorted = Float64Array.from(xs).sort();
  const mean = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
  const p95 = xs.length ? sorted[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))] : 0;
  return {
    mean_mm: round(mean),
    p95_mm: round(p95),
    mean_pct_diagonal: round((100 * mean) / diag),
    p95_pct_diagonal: round((100 * p95) / diag),
  };
}

function dist(a: Float32Array, i: number, b: Float32Array, j: number): number {
  return Math.hypot(a[i * 3] - b[j * 3], a[i * 3 + 1] - b[j * 3 + 1], a[i * 3 + 2] - b[j * 3 + 2]);
}

function bboxDiagonal(p: Float32Array): number {
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < p.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      lo[k] = Math.min(lo[k], p[i + k]);
      hi[k] = Math.max(hi[k], p[i + k]);
    }
  }
  return Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
