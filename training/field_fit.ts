/**
 * Where the deformation fields must be right: the fit of B and F measured at the rig's own vertices that move,
 * per face region, against the zero field.
 *
 * Moving vertices: those displaced by more than `MOVING_VERTEX_MM` (1 mm; rig units are metres) from the neutral
 * under at least one training code. For each held-out code z and moving vertex v, with c_v the vertex at the
 * canonical expression and p_v(z) the rig's posed vertex:
 *   F: error |c_v + F(c_v, 0, z) - p_v(z)|        B: error |p_v(z) + B(p_v(z), z) - c_v|
 * Reported as mean error over (vertex, code) pairs in millimetres, and as a ratio to the zero field's mean
 * error over the same pairs (the field that does nothing: |p_v(z) - c_v|). With a canonical expression other
 * than the neutral (an open mouth, trainer_config.ts `canonicalJaw`) the zero field of the canonical space moves
 * nothing from there; `neutralRatio` divides by the displacement from the neutral instead, which does not depend
 * on that choice.
 *
 * Still vertices near motion: those the training codes move by at most MOVING_VERTEX_MM but within
 * STILL_RADIUS_M (1 cm) of a moving vertex. There the rig moves (almost) nothing, so the zero field is (almost)
 * right and a smooth field that carries the neighbours' motion over is wrong (the built-in head's eyeball, in
 * front of a lid that moves inside it): reported as the mean and largest error in millimetres.
 *
 * Regions: "mouth" is the rig's mouth region (region_metrics.ts `mouthRegion`: the vertices it names, or those
 * moved most by jaw / mouth / lip blendshapes); "eyes" the remaining vertices moved most by a blendshape named
 * like eye / blink / squint / lid; "rest" the others.
 */
import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import { posedPositions, type Rig } from "../data/rig.ts";
import { dominantShape, isEyeShape, mouthRegion } from "./region_metrics.ts";
import type { RigMesh } from "./rig_sampling.ts";
import { PointGrid } from "./point_grid.ts";

/** A rig mesh, with the names and mouth vertices of a full `Rig` when known. */
export type FitRig = RigMesh & { blendshapeNames?: string[]; mouthVertices?: Uint32Array };

function fullRig(m: FitRig): Rig {
  return {
    ...m,
    blendshapeNames: m.blendshapeNames ?? m.deltas.map((_, k) => `shape${k}`),
    mouthVertices: m.mouthVertices ?? new Uint32Array(),
  };
}

export const MOVING_VERTEX_MM = 1;
/** Radius around the moving vertices within which still vertices are measured and sampled (metres). */
export const STILL_RADIUS_M = 0.01;

export interface RegionFit {
  /** Moving vertices in the region. */
  vertices: number;
  /** Mean error over (vertex, held-out code), millimetres. */
  errorMm: number;
  /** Mean error of the canonical space's zero field, millimetres. */
  zeroMm: number;
  /** errorMm / zeroMm. */
  ratio: number;
  /** errorMm / mean displacement from the neutral. */
  neutralRatio: number;
}

/** The error at the still vertices near motion (module comment). */
export interface StillFit {
  vertices: number;
  /** Mean and largest error over (vertex, held-out code), millimetres. */
  errorMm: number;
  maxMm: number;
}

export interface FieldFit {
  all: RegionFit;
  mouth: RegionFit;
  eyes: RegionFit;
  rest: RegionFit;
  /** Held-out codes measured. */
  codes: number;
  /** Still vertices near motion (absent in reports written before it). */
  still?: StillFit;
}

/**
 * Moving vertices of the rig under `codes` [T, D] and the region of each, and the still vertices within
 * `STILL_RADIUS_M` of a moving one.
 */
export function movingVertices(
  mesh: FitRig,
  codes: Float32Array,
): { index: Uint32Array; region: Uint8Array; still: Uint32Array } {
  const rig = fullRig(mesh);
  const V = rig.positions.length / 3, D = rig.deltas.length, T = codes.length / D;
  const P0 = rig.positions, mx = new Float64Array(V);
  for (let t = 0; t < T; t++) {
    const P = posedPositions(rig, codes.subarray(t * D, (t + 1) * D));
    for (let v = 0; v < V; v++) {
      const d = Math.hypot(P[3 * v] - P0[3 * v], P[3 * v + 1] - P0[3 * v + 1], P[3 * v + 2] - P0[3 * v + 2]);
      if (d > mx[v]) mx[v] = d;
    }
  }
  const mouth = new Set(mouthRegion(rig).vertices);
  const index: number[] = [], region: number[] = [];
  for (let v = 0; v < V; v++) {
    if (!(mx[v] > MOVING_VERTEX_MM / 1000)) continue;
    index.push(v);
    if (mouth.has(v)) region.push(0);
    else region.push(isEyeShape(rig.blendshapeNames[dominantShape(rig, v).shape] ?? "") ? 1 : 2);
  }
  const grid = new PointGrid(P0, index, STILL_RADIUS_M), still: number[] = [];
  for (let v = 0; v < V; v++) {
    if (!(mx[v] > MOVING_VERTEX_MM / 1000) && grid.near(P0[3 * v], P0[3 * v + 1], P0[3 * v + 2])) {
      still.push(v);
    }
  }
  return { index: Uint32Array.from(index), region: Uint8Array.from(region), still: Uint32Array.from(still) };
}

/**
 * Evaluates a field at the moving vertices for each held-out code and summarizes its errors (module comment).
 * `offsets(points, z)` returns the field's world offsets [M, 3] at world points [M, 3] for code z; `direction`
 * says which field it is ("forward": F at canonical vertices, "backward": B at posed vertices).
 */
export async function measureFieldFit(
  mesh: FitRig,
  trainCodes: Float32Array,
  heldOut: Float32Array,
  canonicalCode: Float32Array | null,
  direction: "forward" | "backward",
  offsets: (points: Float32Array, z: Float32Array) => Promise<Float32Array>,
): Promise<FieldFit> {
  const rig = fullRig(mesh);
  const D = rig.deltas.length, H = heldOut.length / D;
  const { index, region, still } = movingVertices(rig, trainCodes);
  const M = index.length;
  const C = canonicalCode ? posedPositions(rig, canonicalCode) : rig.positions, P0 = rig.positions;
  const acc = Array.from({ length: 4 }, () => ({ n: 0, e: 0, z: 0, zn: 0 }));
  const stillAcc = { n: 0, e: 0, max: 0 };
  for (let h = 0; h < H; h++) {
    const z = heldOut.slice(h * D, (h + 1) * D);
    const P = posedPositions(rig, z);
    const ends: [Float32Array, Float32Array] = direction === "forward" ? [C, P] : [P, C];
    if (still.length) {
      for (const e of (await errorsAt(still, ends, z, offsets)).error) {
        stillAcc.n++;
        stillAcc.e += e;
        stillAcc.max = Math.max(stillAcc.max, e);
      }
    }
    const { error, zero } = await errorsAt(index, ends, z, offsets);
    for (let i = 0; i < M; i++) {
      const v = 3 * index[i];
      const zn = Math.hypot(P[v] - P0[v], P[v + 1] - P0[v + 1], P[v + 2] - P0[v + 2]);
      for (const a of [acc[0], acc[1 + region[i]]]) {
        a.n++;
        a.e += error[i];
        a.z += zero[i];
        a.zn += zn;
      }
    }
  }
  const fit = (a: { n: number; e: number; z: number; zn: number }, vertices: number): RegionFit => ({
    vertices,
    errorMm: a.n ? (1000 * a.e) / a.n : NaN,
    zeroMm: a.n ? (1000 * a.z) / a.n : NaN,
    ratio: a.z > 0 ? a.e / a.z : NaN,
    neutralRatio: a.zn > 0 ? a.e / a.zn : NaN,
  });
  const count = (r: number) => region.reduce((s, x) => s + (x === r ? 1 : 0), 0);
  return {
    all: fit(acc[0], M),
    mouth: fit(acc[1], count(0)),
    eyes: fit(acc[2], count(1)),
    rest: fit(acc[3], count(2)),
    codes: H,
    still: {
      vertices: still.length,
      errorMm: stillAcc.n ? (1000 * stillAcc.e) / stillAcc.n : NaN,
      maxMm: 1000 * stillAcc.max,
    },
  };
}

/** One line of a fit, e.g. "moving 7602 v: 0.41 mm = 9.8% of zero (mouth 12.1%, eyes 8.0%, rest 9.0%)". */
export function formatFieldFit(f: FieldFit): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return `${f.all.vertices} moving vertices: ${f.all.errorMm.toFixed(2)} mm = ${
    pct(f.all.ratio)
  } of the zero ` +
    `field's ${f.all.zeroMm.toFixed(2)} mm (mouth ${pct(f.mouth.ratio)}, eyes ${pct(f.eyes.ratio)}, rest ${
      pct(f.rest.ratio)
    })${
      f.still?.vertices
        ? `; ${f.still.vertices} still vertices within 1 cm: ${f.still.errorMm.toFixed(2)} mm (max ${
          f.still.maxMm.toFixed(2)
        })`
        : ""
    }`;
}

/**
 * A field's error at rig vertices `index` for code z: the field moves `from` (positions [V, 3]) by
 * `offsets(points, z)` and should land on `to`. Per vertex: |from + offset - to| (`error`) and |from - to|
 * (`zero`, the zero field's error), in rig units.
 */
export async function errorsAt(
  index: ArrayLike<number>,
  [from, to]: [Float32Array, Float32Array],
  z: Float32Array,
  offsets: (points: Float32Array, z: Float32Array) => Promise<Float32Array>,
): Promise<{ error: Float64Array; zero: Float64Array }> {
  const M = index.length, pts = new Float32Array(3 * M);
  for (let i = 0; i < M; i++) pts.set(from.subarray(3 * index[i], 3 * index[i] + 3), 3 * i);
  const off = await offsets(pts, z);
  const error = new Float64Array(M), zero = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const v = 3 * index[i];
    let e = 0, zf = 0;
    for (let c = 0; c < 3; c++) {
      e += (pts[3 * i + c] + off[3 * i + c] - to[v + c]) ** 2;
      zf += (from[v + c] - to[v + c]) ** 2;
    }
    error[i] = Math.sqrt(e);
    zero[i] = Math.sqrt(zf);
  }
  return { error, zero };
}

/** Runs `record(points, out)` on world points [M, 3] and reads the offsets [M, 3] back (for `measureFieldFit`). */
export async function fieldOffsets(
  gpu: Gpu,
  points: Float32Array,
  record: (points: Tensor, out: Tensor) => void,
): Promise<Float32Array> {
  const n = points.length / 3;
  const x = Tensor.from(gpu, points, [n, 3], "fit.points"), out = Tensor.empty(gpu, [n, 3], "f32", "fit.out");
  record(x, out);
  const v = await out.read() as Float32Array;
  x.destroy();
  out.destroy();
  return v;
}
