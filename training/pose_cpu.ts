/**
 * Float64 CPU reference of the posing kernels in pose.ts (pose_input.wgsl, pose_apply_*.wgsl,
 * pose_backward_*.wgsl, pose_input_backward.wgsl). The tests compare the GPU with it and take central finite
 * differences of it. See pose.ts for the model:
 *
 *   G input  [x_norm (3) = (x_c - center) / extent, f (F), z (D)]
 *   G output [dpos (3), dq (4), ds (3), do (1), dcol (3)]  (G_OUTPUTS = 14)
 *   mean  = x_c + dx_F + positionScale * dpos
 *   quat  = normalize(normalize(q_c) + dq)
 *   logScale = s_c + ds,  opacityLogit = o_c + do,  sh = sh_c with sh[0] += dcol / SH_C0 (colour units)
 *   L_reg = (1 / N) sum_n [wPos |positionScale dpos|^2 + wRot |dq|^2 + wScale |ds|^2 + wOpacity do^2
 *           + wColour |dcol|^2]
 */

/** SH DC constant (colour = 0.5 + SH_C0 * dc). */
export const SH_C0 = 0.28209479177387814;
/** Outputs of the detail network G per Gaussian. */
export const G_OUTPUTS = 14;
/** Column offsets of the G output groups. */
export const G_POS = 0, G_ROT = 3, G_SCALE = 7, G_OPACITY = 10, G_COLOUR = 11;

/** Weights of the offset-magnitude regularizer (mean over Gaussians of the squared offsets). */
export interface OffsetRegWeights {
  position: number;
  rotation: number;
  scale: number;
  opacity: number;
  colour: number;
}

/** Constants of the posing (fixed for an avatar). */
export interface PoseConstants {
  featureDim: number;
  exprDim: number;
  shDegree: number;
  /** Centre of the canonical bounding box (normalization of G's position input). */
  center: readonly [number, number, number];
  /** Half of the largest bounding-box side: x_norm = (x_c - center) / extent. */
  extent: number;
  /** World units of one unit of G's position output. */
  positionScale: number;
  reg: OffsetRegWeights;
  /** Whether G's input gradient reaches the canonical positions (otherwise x_c is a stop-gradient input of G). */
  positionGradThroughG: boolean;
}

/** Canonical Gaussian parameters on the CPU (flat, row-major). */
export interface CanonicalArrays {
  count: number;
  means: ArrayLike<number>;
  quats: ArrayLike<number>;
  logScales: ArrayLike<number>;
  opacityLogits: ArrayLike<number>;
  sh: ArrayLike<number>;
  features: ArrayLike<number>;
}

/** Posed Gaussians (the rasterizer's layout) and the regularizer value. */
export interface PosedArrays {
  count: number;
  means: Float64Array;
  quats: Float64Array;
  logScales: Float64Array;
  opacityLogits: Float64Array;
  sh: Float64Array;
  /** Per-Gaussian regularizer terms [N] (already divided by N); their sum is L_reg. */
  regTerms: Float64Array;
}

/** Gradients of the posed parameters. */
export interface PosedGradArrays {
  means: ArrayLike<number>;
  quats: ArrayLike<number>;
  logScales: ArrayLike<number>;
  opacityLogits: ArrayLike<number>;
  sh: ArrayLike<number>;
}

/** Number of G inputs. */
export function detailInputs(c: Pick<PoseConstants, "featureDim" | "exprDim">): number {
  return 3 + c.featureDim + c.exprDim;
}

/** G's input rows [N, 3 + F + D]. */
export function poseInputCpu(
  c: PoseConstants,
  canon: CanonicalArrays,
  expr: ArrayLike<number>,
): Float64Array {
  const N = canon.count, F = c.featureDim, D = c.exprDim, GI = detailInputs(c);
  const out = new Float64Array(N * GI);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < 3; k++) out[n * GI + k] = (canon.means[3 * n + k] - c.center[k]) / c.extent;
    for (let k = 0; k < F; k++) out[n * GI + 3 + k] = canon.features[n * F + k];
    for (let k = 0; k < D; k++) out[n * GI + 3 + F + k] = expr[k];
  }
  return out;
}

function regWeights(c: PoseConstants): number[] {
  const w = new Array(G_OUTPUTS).fill(0);
  const ps2 = c.positionScale * c.positionScale;
  for (let k = 0; k < 3; k++) w[G_POS + k] = c.reg.position * ps2;
  for (let k = 0; k < 4; k++) w[G_ROT + k] = c.reg.rotation;
  for (let k = 0; k < 3; k++) w[G_SCALE + k] = c.reg.scale;
  w[G_OPACITY] = c.reg.opacity;
  for (let k = 0; k < 3; k++) w[G_COLOUR + k] = c.reg.colour;
  return w;
}

/** Applies the offsets of G (`gOut` [N, 14]) and of F (`dxF` [N, 3] or null) to the canonical Gaussians. */
export function poseApplyCpu(
  c: PoseConstants,
  canon: CanonicalArrays,
  gOut: ArrayLike<number>,
  dxF: ArrayLike<number> | null,
): PosedArrays {
  const N = canon.count, K = (c.shDegree + 1) ** 2;
  const o = {
    count: N,
    means: new Float64Array(3 * N),
    quats: new Float64Array(4 * N),
    logScales: new Float64Array(3 * N),
    opacityLogits: new Float64Array(N),
    sh: Float64Array.from(canon.sh),
    regTerms: new Float64Array(N),
  };
  const w = regWeights(c);
  for (let n = 0; n < N; n++) {
    const g = (k: number) => gOut[n * G_OUTPUTS + k];
    for (let k = 0; k < 3; k++) {
      o.means[3 * n + k] = canon.means[3 * n + k] + (dxF ? dxF[3 * n + k] : 0) +
        c.positionScale * g(G_POS + k);
      o.logScales[3 * n + k] = canon.logScales[3 * n + k] + g(G_SCALE + k);
      o.sh[n * K * 3 + k] += g(G_COLOUR + k) / SH_C0;
    }
    const qc = [0, 1, 2, 3].map((k) => canon.quats[4 * n + k]);
    const lc = Math.hypot(...qc);
    const p = qc.map((v, k) => v / lc + g(G_ROT + k));
    const lp = Math.hypot(...p);
    for (let k = 0; k < 4; k++) o.quats[4 * n + k] = p[k] / lp;
    o.opacityLogits[n] = canon.opacityLogits[n] + g(G_OPACITY);
    let r = 0;
    for (let k = 0; k < G_OUTPUTS; k++) r += w[k] * g(k) * g(k);
    o.regTerms[n] = r / N;
  }
  return o;
}

/** Gradients of the canonical parameters, of G's output and of dx_F. */
export interface PoseGradArrays {
  means: Float64Array;
  quats: Float64Array;
  logScales: Float64Array;
  opacityLogits: Float64Array;
  sh: Float64Array;
  features: Float64Array;
  /** dL/d(G output) [N, 14], including the regularizer's gradient. */
  gOut: Float64Array;
  /** dL/d(dx_F) [N, 3]. */
  dxF: Float64Array;
}

/**
 * Backward of `poseApplyCpu` for the loss L = L_render(posed) + L_reg, given the posed gradients;
 * without `dInput` (G's input gradient, from G's backward) the features gradient is zero and the positions get
 * only the direct path. Call twice: once to get `gOut` for G's backward, then with its `dInput`.
 */
export function poseBackwardCpu(
  c: PoseConstants,
  canon: CanonicalArrays,
  gOut: ArrayLike<number>,
  up: PosedGradArrays,
  dInput?: ArrayLike<number>,
): PoseGradArrays {
  const N = canon.count, K = (c.shDegree + 1) ** 2, F = c.featureDim, GI = detailInputs(c);
  const r = {
    means: Float64Array.from(up.means),
    quats: new Float64Array(4 * N),
    logScales: Float64Array.from(up.logScales),
    opacityLogits: Float64Array.from(up.opacityLogits),
    sh: Float64Array.from(up.sh),
    features: new Float64Array(N * F),
    gOut: new Float64Array(N * G_OUTPUTS),
    dxF: Float64Array.from(up.means),
  };
  const w = regWeights(c);
  for (let n = 0; n < N; n++) {
    const row = n * G_OUTPUTS;
    for (let k = 0; k < G_OUTPUTS; k++) r.gOut[row + k] = 2 * w[k] * gOut[row + k] / N;
    for (let k = 0; k < 3; k++) {
      r.gOut[row + G_POS + k] += c.positionScale * up.means[3 * n + k];
      r.gOut[row + G_SCALE + k] += up.logScales[3 * n + k];
      r.gOut[row + G_COLOUR + k] += up.sh[n * K * 3 + k] / SH_C0;
    }
    r.gOut[row + G_OPACITY] += up.opacityLogits[n];
    const qc = [0, 1, 2, 3].map((k) => canon.quats[4 * n + k]);
    const lc = Math.hypot(...qc);
    const qh = qc.map((v) => v / lc);
    const p = qh.map((v, k) => v + gOut[row + G_ROT + k]);
    const lp = Math.hypot(...p);
    const q = p.map((v) => v / lp);
    const gq = [0, 1, 2, 3].map((k) => up.quats[4 * n + k]);
    const dq = dot4(q, gq);
    const gp = gq.map((v, k) => (v - q[k] * dq) / lp);
    const dh = dot4(qh, gp);
    for (let k = 0; k < 4; k++) {
      r.gOut[row + G_ROT + k] += gp[k];
      r.quats[4 * n + k] = (gp[k] - qh[k] * dh) / lc;
    }
    if (dInput) {
      if (c.positionGradThroughG) {
        for (let k = 0; k < 3; k++) r.means[3 * n + k] += dInput[n * GI + k] / c.extent;
      }
      for (let k = 0; k < F; k++) r.features[n * F + k] = dInput[n * GI + 3 + k];
    }
  }
  return r;
}

function dot4(a: readonly number[], b: readonly number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
}
