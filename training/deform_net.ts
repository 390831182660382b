/**
 * A deformation network (the expression prior B, the forward field F): an NPHM-layout MLP (deform_inputs.ts
 * `nphmSpec`) over assembled input rows, followed by its output head (code_basis.ts): the 3 offsets directly
 * ("offset"), or a per-coefficient basis combined with the row's code relative to the canonical code
 * ("codeBasis"). Offsets come out in normalized units times a caller's scale `s` (1 / frame.scale gives world
 * units). With `bands` > 0 the MLP sees each row followed by Fourier features of its position
 * (position_encoding.ts); the head and the input gradient still use the rows' own layout. With `codeInput`
 * false the MLP sees the code columns as zeros (a copy of the rows with them cleared, channel_slice.ts): the
 * "codeBasis" head then makes the offset exactly linear in the code, sum_k basis_k(x) * (z_k - z0_k), as a
 * blendshape rig is, and the code columns of the input gradient are zero.
 */
import type { Gpu } from "../gpu/device.ts";
import { Mlp, type MlpActivations } from "../gpu/mlp.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { channelSlice } from "./channel_slice.ts";
import { codeBasisBackward, codeBasisForward, type DeformOutput } from "./code_basis.ts";
import { nphmSpec } from "./deform_inputs.ts";
import { decodePositionGrad, encodedColumns, encodePositions } from "./position_encoding.ts";
import { residual3 } from "./prior_residual.ts";

export interface DeformNetSpec {
  /** Columns of an input row. */
  inputs: number;
  width: number;
  layers: number;
  /** Expression code dimension D and the column of an input row where the code starts. */
  codeDim: number;
  codeColumn: number;
  output: DeformOutput;
  /** Canonical code [D] of the "codeBasis" head (default zeros). */
  canonicalCode?: readonly number[];
  /** Fourier frequency bands of the position (position_encoding.ts; default 0 = the raw position only). */
  bands?: number;
  /** Whether the MLP sees the code columns (default true; false: they enter as zeros, see the module comment). */
  codeInput?: boolean;
}

/** What a training forward keeps for `backward`. */
export interface DeformNetState {
  acts: MlpActivations;
  input: Tensor;
  raw: Tensor;
  release(): void;
}

export class DeformNet {
  readonly gpu: Gpu;
  readonly spec: DeformNetSpec;
  readonly mlp: Mlp;
  readonly pool: TensorPool;
  #z0: Tensor | null;
  #bands: number;
  #blind: boolean;

  constructor(gpu: Gpu, spec: DeformNetSpec) {
    this.gpu = gpu;
    this.spec = spec;
    const basis = spec.output === "codeBasis";
    const z0 = spec.canonicalCode ?? new Array(spec.codeDim).fill(0);
    if (basis && (z0.length !== spec.codeDim || spec.codeColumn + spec.codeDim > spec.inputs)) {
      throw new Error(`DeformNet: canonical code has ${z0.length} values, code dimension ${spec.codeDim}`);
    }
    this.#bands = spec.bands ?? 0;
    this.#blind = spec.codeInput === false && spec.codeDim > 0;
    const spec0 = nphmSpec(encodedColumns(spec.inputs, this.#bands), spec.width, spec.layers);
    this.mlp = new Mlp(gpu, { ...spec0, outputs: basis ? 3 * spec.codeDim : 3 });
    this.pool = new TensorPool(gpu);
    this.#z0 = basis ? Tensor.from(gpu, Float32Array.from(z0), undefined, "deform.z0") : null;
  }

  /** Records out [N, 3] = s * offsets of the input rows [N, inputs]. */
  forward(input: Tensor, out: Tensor, s: number): void {
    const raw = this.#raw(out.size / 3);
    const enc = this.#encode(input);
    this.mlp.forward(enc, raw);
    if (enc !== input) enc.destroy();
    this.#head(input, raw, out, s);
    raw.destroy();
  }

  /** `forward` keeping the activations (the input rows must stay unchanged until `backward`). */
  forwardTrain(input: Tensor, out: Tensor, s: number): DeformNetState {
    const raw = this.#raw(out.size / 3);
    const enc = this.#encode(input);
    const acts = this.mlp.forwardTrain(enc, raw);
    this.#head(input, raw, out, s);
    return {
      acts,
      input,
      raw,
      release: () => {
        acts.release();
        raw.destroy();
        if (enc !== input) enc.destroy();
      },
    };
  }

  /**
   * Records the backward pass from dOut [N, 3] (gradient with respect to the scaled offsets): parameter
   * gradients into `mlp.grads` (added with `accumulate`) and, when given, the gradient with respect to the input
   * rows (the code columns receive the MLP's part only: the head treats codes as constants). `addRaw` may add
   * a loss's gradient with respect to the network's raw output (st.raw, [N, outputs]) into dRaw before the MLP's
   * backward pass (basis_residual.ts). Releases `st`.
   */
  backward(
    st: DeformNetState,
    dOut: Tensor,
    s: number,
    dInput?: Tensor,
    opts: { accumulate?: boolean; addRaw?: (raw: Tensor, dRaw: Tensor) => void } = {},
  ): void {
    const n = dOut.size / 3;
    const dRaw = this.#raw(n);
    if (this.#z0) codeBasisBackward(this.gpu, this.#args(st.input, s), dOut, dRaw);
    else this.#scale(dOut, dRaw, s);
    opts.addRaw?.(st.raw, dRaw);
    const b = this.#bands;
    const dEnc = dInput && b > 0
      ? this.pool.acquire([n, encodedColumns(this.spec.inputs, b)], "f32", "deform.denc")
      : dInput;
    this.mlp.backward(st.acts, dRaw, dEnc, { accumulate: opts.accumulate });
    if (dInput && dEnc !== dInput) {
      decodePositionGrad(this.gpu, st.input, this.spec.inputs, b, dEnc!, dInput);
      dEnc!.destroy();
    }
    if (dInput && this.#blind) this.#clearCode(dInput, this.spec.inputs, n);
    st.release();
    dRaw.destroy();
  }

  destroy(): void {
    this.mlp.destroy();
    this.#z0?.destroy();
    this.pool.clear();
  }

  /** The MLP's input for the rows: the rows themselves, or a pooled encoded copy (the caller destroys it). */
  #encode(input: Tensor): Tensor {
    if (this.#bands === 0 && !this.#blind) return input;
    const k = this.spec.inputs, n = input.size / k, cols = encodedColumns(k, this.#bands);
    const enc = this.pool.acquire([n, cols], "f32", "deform.enc");
    if (this.#bands > 0) encodePositions(this.gpu, input, k, this.#bands, enc);
    else enc.copyFrom(input);
    if (this.#blind) this.#clearCode(enc, cols, n);
    return enc;
  }

  /** Records t[:, codeColumn .. codeColumn + D) = 0 for t [n, columns]. */
  #clearCode(t: Tensor, columns: number, n: number): void {
    const d = this.spec.codeDim;
    const zeros = this.pool.acquire([n, d], "f32", "deform.zeros");
    channelSlice(this.gpu, zeros, t, {
      pixels: n,
      srcChannels: d,
      srcOffset: 0,
      dstChannels: columns,
      dstOffset: this.spec.codeColumn,
      count: d,
      add: false,
    });
    zeros.destroy();
  }

  #raw(n: number): Tensor {
    return this.pool.acquire([n, this.mlp.spec.outputs], "f32", "deform.raw");
  }

  #args(input: Tensor, s: number) {
    const sp = this.spec;
    return { d: sp.codeDim, rows: input, stride: sp.inputs, off: sp.codeColumn, z0: this.#z0!, s };
  }

  #head(input: Tensor, raw: Tensor, out: Tensor, s: number): void {
    if (this.#z0) codeBasisForward(this.gpu, this.#args(input, s), raw, out);
    else this.#scale(raw, out, s);
  }

  /** out = s * a over [N, 3]. */
  #scale(a: Tensor, out: Tensor, s: number): void {
    const sq = this.pool.acquire([a.size / 3], "f32", "deform.sq");
    residual3(this.gpu, { a, b: a, ca: s, cb: 0, gs: 1, res: out, sq });
    sq.destroy();
  }
}
