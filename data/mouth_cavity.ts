/**
 * A mouth cavity for rigs that have none. A tracked face mesh (a FLAME fit, the built-in tracked-style rig) is
 * an outer surface with an open lip slit: a boundary loop around the mouth and nothing behind it. Gaussians
 * initialized on such a rig start nowhere near the mouth interior, and density control, which grows from
 * existing Gaussians, reaches it late or never; the open mouth then renders as the background seen through the
 * head. `addMouthCavity` closes the slit with a dark sack that reaches into the head:
 *
 * - the lip loop is the boundary loop (edges used by one triangle, followed in triangle order) with the largest
 *   share of `mouthVertices` (at least half; the longest of equal shares); without one, or with 8 or more rig vertices already inside the
 *   region the sack would fill (a rig with teeth, tongue or a cavity), the rig is returned unchanged (`reason`);
 * - the sack has `rings` rings of the loop's vertex count between the loop and an apex placed `depth` times the
 *   loop's width behind the loop's centroid, along the loop's normal turned towards the inside of the head
 *   (towards the mesh's bounding-box centre). Ring j (s = j / (rings + 1)) lies on the line from each loop vertex
 *   to the apex, pushed out from the loop's centroid by `bulge * sin(pi s)` so the sack is round, not a cone;
 * - every new vertex moves with the expression: its delta is the same blend of the loop vertex's delta and the
 *   apex's delta (the mean of the loop's deltas), so opening the jaw opens the sack with the lips;
 * - new vertices are dark (`color`, sRGB) and are added to `mouthVertices`.
 *
 * Deterministic for its inputs; the rig's own vertices and triangles are kept in order (new vertices appended).
 */
import type { Rig } from "./rig.ts";

export interface MouthCavityOptions {
  /** Depth of the apex behind the loop's centroid, in widths of the loop (default 0.6). */
  depth?: number;
  /** Intermediate rings between the loop and the apex (default 3). */
  rings?: number;
  /** Outward push of the middle rings, as a fraction of each loop vertex's distance from the centroid (default 0.35). */
  bulge?: number;
  /** sRGB albedo of the cavity (default dark red-brown). */
  color?: [number, number, number];
}

/** What the cavity needs of a rig (a full `Rig`, or the trainer's mesh with optional names). */
export type CavityRig = Pick<Rig, "positions" | "indices" | "colors" | "deltas"> & {
  mouthVertices?: Uint32Array;
};

export interface MouthCavity<R extends CavityRig = Rig> {
  rig: R;
  /** Vertices added (0 when the rig is unchanged). */
  added: number;
  /** Vertices of the lip loop that was closed. */
  loopVertices: number;
  /** Why nothing was added, when nothing was. */
  reason?: string;
}

/** Boundary loops of a triangle mesh, each as vertex indices in the direction of its triangles' edges. */
export function boundaryLoops(indices: Uint32Array): number[][] {
  const count = new Map<string, number>();
  const key = (a: number, b: number) => a < b ? `${a},${b}` : `${b},${a}`;
  for (let f = 0; f < indices.length; f += 3) {
    for (let e = 0; e < 3; e++) {
      const k = key(indices[f + e], indices[f + (e + 1) % 3]);
      count.set(k, (count.get(k) ?? 0) + 1);
    }
  }
  const next = new Map<number, number>();
  for (let f = 0; f < indices.length; f += 3) {
    for (let e = 0; e < 3; e++) {
      const a = indices[f + e], b = indices[f + (e + 1) % 3];
      if (count.get(key(a, b)) === 1) next.set(a, b);
    }
  }
  const loops: number[][] = [], seen = new Set<number>();
  for (const start of [...next.keys()].sort((a, b) => a - b)) {
    if (seen.has(start)) continue;
    const loop: number[] = [];
    let v: number | undefined = start;
    while (v !== undefined && !seen.has(v)) {
      seen.add(v);
      loop.push(v);
      v = next.get(v);
    }
    if (v === start && loop.length >= 3) loops.push(loop);
  }
  return loops;
}

/** Adds a mouth cavity behind the rig's lip loop (see the module comment). */
export function addMouthCavity<R extends CavityRig>(rig: R, opts: MouthCavityOptions = {}): MouthCavity<R> {
  const depth = opts.depth ?? 0.6, rings = opts.rings ?? 3, bulge = opts.bulge ?? 0.35;
  const color = opts.color ?? [0.32, 0.1, 0.1];
  const rigMouth = rig.mouthVertices ?? new Uint32Array(), mouth = new Set(rigMouth);
  if (mouth.size === 0) return { rig, added: 0, loopVertices: 0, reason: "the rig names no mouth vertices" };
  let loop: number[] | null = null, best = 0.5;
  for (const l of boundaryLoops(rig.indices)) {
    const share = l.filter((v) => mouth.has(v)).length / l.length;
    if (
      share > best || (share === best && loop !== null && l.length > loop.length) || (share === best && !loop)
    ) {
      [loop, best] = [l, share];
    }
  }
  if (!loop) return { rig, added: 0, loopVertices: 0, reason: "no open boundary loop around the mouth" };
  const P = rig.positions, V = P.length / 3, L = loop.length;
  const c = [0, 1, 2].map((d) => loop!.reduce((s, v) => s + P[3 * v + d], 0) / L);
  // Loop normal (Newell), turned towards the bounding-box centre; loop width = largest vertex distance.
  const n = [0, 0, 0];
  for (let i = 0; i < L; i++) {
    const a = 3 * loop[i], b = 3 * loop[(i + 1) % L];
    n[0] += (P[a + 1] - P[b + 1]) * (P[a + 2] + P[b + 2]);
    n[1] += (P[a + 2] - P[b + 2]) * (P[a] + P[b]);
    n[2] += (P[a] - P[b]) * (P[a + 1] + P[b + 1]);
  }
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let v = 0; v < V; v++) {
    for (let d = 0; d < 3; d++) {
      [lo[d], hi[d]] = [Math.min(lo[d], P[3 * v + d]), Math.max(hi[d], P[3 * v + d])];
    }
  }
  const inward = [0, 1, 2].map((d) => (lo[d] + hi[d]) / 2 - c[d]);
  let len = Math.hypot(n[0], n[1], n[2]);
  if (len < 1e-12) [n[0], n[1], n[2], len] = [inward[0], inward[1], inward[2], Math.hypot(...inward)];
  const sign = n[0] * inward[0] + n[1] * inward[1] + n[2] * inward[2] < 0 ? -1 : 1;
  const dir = n.map((x) => sign * x / len);
  let width = 0;
  for (const a of loop) {
    for (const b of loop) {
      width = Math.max(
        width,
        Math.hypot(P[3 * a] - P[3 * b], P[3 * a + 1] - P[3 * b + 1], P[3 * a + 2] - P[3 * b + 2]),
      );
    }
  }
  // A rig with a mouth interior (teeth, tongue, a cavity of its own) has geometry where the sack would go.
  let behind = 0;
  const onLoop = new Set(loop);
  for (let v = 0; v < V; v++) {
    if (onLoop.has(v)) continue;
    const r = [0, 1, 2].map((d) => P[3 * v + d] - c[d]);
    const along = r[0] * dir[0] + r[1] * dir[1] + r[2] * dir[2];
    const side = Math.hypot(r[0] - along * dir[0], r[1] - along * dir[1], r[2] - along * dir[2]);
    if (along > 0.1 * width && along < depth * width && side < 0.3 * width) behind++;
  }
  if (behind >= 8) {
    return { rig, added: 0, loopVertices: L, reason: "the rig already has geometry behind the mouth" };
  }
  const apex = c.map((x, d) => x + dir[d] * depth * width);
  const added = rings * L + 1, V2 = V + added;
  const positions = new Float32Array(V2 * 3), colors = new Float32Array(V2 * 3);
  positions.set(P);
  colors.set(rig.colors);
  const deltas = rig.deltas.map((dk) => {
    const out = new Float32Array(V2 * 3);
    out.set(dk);
    return out;
  });
  const apexDelta = rig.deltas.map((dk) =>
    [0, 1, 2].map((d) => loop!.reduce((s, v) => s + dk[3 * v + d], 0) / L)
  );
  const put = (v: number, s: number, from: number, push: number) => {
    for (let d = 0; d < 3; d++) {
      const p = P[3 * from + d];
      positions[3 * v + d] = p + s * (apex[d] - p) + push * (p - c[d]);
      colors[3 * v + d] = color[d] * (1 - 0.5 * s);
      for (let k = 0; k < deltas.length; k++) {
        const q = rig.deltas[k][3 * from + d];
        deltas[k][3 * v + d] = q + s * (apexDelta[k][d] - q) + push * (q - apexDelta[k][d]);
      }
    }
  };
  for (let j = 1; j <= rings; j++) {
    const s = j / (rings + 1), push = bulge * Math.sin(Math.PI * s);
    for (let i = 0; i < L; i++) put(V + (j - 1) * L + i, s, loop[i], push);
  }
  const a = V2 - 1;
  for (let d = 0; d < 3; d++) {
    positions[3 * a + d] = apex[d];
    colors[3 * a + d] = color[d] * 0.5;
    for (let k = 0; k < deltas.length; k++) deltas[k][3 * a + d] = apexDelta[k][d];
  }
  // Triangles: the loop's edges run a -> b in the rig's triangles, so the new faces use b -> a: the sack is
  // oriented consistently with the surface it closes.
  const ring = (j: number, i: number) => j === 0 ? loop![i % L] : V + (j - 1) * L + (i % L);
  const faces: number[] = [];
  for (let j = 0; j < rings; j++) {
    for (let i = 0; i < L; i++) {
      const a0 = ring(j, i), b0 = ring(j, i + 1), a1 = ring(j + 1, i), b1 = ring(j + 1, i + 1);
      faces.push(b0, a0, a1, b0, a1, b1);
    }
  }
  for (let i = 0; i < L; i++) faces.push(ring(rings, i + 1), ring(rings, i), a);
  const indices = new Uint32Array(rig.indices.length + faces.length);
  indices.set(rig.indices);
  indices.set(faces, rig.indices.length);
  const mouthVertices = new Uint32Array(rigMouth.length + added);
  mouthVertices.set(rigMouth);
  for (let i = 0; i < added; i++) mouthVertices[rigMouth.length + i] = V + i;
  return {
    rig: { ...rig, positions, colors, deltas, indices, mouthVertices },
    added,
    loopVertices: L,
  };
}
