/**
 * Plumbing shared by the deformation networks (expression prior B, forward field F): the head frame that
 * normalizes positions, the NPHM-style MLP layout, and the input-assembly kernel that builds one MLP input row
 * per point from positions, per-point features and expression codes.
 *
 * Normalization: a world position p (rig units, metres) enters the networks as (p - center) * scale, where
 * `center` is the centre of the neutral mesh's bounding box and scale = 2 / (its largest side), so the head
 * fills [-1, 1] on its longest axis. The networks also output offsets in these normalized units (world offset =
 * output / scale), so a normalized posed point is simply normalized canonical point + normalized offset.
 */
import type { Activation } from "../gpu/activation.ts";
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import type { MlpSpec } from "../gpu/mlp.ts";
import { Tensor } from "../gpu/tensor.ts";
import { meshBounds, type RigMesh } from "./rig_sampling.ts";
import src from "./deform_inputs.wgsl" with { type: "text" };

/** Maps world positions to the networks' normalized frame: n = (p - center) * scale. */
export interface HeadFrame {
  center: [number, number, number];
  scale: number;
  /** Diagonal of the neutral bounding box in world units (the head size for relative errors). */
  diagonal: number;
}

/** The head frame of a rig's neutral mesh (see the module comment). */
export function headFrame(mesh: RigMesh): HeadFrame {
  const b = meshBounds(mesh);
  const extent = Math.max(b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]);
  if (!(extent > 0)) throw new Error("headFrame: the mesh has zero extent");
  const center: [number, number, number] = [0, 1, 2].map((c) => 0.5 * (b.min[c] + b.max[c])) as [
    number,
    number,
    number,
  ];
  return { center, scale: 2 / extent, diagonal: b.diagonal };
}

/**
 * The canonical expression of the deformation fields [D]: `jaw` on the blendshape named jawOpen (ARKit naming,
 * any case), zeros elsewhere; null (the neutral) when `jaw` is 0 or no blendshape has that name.
 */
export function canonicalCode(
  names: readonly string[] | undefined,
  D: number,
  jaw: number,
): Float32Array | null {
  const k = names?.findIndex((n) => n.toLowerCase() === "jawopen") ?? -1;
  if (!(jaw > 0) || k < 0 || k >= D) return null;
  const z = new Float32Array(D);
  z[k] = jaw;
  return z;
}

/** softplus(beta = 100), the NPHM hidden activation. */
export const NPHM_ACTIVATION: Activation = { kind: "softplus", beta: 100 };

/**
 * The NPHM / DeepSDF deformation-network layout: `layers` hidden layers of `width` (default 6) with softplus(100),
 * the network input concatenated into hidden layer 3 (0-based layer index of Mlp's `skipAt`), and a linear output
 * of 3 offsets.
 */
export function nphmSpec(inputs: number, width: number, layers = 6): MlpSpec {
  return {
    inputs,
    hidden: { width, depth: layers },
    outputs: 3,
    hiddenActivation: NPHM_ACTIVATION,
    outputActivation: { kind: "identity" },
    skipAt: Math.min(3, layers),
  };
}

/** How each row gets its expression code. */
export type CodeSource =
  /** One code [D] for every row. */
  | { kind: "broadcast"; codes: Tensor }
  /** One code per row, [N, D]. */
  | { kind: "perPoint"; codes: Tensor }
  /** Row i takes codes[index[i]] from a table [T, D]. */
  | { kind: "indexed"; codes: Tensor; index: Tensor };

export interface AssembleArgs {
  frame: HeadFrame;
  /** World positions [N, 3]. */
  points: Tensor;
  /** Added to the normalized position, [N, 3] (normalized units). */
  shift?: Tensor;
  /** Per-point features [N, E]. */
  features?: { tensor: Tensor; dim: number };
  /** Expression codes of dimension `dim` (0 for none). */
  code: CodeSource & { dim: number };
  /** Values appended to every row (e.g. an identity code). */
  extra?: Tensor;
  /** Output rows [N, 3 + E + D + X]. */
  out: Tensor;
}

const CODE_MODE = { broadcast: 0, perPoint: 1, indexed: 2 } as const;

/** Records the input assembly (see deform_inputs.wgsl) into the shared encoder. */
export function assembleInputs(gpu: Gpu, a: AssembleArgs): void {
  const n = a.points.size / 3;
  const E = a.features?.dim ?? 0, D = a.code.dim, X = a.extra?.size ?? 0;
  const K = 3 + E + D + X;
  const need = (t: Tensor | undefined, size: number, what: string) => {
    if (t && t.size < size) throw new Error(`assembleInputs: ${what} has ${t.size} elements, needs ${size}`);
  };
  if (!Number.isInteger(n)) throw new Error("assembleInputs: points must be [N, 3]");
  if (a.out.size !== n * K) throw new Error(`assembleInputs: out must have ${n * K} elements`);
  need(a.shift, 3 * n, "shift");
  need(a.features?.tensor, n * E, "features");
  const rows = a.code.kind === "broadcast" ? 1 : a.code.kind === "perPoint" ? n : 0;
  need(a.code.codes, rows * D, "codes");
  if (a.code.kind === "indexed") need(a.code.index, n, "code index");
  const dummy = a.points;
  const f = a.frame;
  dispatch(
    gpu,
    gpu.pipeline(src, "main", {
      HAS_SHIFT: a.shift ? 1 : 0,
      CODE_MODE: CODE_MODE[a.code.kind],
    }, "deform_inputs"),
    {
      bindings: [
        a.points,
        a.shift ?? dummy,
        a.features?.tensor ?? dummy,
        a.code.codes,
        a.code.kind === "indexed" ? a.code.index : dummy,
        a.extra ?? dummy,
        a.out,
        uniforms(gpu, [n, E, D, X, { f32: f.center[0] }, { f32: f.center[1] }, { f32: f.center[2] }, {
          f32: f.scale,
        }]),
      ],
      workgroups: Math.ceil((n * K) / 256),
    },
  );
}

/** CPU arrays for `assembleInputsCpu` (same meaning as `AssembleArgs`). */
export interface AssembleCpuArgs {
  frame: HeadFrame;
  points: ArrayLike<number>;
  shift?: ArrayLike<number>;
  features?: { data: ArrayLike<number>; dim: number };
  code: { kind: CodeSource["kind"]; codes: ArrayLike<number>; dim: number; index?: ArrayLike<number> };
  extra?: ArrayLike<number>;
}

/** CPU reference of `assembleInputs` (float64). */
export function assembleInputsCpu(a: AssembleCpuArgs): Float64Array {
  const n = a.points.length / 3;
  const E = a.features?.dim ?? 0, D = a.code.dim, X = a.extra?.length ?? 0;
  const K = 3 + E + D + X;
  const out = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * K, (i + 1) * K);
    for (let c = 0; c < 3; c++) {
      row[c] = (a.points[3 * i + c] - a.frame.center[c]) * a.frame.scale + (a.shift ? a.shift[3 * i + c] : 0);
    }
    for (let e = 0; e < E; e++) row[3 + e] = a.features!.data[i * E + e];
    const r = a.code.kind === "broadcast" ? 0 : a.code.kind === "perPoint" ? i : a.code.index![i];
    for (let d = 0; d < D; d++) row[3 + E + d] = a.code.codes[r * D + d];
    for (let x = 0; x < X; x++) row[3 + E + D + x] = a.extra![x];
  }
  return out;
}
