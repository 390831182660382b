/**
 * CPU reference of the Gaussian rasterizer in float64: the same projection, culling, tile binning, depth order
 * and front-to-back blending rules as the WGSL kernels, written plainly. Tests compare the GPU against it and take
 * finite differences of it; the benchmark uses it as the CPU baseline.
 */
import { type Camera, cameraCenter, DEFAULT_NEAR, jacobianClamp } from "./camera.ts";
import { shBasis } from "./sh.ts";

/** Gaussian parameters on the CPU, in the same flat layouts as the GPU tensors. */
export interface GaussianArrays {
  count: number;
  /** [N, 3] */
  means: ArrayLike<number>;
  /** [N, 4] (w, x, y, z), normalized by the renderer */
  quats: ArrayLike<number>;
  /** [N, 3] */
  logScales: ArrayLike<number>;
  /** [N] */
  opacityLogits: ArrayLike<number>;
  /** [N, (deg + 1)^2, 3] coefficient-major */
  sh: ArrayLike<number>;
  /** [N, C] (omit when C = 0) */
  extras?: ArrayLike<number>;
}

/** Rasterizer constants shared by the GPU and CPU paths. */
export const TILE = 16;
export const DILATION = 0.3;
export const ALPHA_MAX = 0.99;
export const ALPHA_MIN = 1 / 255;
export const T_MIN = 1e-4;

/** One projected (view, Gaussian) entry, or null when culled (see `reason`). */
export interface ProjectedCpu {
  mean2d: [number, number];
  conic: [number, number, number];
  opacity: number;
  depth: number;
  radius: number;
  color: [number, number, number];
  /** Binned tile rectangle x0, y0, x1, y1 (exclusive ends): the 3-sigma rectangle cut by pairRect. */
  rect: [number, number, number, number];
}

/** Cull reasons, in the order of the stats counters: 0 visible, 1 non-finite, 2 behind near plane, 3 off-image. */
export type CullReason = 0 | 1 | 2 | 3;

/** Projects Gaussian `n` into `cam`; returns the entry or the cull reason. */
export function projectCpu(
  g: GaussianArrays,
  shDegree: number,
  extraChannels: number,
  cam: Camera,
  n: number,
): ProjectedCpu | CullReason {
  const m = [g.means[3 * n], g.means[3 * n + 1], g.means[3 * n + 2]];
  const q = [g.quats[4 * n], g.quats[4 * n + 1], g.quats[4 * n + 2], g.quats[4 * n + 3]];
  const ls = [g.logScales[3 * n], g.logScales[3 * n + 1], g.logScales[3 * n + 2]];
  const qn2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
  if (![...m, ...ls, qn2].every(Number.isFinite) || !(qn2 > 1e-30)) return 1;
  const R = cam.rotation, tr = cam.translation;
  const t = [0, 1, 2].map((r) => R[3 * r] * m[0] + R[3 * r + 1] * m[1] + R[3 * r + 2] * m[2] + tr[r]);
  if (!(t[2] > (cam.near ?? DEFAULT_NEAR))) return 2;
  const [xlo, xhi, ylo, yhi] = jacobianClamp(cam);
  const u = t[0] / t[2], v = t[1] / t[2];
  const uc = Math.min(Math.max(u, xlo), xhi), vc = Math.min(Math.max(v, ylo), yhi);
  const iz = 1 / t[2];
  const j0 = [cam.fx * iz, 0, -cam.fx * uc * iz];
  const j1 = [0, cam.fy * iz, -cam.fy * vc * iz];
  const m0 = [0, 1, 2].map((c) => j0[0] * R[c] + j0[1] * R[3 + c] + j0[2] * R[6 + c]);
  const m1 = [0, 1, 2].map((c) => j1[0] * R[c] + j1[1] * R[3 + c] + j1[2] * R[6 + c]);
  const qn = q.map((x) => x / Math.sqrt(qn2));
  const Q = quatToRot(qn);
  const s = ls.map(Math.exp);
  // rows of M * R * S
  const a0 = [0, 1, 2].map((c) => (m0[0] * Q[c] + m0[1] * Q[3 + c] + m0[2] * Q[6 + c]) * s[c]);
  const a1 = [0, 1, 2].map((c) => (m1[0] * Q[c] + m1[1] * Q[3 + c] + m1[2] * Q[6 + c]) * s[c]);
  const ca = dot3(a0, a0) + DILATION, cb = dot3(a0, a1), cc = dot3(a1, a1) + DILATION;
  const det = ca * cc - cb * cb;
  if (!(det > 0) || !Number.isFinite(det)) return 3;
  const mean2d: [number, number] = [cam.fx * u + cam.cx - 0.5, cam.fy * v + cam.cy - 0.5];
  const mid = 0.5 * (ca + cc);
  const radius = Math.ceil(3 * Math.sqrt(mid + Math.sqrt(Math.max(0.1, mid * mid - det))));
  const tx = Math.ceil(cam.width / TILE), ty = Math.ceil(cam.height / TILE);
  const clampT = (x: number, hi: number) => Math.min(Math.max(x, 0), hi);
  const rect: [number, number, number, number] = [
    clampT(Math.floor((mean2d[0] - radius) / TILE), tx),
    clampT(Math.floor((mean2d[1] - radius) / TILE), ty),
    clampT(Math.floor((mean2d[0] + radius) / TILE) + 1, tx),
    clampT(Math.floor((mean2d[1] + radius) / TILE) + 1, ty),
  ];
  if (!(rect[2] > rect[0]) || !(rect[3] > rect[1]) || !mean2d.every(Number.isFinite)) return 3;
  const op = g.opacityLogits[n];
  const K = (shDegree + 1) ** 2;
  const c0 = cameraCenter(cam);
  const d = [m[0] - c0[0], m[1] - c0[1], m[2] - c0[2]];
  const dl = Math.hypot(d[0], d[1], d[2]);
  const dir = d.map((x) => x / dl);
  const color: [number, number, number] = [0, 0, 0];
  for (let k = 0; k < K; k++) {
    const b = shBasis(k, dir);
    for (let c = 0; c < 3; c++) color[c] += b * g.sh[(n * K + k) * 3 + c];
  }
  if (!Number.isFinite(op) || !color.every(Number.isFinite)) return 1;
  for (let c = 0; c < 3; c++) color[c] = Math.max(color[c] + 0.5, 0);
  for (let c = 0; c < extraChannels; c++) if (!Number.isFinite(g.extras![n * extraChannels + c])) return 1;
  const conic: [number, number, number] = [cc / det, -cb / det, ca / det];
  const opacity = 1 / (1 + Math.exp(-op));
  return {
    mean2d,
    conic,
    opacity,
    depth: t[2],
    radius,
    color,
    rect: pairRect(rect, mean2d, alphaExtent(conic, opacity)),
  };
}

/** Largest finite f16: the GPU stores the alpha extents as f16 and caps them here. */
const F16_MAX = 65504;

/**
 * Half-widths of the bounding box of the ellipse where opacity * exp(power) >= ALPHA_MIN, widened by 0.1% +
 * 0.01 px (as the GPU, so both bin alike); -60000 when the opacity is below ALPHA_MIN.
 */
export function alphaExtent(conic: readonly number[], opacity: number): [number, number] {
  const t = 2 * Math.log(opacity / ALPHA_MIN);
  if (!(t >= 0)) return [-60000, -60000];
  const det = conic[0] * conic[2] - conic[1] * conic[1];
  const h = (s: number) => Math.min(Math.sqrt((t * s) / det) * 1.001 + 0.01, F16_MAX);
  return [h(conic[2]), h(conic[0])];
}

/**
 * The tiles an entry is binned to: its 3-sigma tile rectangle cut to the tiles its alpha >= 1/255 box reaches
 * (empty, as [x0, y0, x0, y0], when they do not meet). Mirrors pair_rect in gaussian_common.wgsl.
 */
export function pairRect(
  rect: readonly number[],
  mean2d: readonly number[],
  half: readonly number[],
): [number, number, number, number] {
  const lo = [0, 1].map((k) => Math.max(rect[k], Math.floor((mean2d[k] - half[k]) / TILE)));
  const hi = [0, 1].map((k) => Math.min(rect[k + 2], Math.floor((mean2d[k] + half[k]) / TILE) + 1));
  if (hi[0] <= lo[0] || hi[1] <= lo[1]) return [rect[0], rect[1], rect[0], rect[1]];
  return [lo[0], lo[1], hi[0], hi[1]];
}

/** The CPU render of V views: layouts as the GPU outputs, in float64. */
export interface CpuRender {
  /** [V, H, W, 3] */
  rgb: Float64Array;
  /** [V, H, W, C] */
  extras: Float64Array;
  /** [V, H, W, 4]: alpha, sum of weight * depth, final transmittance, list entries walked (last). */
  aux: Float64Array;
  /** visible, non-finite, behind near plane, off-image (summed over views). */
  stats: [number, number, number, number];
}

/** Renders the views (all of one size) with the reference rules. */
export function renderCpu(
  g: GaussianArrays,
  cams: readonly Camera[],
  opts: { shDegree: number; extraChannels: number; background?: readonly number[] },
): CpuRender {
  const W = cams[0].width, H = cams[0].height, C = opts.extraChannels;
  const bg = opts.background ?? [0, 0, 0];
  const V = cams.length;
  const rgb = new Float64Array(V * H * W * 3);
  const extras = new Float64Array(V * H * W * C);
  const aux = new Float64Array(V * H * W * 4);
  const stats: [number, number, number, number] = [0, 0, 0, 0];
  const tx = Math.ceil(W / TILE), ty = Math.ceil(H / TILE);
  for (let v = 0; v < V; v++) {
    const entries: { n: number; p: ProjectedCpu }[] = [];
    for (let n = 0; n < g.count; n++) {
      const p = projectCpu(g, opts.shDegree, C, cams[v], n);
      if (typeof p === "number") stats[p]++;
      else {
        stats[0]++;
        entries.push({ n, p });
      }
    }
    entries.sort((a, b) => a.p.depth - b.p.depth || a.n - b.n);
    for (let tyi = 0; tyi < ty; tyi++) {
      for (let txi = 0; txi < tx; txi++) {
        const list = entries.filter(({ p }) =>
          p.rect[0] <= txi && txi < p.rect[2] && p.rect[1] <= tyi && tyi < p.rect[3]
        );
        for (let py = tyi * TILE; py < Math.min(H, (tyi + 1) * TILE); py++) {
          for (let px = txi * TILE; px < Math.min(W, (txi + 1) * TILE); px++) {
            const pix = (v * H + py) * W + px;
            let T = 1, dep = 0, last = 0;
            const col = [0, 0, 0];
            for (let k = 0; k < list.length; k++) {
              const { n, p } = list[k];
              const dx = p.mean2d[0] - px, dy = p.mean2d[1] - py;
              const power = -0.5 * (p.conic[0] * dx * dx + p.conic[2] * dy * dy) - p.conic[1] * dx * dy;
              if (power > 0) continue;
              const alpha = Math.min(ALPHA_MAX, p.opacity * Math.exp(power));
              if (alpha < ALPHA_MIN) continue;
              const nt = T * (1 - alpha);
              if (nt < T_MIN) break;
              const w = alpha * T;
              for (let c = 0; c < 3; c++) col[c] += w * p.color[c];
              for (let c = 0; c < C; c++) extras[pix * C + c] += w * g.extras![n * C + c];
              dep += w * p.depth;
              T = nt;
              last = k + 1;
            }
            for (let c = 0; c < 3; c++) rgb[pix * 3 + c] = col[c] + T * bg[c];
            aux.set([1 - T, dep, T, last], pix * 4);
          }
        }
      }
    }
  }
  return { rgb, extras, aux, stats };
}

/** Row-major rotation matrix of a unit quaternion (w, x, y, z). */
export function quatToRot(q: readonly number[]): number[] {
  const [w, x, y, z] = q;
  return [
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ];
}

function dot3(a: readonly number[], b: readonly number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
