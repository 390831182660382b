/**
 * Region metrics for the ablation study (mouth and eyes): a per-frame mask from the rig's region vertices, posed
 * by the frame's expression code and projected with the frame's camera, and the PSNR over the masked pixels.
 *
 * Mouth vertices: `Rig.mouthVertices` (the synthetic head and rig.glb files written by this project name them:
 * lips, teeth, tongue, mouth cavity). A rig that names none falls back to the vertices moved most by its
 * blendshapes whose names contain "jaw", "mouth" or "lip" (displacement at full weight above a quarter of the
 * largest one); a rig without such blendshapes has no mouth region, and the metric is reported as absent.
 *
 * Eye vertices (`eyeRegion`): those outside the mouth region that a blendshape named like eye / blink / squint /
 * lid moves by more than 1 mm and moves more than any other blendshape does, split into the head's two sides.
 *
 * Mask: the convex hull of the projected vertices, dilated by `margin` pixels (pixel centres at +0.5); for the
 * eyes the union of one hull per side. A frame counts only when its camera sees the region's side of the head:
 * (camera - centroid) . (centroid - neutral bounding-box centre) > 0 for a group's centroid, and every vertex of
 * that group is in front of the camera (for the eyes: at least one side seen; an unseen side adds no pixels).
 */
import { projectCV } from "../data/camera.ts";
import type { Frame } from "../data/dataset.ts";
import { posedPositions, type Rig } from "../data/rig.ts";
import { psnrFromMse } from "./evaluate.ts";
import { meshBounds } from "./rig_sampling.ts";

/** Vertices of a face region (the mouth, the eyes) of a rig and where they came from. */
export interface FaceRegion {
  vertices: Uint32Array;
  source: "rig" | "blendshapes" | "none";
  /** Groups of `vertices` with one hull each (the mouth: one; the eyes: one per side). Default: one group. */
  groups?: Uint32Array[];
  /** How the vertices were chosen (for reports). */
  note: string;
}

const MOUTH_NAME = /jaw|mouth|lip/i;
const EYE_NAME = /eye|blink|squint|lid/i;
const EYE_MOTION = 1e-3;

/** Whether a blendshape's name says it moves the eyes or lids (eye / blink / squint / lid). */
export function isEyeShape(name: string): boolean {
  return EYE_NAME.test(name);
}

/** The blendshape that moves vertex `v` most (the first of equals) and its displacement there at full weight. */
export function dominantShape(rig: Pick<Rig, "deltas">, v: number): { shape: number; magnitude: number } {
  let magnitude = -1, shape = -1;
  rig.deltas.forEach((d, k) => {
    const m = Math.hypot(d[3 * v], d[3 * v + 1], d[3 * v + 2]);
    if (m > magnitude) [magnitude, shape] = [m, k];
  });
  return { shape, magnitude };
}

/** The rig's eye vertices, one group per side of the head (see the module comment). */
export function eyeRegion(rig: Rig): FaceRegion {
  const V = rig.positions.length / 3, mouth = new Set(mouthRegion(rig).vertices);
  const b = meshBounds(rig), cx = 0.5 * (b.min[0] + b.max[0]);
  const sides: number[][] = [[], []];
  for (let v = 0; v < V; v++) {
    if (mouth.has(v)) continue;
    const d = dominantShape(rig, v);
    if (d.magnitude > EYE_MOTION && isEyeShape(rig.blendshapeNames[d.shape])) {
      sides[rig.positions[3 * v] < cx ? 0 : 1].push(v);
    }
  }
  const groups = sides.filter((g) => g.length > 0).map((g) => Uint32Array.from(g));
  const vertices = Uint32Array.from(groups.flatMap((g) => Array.from(g)).sort((a, c) => a - c));
  if (vertices.length === 0) {
    return {
      vertices,
      source: "none",
      groups: [],
      note: "no blendshape named like eye / blink / lid moves the rig",
    };
  }
  return {
    vertices,
    source: "blendshapes",
    groups,
    note: `${vertices.length} eye vertices (${
      groups.map((g) => g.length).join(" + ")
    }) moved most by the eye / blink blendshapes`,
  };
}

/** The rig's mouth vertices (see the module comment for the fallback). */
export function mouthRegion(rig: Rig): FaceRegion {
  if (rig.mouthVertices.length > 0) {
    return {
      vertices: rig.mouthVertices,
      source: "rig",
      note: `${rig.mouthVertices.length} mouth vertices named by the rig`,
    };
  }
  const V = rig.positions.length / 3, mag = new Float32Array(V);
  const names = rig.blendshapeNames.filter((n) => MOUTH_NAME.test(n));
  rig.deltas.forEach((d, k) => {
    if (!MOUTH_NAME.test(rig.blendshapeNames[k])) return;
    for (let v = 0; v < V; v++) mag[v] = Math.max(mag[v], Math.hypot(d[3 * v], d[3 * v + 1], d[3 * v + 2]));
  });
  const max = mag.reduce((a, b) => Math.max(a, b), 0);
  if (!(max > 0)) {
    return {
      vertices: new Uint32Array(),
      source: "none",
      note: "the rig names no mouth vertices and has no jaw/mouth/lip blendshapes",
    };
  }
  const vertices = Uint32Array.from(Array.from(mag).flatMap((m, v) => (m > 0.25 * max ? [v] : [])));
  return {
    vertices,
    source: "blendshapes",
    note: `${vertices.length} vertices moved most by the blendshapes ${
      names.join(", ")
    } (the rig names no mouth vertices)`,
  };
}

/** Convex hull (counter-clockwise, Andrew's monotone chain) of 2-D points [n, 2]. */
export function convexHull(points: ArrayLike<number>): [number, number][] {
  const p: [number, number][] = [];
  for (let i = 0; i + 1 < points.length; i += 2) p.push([points[i], points[i + 1]]);
  p.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o: number[], a: number[], b: number[]) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [], upper: [number, number][] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

function distToSegment(x: number, y: number, a: number[], b: number[]): number {
  const dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
  const t = l2 > 0 ? Math.min(1, Math.max(0, ((x - a[0]) * dx + (y - a[1]) * dy) / l2)) : 0;
  return Math.hypot(x - a[0] - t * dx, y - a[1] - t * dy);
}

/** Rasterizes a convex polygon (counter-clockwise, y down is fine) dilated by `margin` px: u8 mask [H * W]. */
export function hullMask(
  hull: [number, number][],
  width: number,
  height: number,
  margin: number,
): Uint8Array {
  const mask = new Uint8Array(width * height);
  if (hull.length === 0) return mask;
  const xs = hull.map((p) => p[0]), ys = hull.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs) - margin - 1)),
    x1 = Math.min(width - 1, Math.ceil(Math.max(...xs) + margin));
  const y0 = Math.max(0, Math.floor(Math.min(...ys) - margin - 1)),
    y1 = Math.min(height - 1, Math.ceil(Math.max(...ys) + margin));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5, py = y + 0.5;
      let inside = hull.length >= 3, near = Infinity;
      for (let i = 0; i < hull.length; i++) {
        const a = hull[i], b = hull[(i + 1) % hull.length];
        if ((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]) < 0) inside = false;
        near = Math.min(near, distToSegment(px, py, a, b));
      }
      if (inside || near <= margin) mask[y * width + x] = 1;
    }
  }
  return mask;
}

/**
 * The mask of `region` in `frame` (u8 [H * W], 1 inside), posed by expression `code`: the union of its groups'
 * hulls; null when the frame's camera sees none of its groups (see the module comment) or the mask is empty.
 */
export function regionMask(
  rig: Rig,
  region: FaceRegion,
  frame: Frame,
  code: ArrayLike<number>,
  margin = 2,
): Uint8Array | null {
  if (region.vertices.length === 0) return null;
  const posed = posedPositions(rig, code);
  const b = meshBounds(rig), centre = [0, 1, 2].map((c) => 0.5 * (b.min[c] + b.max[c]));
  const cam = [3, 7, 11].map((i) => frame.camToWorldGL[i]);
  let mask: Uint8Array | null = null;
  for (const group of region.groups ?? [region.vertices]) {
    const n = group.length;
    if (n === 0) continue;
    const m = [0, 0, 0];
    for (const v of group) for (let c = 0; c < 3; c++) m[c] += posed[3 * v + c] / n;
    const facing = [0, 1, 2].reduce((s, c) => s + (cam[c] - m[c]) * (m[c] - centre[c]), 0);
    if (!(facing > 0)) continue;
    const uv = new Float64Array(2 * n);
    let front = true;
    for (let i = 0; i < n && front; i++) {
      const v = group[i];
      const [u, w, depth] = projectCV(frame.worldToCamCV, frame.intrinsics, posed.subarray(3 * v, 3 * v + 3));
      front = depth > 0;
      uv[2 * i] = u;
      uv[2 * i + 1] = w;
    }
    if (!front) continue;
    const hull = hullMask(convexHull(uv), frame.width, frame.height, margin);
    if (!mask) mask = hull;
    else for (let i = 0; i < mask.length; i++) mask[i] |= hull[i];
  }
  return mask && mask.some((x) => x > 0) ? mask : null;
}

/** PSNR over the masked pixels (all three channels) of `pred` (f32 0..1, [H, W, 3]) against u8 `target`. */
export function maskedPsnr(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number>,
): number {
  let se = 0, count = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    for (let c = 0; c < 3; c++) se += (pred[3 * p + c] - target[3 * p + c] / 255) ** 2;
    count += 3;
  }
  if (count === 0) throw new Error("maskedPsnr: the mask is empty");
  return psnrFromMse(se / count);
}
