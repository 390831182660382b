/**
 * What the built-in dataset renders and what it hands to the trainer.
 *
 * The images always show the full synthetic head (mouth cavity, teeth, tongue, eyelids, ears). Two kinds:
 *
 * - `tracked` (default): the trainer gets a tracked-style approximation, as a FLAME fit is of a real person
 *   (`trackedRig`: outer surface only, decimated to about 5k vertices, smoothed deltas) as `rig.glb`, and the
 *   true codes plus seeded tracking noise (`addTrackingNoise`) as `expressions.npy`; the true codes are written
 *   to `expressions_true.npy` for analysis. The images are rendered from the head's exact parametric geometry
 *   (`render: "parametric"`), of which even the full rig's blendshapes are only the linearization.
 * - `exact`: the trainer gets the rig the images are rendered from and the true codes; the images are the
 *   linear blend of that rig (`render: "blend"`), so rig and images agree exactly (the behaviour of dataset
 *   version 1, for tests and for comparison).
 */
import { rigError, type RigErrorReport } from "./rig_error.ts";
import { posedPositions, type Rig } from "./rig.ts";
import { buildSyntheticHeadModel } from "./synthetic_head.ts";
import {
  TRACKED_DEFAULT_SMOOTHING,
  TRACKED_DEFAULT_VERTICES,
  TRACKED_PARTS,
  trackedRig,
  type TrackedRigOptions,
} from "./tracked_rig.ts";
import {
  addTrackingNoise,
  TRACKING_NOISE_DEFAULT_CORRELATION,
  TRACKING_NOISE_DEFAULT_SIGMA,
} from "./tracking_noise.ts";

export type SynthRigKind = "tracked" | "exact";
export type SynthRenderGeometry = "parametric" | "blend";

export interface SynthRigOptions extends TrackedRigOptions {
  /** Which rig and codes the trainer gets (default "tracked"). */
  rig?: SynthRigKind;
  /** How the images are posed (default "parametric" for tracked, "blend" for exact). */
  render?: SynthRenderGeometry;
  /** Tracking noise on the codes (tracked only; default 0.04 per coefficient, 0 for none). */
  noiseSigma?: number;
  /** Timestep-to-timestep correlation of the tracking noise (default 0.6). */
  noiseCorrelation?: number;
}

/** The rig part of `dataset.json`. */
export interface SynthRigInfo {
  rig_kind: SynthRigKind;
  render_geometry: SynthRenderGeometry;
  /** Vertices of the rendered head and of rig.glb. */
  rendered_vertices: number;
  rig_vertices: number;
  /** Tracked only: the decimation and what the rig lacks. */
  tracked?: {
    target_vertices: number;
    kept_before_decimation: number;
    dropped_vertices: Record<string, number>;
    smooth_iterations: number;
  };
  /** Tracked only: the noise on expressions.npy (true codes in expressions_true.npy). */
  tracking_noise?: { sigma: number; correlation: number; expressions_true: "expressions_true.npy" };
  /** Distance of the given rig (posed with the given codes) from the rendered geometry. */
  rig_error?: RigErrorReport;
}

export interface SynthRigSetup {
  /** The rendered head. */
  full: Rig;
  /** Positions to render for a true code. */
  pose(weights: ArrayLike<number>): Float32Array;
  /** The rig written as rig.glb. */
  trainerRig: Rig;
  /** Codes written as expressions.npy for true codes [T, K] (`breaks`: timesteps starting a new sequence). */
  trackCodes(codes: Float32Array, breaks: readonly number[]): Float32Array;
  /** dataset.json's rig fields, with the rig error measured over `timesteps`. */
  describe(trueCodes: Float32Array, givenCodes: Float32Array, timesteps: [number, number]): SynthRigInfo;
}

/** Builds the rendered head and the rig handed to the trainer (see the module comment). */
export async function prepareSynthRig(seed: number, opts: SynthRigOptions = {}): Promise<SynthRigSetup> {
  const kind = opts.rig ?? "tracked";
  if (kind !== "tracked" && kind !== "exact") throw new Error(`synth: unknown rig kind '${kind}'`);
  const render = opts.render ?? (kind === "tracked" ? "parametric" : "blend");
  const model = buildSyntheticHeadModel({ seed });
  const full = model.rig, K = full.deltas.length;
  const pose = render === "parametric"
    ? (w: ArrayLike<number>) => model.geometry(w)
    : (w: ArrayLike<number>) => posedPositions(full, w);
  const identity = Uint32Array.from({ length: full.positions.length / 3 }, (_, i) => i);
  const tracked = kind === "tracked" ? await trackedRig(model, opts) : null;
  const sigma = kind === "tracked" ? opts.noiseSigma ?? TRACKING_NOISE_DEFAULT_SIGMA : 0;
  const correlation = opts.noiseCorrelation ?? TRACKING_NOISE_DEFAULT_CORRELATION;
  const trainerRig = tracked?.rig ?? full;
  return {
    full,
    pose,
    trainerRig,
    trackCodes: (codes, breaks) =>
      sigma > 0 ? addTrackingNoise(codes, K, { sigma, correlation, seed: seed * 31 + 7 }, breaks) : codes,
    describe(trueCodes, givenCodes, timesteps) {
      const info: SynthRigInfo = {
        rig_kind: kind,
        render_geometry: render,
        rendered_vertices: full.positions.length / 3,
        rig_vertices: trainerRig.positions.length / 3,
      };
      if (tracked) {
        info.tracked = {
          target_vertices: opts.targetVertices ?? TRACKED_DEFAULT_VERTICES,
          kept_before_decimation: tracked.keptBeforeDecimation,
          dropped_vertices: tracked.dropped,
          smooth_iterations: opts.smoothIterations ?? TRACKED_DEFAULT_SMOOTHING,
        };
      }
      if (sigma > 0) info.tracking_noise = { sigma, correlation, expressions_true: "expressions_true.npy" };
      if (timesteps[1] > timesteps[0]) {
        info.rig_error = rigError({
          truthNeutral: pose(new Float32Array(K)),
          truthAt: (t) => pose(trueCodes.subarray(t * K, (t + 1) * K)),
          rig: trainerRig,
          vertexMap: tracked?.vertexMap ?? identity,
          codes: givenCodes,
          timesteps,
          surfacePoints: Uint32Array.from(
            TRACKED_PARTS.flatMap((p) => {
              const [a, b] = model.parts[p];
              return Array.from({ length: b - a }, (_, i) => a + i);
            }),
          ),
          surfaceMouth: model.lipVertices,
        });
      }
      return info;
    },
  };
}
