/**
 * Expression rigs: a neutral triangle mesh with per-vertex colour plus named blendshapes (per-vertex deltas).
 * An expression code is the vector of blendshape weights, in the order of `blendshapeNames`:
 *
 *   posed[v] = positions[v] + sum_k weights[k] * deltas[k][v]
 *
 * Units are metres, axes are +x to the head's left (viewer's right), +y up, +z forward (out of the face),
 * matching glTF. Loaders (GLB, OBJ folder) and the built-in synthetic head all produce this type; `validateRig`
 * checks the invariants and names the file in the error.
 */
import { DataError } from "./errors.ts";

export interface Rig {
  /** Neutral vertex positions, [V, 3] float32 row-major. */
  positions: Float32Array;
  /** Triangles, [F, 3] uint32 vertex indices, counter-clockwise seen from outside. */
  indices: Uint32Array;
  /** Per-vertex albedo in [0, 1] (sRGB-encoded), [V, 3] float32. */
  colors: Float32Array;
  /** Blendshape names (ARKit names for the synthetic head), length K. */
  blendshapeNames: string[];
  /** Per-blendshape vertex deltas, K arrays of [V, 3] float32. */
  deltas: Float32Array[];
  /**
   * Indices of vertices in the mouth region (lips, teeth, tongue, mouth cavity), used for the mouth-region
   * metrics. Empty when the rig does not say.
   */
  mouthVertices: Uint32Array;
}

/** Number of vertices of a rig. */
export function vertexCount(rig: Rig): number {
  return rig.positions.length / 3;
}

/**
 * Checks the rig's invariants: array lengths are multiples of 3, indices in range, every blendshape has the
 * neutral's vertex count, names are unique and non-empty, all values finite. Throws one `DataError` naming
 * `file` and the first problem found.
 */
export function validateRig(rig: Rig, file: string): void {
  const p = rig.positions;
  if (p.length === 0 || p.length % 3 !== 0) {
    throw new DataError(file, `mesh positions have ${p.length} values, not a positive multiple of 3`);
  }
  const V = p.length / 3;
  if (!allFinite(p)) throw new DataError(file, "mesh positions contain non-finite values");
  if (rig.indices.length === 0 || rig.indices.length % 3 !== 0) {
    throw new DataError(
      file,
      `mesh has ${rig.indices.length} triangle indices, not a positive multiple of 3`,
    );
  }
  for (let i = 0; i < rig.indices.length; i++) {
    if (rig.indices[i] >= V) {
      throw new DataError(
        file,
        `triangle ${Math.floor(i / 3)} uses vertex index ${rig.indices[i]}, out of range for ${V} vertices`,
      );
    }
  }
  if (rig.colors.length !== V * 3) {
    throw new DataError(file, `vertex colours have ${rig.colors.length / 3} entries for ${V} vertices`);
  }
  if (rig.deltas.length !== rig.blendshapeNames.length) {
    throw new DataError(
      file,
      `${rig.blendshapeNames.length} blendshape names for ${rig.deltas.length} blendshapes`,
    );
  }
  const seen = new Set<string>();
  rig.deltas.forEach((d, k) => {
    const name = rig.blendshapeNames[k];
    if (!name) throw new DataError(file, `blendshape ${k} has no name`);
    if (seen.has(name)) throw new DataError(file, `blendshape name '${name}' appears twice`);
    seen.add(name);
    if (d.length !== V * 3) {
      throw new DataError(
        file,
        `blendshape '${name}' has ${
          d.length / 3
        } vertices but the neutral mesh has ${V} (vertex count mismatch)`,
      );
    }
    if (!allFinite(d)) throw new DataError(file, `blendshape '${name}' contains non-finite deltas`);
  });
  for (const m of rig.mouthVertices) {
    if (m >= V) throw new DataError(file, `mouth vertex index ${m} is out of range for ${V} vertices`);
  }
}

/** Posed vertex positions for blendshape `weights` (missing trailing weights count as 0), [V, 3]. */
export function posedPositions(
  rig: Pick<Rig, "positions" | "deltas">,
  weights: ArrayLike<number>,
  out?: Float32Array,
): Float32Array {
  const res = out ?? new Float32Array(rig.positions.length);
  res.set(rig.positions);
  const K = Math.min(weights.length, rig.deltas.length);
  for (let k = 0; k < K; k++) {
    const w = weights[k];
    if (w === 0) continue;
    const d = rig.deltas[k];
    for (let i = 0; i < res.length; i++) res[i] += w * d[i];
  }
  return res;
}

/** Area-weighted smooth vertex normals of a triangle mesh, [V, 3] (unit length; zero for unused vertices). */
export function vertexNormals(
  positions: Float32Array,
  indices: Uint32Array,
  out?: Float32Array,
): Float32Array {
  const n = out ?? new Float32Array(positions.length);
  n.fill(0);
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t] * 3, b = indices[t + 1] * 3, c = indices[t + 2] * 3;
    const ux = positions[b] - positions[a], uy = positions[b + 1] - positions[a + 1];
    const uz = positions[b + 2] - positions[a + 2];
    const vx = positions[c] - positions[a], vy = positions[c + 1] - positions[a + 1];
    const vz = positions[c + 2] - positions[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const i of [a, b, c]) {
      n[i] += nx;
      n[i + 1] += ny;
      n[i + 2] += nz;
    }
  }
  for (let i = 0; i < n.length; i += 3) {
    const l = Math.hypot(n[i], n[i + 1], n[i + 2]);
    if (l > 0) {
      n[i] /= l;
      n[i + 1] /= l;
      n[i + 2] /= l;
    }
  }
  return n;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
