/**
 * The fit of B or F per blendshape: for each shape k, the code that toggles it from the canonical expression
 * (z = z0 with z_k = 1, or 0 where z0_k >= 0.5), evaluated at the rig vertices that change moves by more than
 * `MOVING_VERTEX_MM`, as a ratio to the zero field there. The held-out mean of field_fit.ts weighs shapes by
 * how far they move, so a field that learned the jaw (centimetres) and nothing else still scores well; this
 * says which shapes it learned. Same conventions as `measureFieldFit` (forward: F at canonical vertices,
 * backward: B at posed vertices; rig units are metres).
 */
import { posedPositions } from "../data/rig.ts";
import { errorsAt, type FitRig, MOVING_VERTEX_MM } from "./field_fit.ts";

export interface ShapeFit {
  name: string;
  /** Vertices the shape's toggle moves by more than 1 mm. */
  vertices: number;
  /** Mean displacement there (the zero field's error), and the field's mean error, millimetres. */
  zeroMm: number;
  errorMm: number;
  /** errorMm / zeroMm (NaN for a shape that moves nothing). */
  ratio: number;
}

/** Per-shape fits of a field (see the module comment); `offsets(points, z)` as in `measureFieldFit`. */
export async function measureShapeFits(
  rig: FitRig,
  canonicalCode: Float32Array | null,
  direction: "forward" | "backward",
  offsets: (points: Float32Array, z: Float32Array) => Promise<Float32Array>,
): Promise<ShapeFit[]> {
  const D = rig.deltas.length, V = rig.positions.length / 3;
  const z0 = canonicalCode ?? new Float32Array(D);
  const C = posedPositions(rig, z0);
  const out: ShapeFit[] = [];
  for (let k = 0; k < D; k++) {
    const z = Float32Array.from(z0);
    z[k] = z0[k] >= 0.5 ? 0 : 1;
    const P = posedPositions(rig, z);
    const index: number[] = [];
    for (let v = 0; v < V; v++) {
      const d = Math.hypot(P[3 * v] - C[3 * v], P[3 * v + 1] - C[3 * v + 1], P[3 * v + 2] - C[3 * v + 2]);
      if (d > MOVING_VERTEX_MM / 1000) index.push(v);
    }
    const name = rig.blendshapeNames?.[k] ?? `shape${k}`;
    if (index.length === 0) {
      out.push({ name, vertices: 0, zeroMm: 0, errorMm: 0, ratio: NaN });
      continue;
    }
    const { error, zero } = await errorsAt(index, direction === "forward" ? [C, P] : [P, C], z, offsets);
    const e = error.reduce((a, b) => a + b, 0), zf = zero.reduce((a, b) => a + b, 0), n = index.length;
    out.push({ name, vertices: n, zeroMm: (1000 * zf) / n, errorMm: (1000 * e) / n, ratio: e / zf });
  }
  return out;
}

/** One line, e.g. "per shape: jawOpen 10%, eyeBlink_L 97%, ..." (shapes that move nothing left out). */
export function formatShapeFits(fits: ShapeFit[]): string {
  return "per shape (toggled alone): " +
    fits.filter((f) => f.vertices > 0).map((f) => `${f.name} ${(100 * f.ratio).toFixed(0)}%`).join(", ");
}
