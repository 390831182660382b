/**
 * Fully connected network (MLP) on the GPU: forward for inference, forward-for-training that keeps the hidden
 * activations, and backward giving parameter gradients (by Aᵀ·B reductions over the batch, no atomics) and
 * optionally the input gradient.
 *
 * Parameter layout: ONE flat f32 tensor `params` holds, layer after layer, W_l stored [in_l, out_l] row-major
 * (so a layer computes y = act(x · W_l + b_l)) followed by b_l [out_l]; `grads` has the same layout, so one
 * Adam step updates everything. Each block starts at a multiple of 4 elements (for vec4 loads); the few padding
 * elements between blocks stay zero in both tensors. `layout()` gives each layer's offsets.
 *
 * Skip connection (DeepSDF / NPHM): with `skipAt = s`, layer s takes concat(h_{s-1}, x) where x is the network
 * input, so in_s = hidden[s-1] + inputs and the first hidden[s-1] rows of W_s act on h, the last `inputs` rows on
 * x. The concatenation is never materialised: the layer is two matmuls accumulating into one output.
 *
 * Batches of any size are processed in row chunks small enough for every buffer binding.
 */
import { type Activation, ACTIVATION_CODE, ACTIVATION_WGSL, activationBeta } from "./activation.ts";
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { bindRange, columnSum, type MatArg, matmul } from "./matmul.ts";
import { Rng } from "./rng.ts";
import { Tensor, TensorPool } from "./tensor.ts";
import gradSrc from "./mlp_grad.wgsl" with { type: "text" };

const GRAD_WGSL = ACTIVATION_WGSL + gradSrc;

/** The shape of an MLP. */
export interface MlpSpec {
  inputs: number;
  /** Widths of the hidden layers, or `depth` hidden layers of equal `width`. */
  hidden: number[] | { width: number; depth: number };
  outputs: number;
  hiddenActivation: Activation;
  outputActivation: Activation;
  /** Index of the layer (1 .. number of hidden layers) whose input is concat(previous activation, network input). */
  skipAt?: number;
  /** Largest number of rows processed at once (rounded down to a multiple of 64; default: binding limits). */
  chunkRows?: number;
}

/** Where one layer's parameters live in the flat tensor. */
export interface MlpLayerLayout {
  /** Element offset of W [in, out] (row-major). */
  wOffset: number;
  /** Element offset of b [out]. */
  bOffset: number;
  in: number;
  out: number;
  /** For the skip layer: rows of W that act on the previous activation (the rest act on the input); else `in`. */
  hiddenRows: number;
  activation: Activation;
}

/** Rounds up to a multiple of 4 elements, so every block can be read as whole vec4s. */
function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Widths of the hidden layers of `spec`. */
export function hiddenWidths(spec: MlpSpec): number[] {
  const h = Array.isArray(spec.hidden) ? spec.hidden : new Array(spec.hidden.depth).fill(spec.hidden.width);
  return [...h];
}

/** The layer layout of `spec` (validated); the total parameter count is the last bOffset + out. */
export function mlpLayout(spec: MlpSpec): MlpLayerLayout[] {
  const hidden = hiddenWidths(spec);
  for (
    const [what, v] of [
      ["inputs", spec.inputs],
      ["outputs", spec.outputs],
      ...hidden.map((w) => ["width", w]),
    ]
  ) {
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new Error(`MLP: ${what} must be a positive integer, got ${v}`);
    }
  }
  if (
    spec.skipAt !== undefined &&
    !(Number.isInteger(spec.skipAt) && spec.skipAt >= 1 && spec.skipAt <= hidden.length)
  ) {
    throw new Error(`MLP: skipAt must be a layer index from 1 to ${hidden.length}, got ${spec.skipAt}`);
  }
  const dims = [spec.inputs, ...hidden, spec.outputs];
  const layers: MlpLayerLayout[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < dims.length; l++) {
    const hiddenRows = dims[l];
    const inDim = l === spec.skipAt ? dims[l] + spec.inputs : dims[l];
    const out = dims[l + 1];
    const wOffset = align4(offset);
    const bOffset = align4(wOffset + inDim * out);
    layers.push({
      wOffset,
      bOffset,
      in: inDim,
      out,
      hiddenRows,
      activation: l + 2 === dims.length ? spec.outputActivation : spec.hiddenActivation,
    });
    offset = bOffset + out;
  }
  return layers;
}

/** One chunk of saved activations: rows [row0, row0 + rows) of the batch, hidden layer outputs [rows, width]. */
export interface MlpChunk {
  row0: number;
  rows: number;
  hidden: Tensor[];
}

/** What `forwardTrain` saves for `backward`. `output` must be left unchanged until `backward` has run. */
export interface MlpActivations {
  batch: number;
  input: Tensor;
  output: Tensor;
  chunks: MlpChunk[];
  /** Returns the saved tensors to the network's pool. */
  release(): void;
}

export interface MlpBackwardOptions {
  /** Add to `grads` instead of overwriting them. */
  accumulate?: boolean;
  /** Keep the activations for another backward (default: released). */
  keepActivations?: boolean;
}

/** A fully connected network with its parameters and gradients in flat tensors. */
export class Mlp {
  readonly gpu: Gpu;
  readonly spec: MlpSpec;
  /** All weights and biases (see the module comment for the layout). */
  readonly params: Tensor<"f32">;
  /** Gradients, same layout as `params`. */
  readonly grads: Tensor<"f32">;
  readonly paramCount: number;
  readonly layers: readonly MlpLayerLayout[];
  readonly chunkRows: number;
  #pool: TensorPool;

  constructor(gpu: Gpu, spec: MlpSpec) {
    this.gpu = gpu;
    this.spec = { ...spec, hidden: hiddenWidths(spec) };
    this.layers = mlpLayout(spec);
    const last = this.layers[this.layers.length - 1];
    this.paramCount = last.bOffset + last.out;
    this.params = Tensor.empty(gpu, [this.paramCount], "f32", "mlp.params");
    this.grads = Tensor.empty(gpu, [this.paramCount], "f32", "mlp.grads");
    this.#pool = new TensorPool(gpu);
    const widest = Math.max(spec.inputs, spec.outputs, ...this.layers.map((l) => l.out));
    const byBinding = Math.floor(gpu.limits.maxStorageBufferBindingSize / (4 * widest));
    const byGrid = gpu.limits.maxComputeWorkgroupsPerDimension * 64;
    const rows = Math.min(byBinding, byGrid, spec.chunkRows ?? Infinity);
    this.chunkRows = Math.max(64, Math.floor(rows / 64) * 64);
  }

  /** Each layer's parameter offsets and shape. */
  layout(): MlpLayerLayout[] {
    return this.layers.map((l) => ({ ...l }));
  }

  /**
   * Deterministic initialisation: W and b uniform in ±1/sqrt(in) (PyTorch's nn.Linear default), the last layer
   * scaled by `lastLayerScale` (default 1; 0 makes the network output start at zero).
   */
  init(seed: number, opts: { lastLayerScale?: number } = {}): void {
    const rng = new Rng(seed);
    const p = new Float32Array(this.paramCount);
    this.layers.forEach((l, i) => {
      const bound = (1 / Math.sqrt(l.in)) * (i === this.layers.length - 1 ? opts.lastLayerScale ?? 1 : 1);
      for (let j = l.wOffset; j < l.wOffset + l.in * l.out; j++) p[j] = rng.uniform(-bound, bound);
      for (let j = l.bOffset; j < l.bOffset + l.out; j++) p[j] = rng.uniform(-bound, bound);
    });
    this.params.upload(p);
  }

  /** Replaces all parameters. */
  setParams(p: Float32Array): void {
    if (p.length !== this.paramCount) {
      throw new Error(`MLP: expected ${this.paramCount} parameters, got ${p.length}`);
    }
    this.params.upload(p);
  }

  /**
   * Sets one layer's weights and bias. `weight` is [in, out] row-major (this module's layout), or [out, in] as
   * PyTorch's nn.Linear stores it when `torchLayout` is set (it is transposed on the CPU).
   */
  setLayer(l: number, weight: Float32Array, bias: Float32Array, torchLayout = false): void {
    const L = this.layers[l];
    if (!L) throw new Error(`MLP: no layer ${l} (the network has ${this.layers.length})`);
    if (weight.length !== L.in * L.out || bias.length !== L.out) {
      throw new Error(`MLP: layer ${l} needs ${L.in}x${L.out} weights and ${L.out} biases`);
    }
    let w = weight;
    if (torchLayout) {
      w = new Float32Array(L.in * L.out);
      for (let o = 0; o < L.out; o++) for (let i = 0; i < L.in; i++) w[i * L.out + o] = weight[o * L.in + i];
    }
    this.params.upload(w, L.wOffset);
    this.params.upload(bias, L.bOffset);
  }

  /** Reads all parameters back. */
  async getParams(): Promise<Float32Array> {
    return await this.params.read();
  }

  /** Reads all gradients back. */
  async getGrads(): Promise<Float32Array> {
    return await this.grads.read();
  }

  #checkIo(input: Tensor, output: Tensor): number {
    const batch = input.size / this.spec.inputs;
    if (!Number.isInteger(batch)) {
      throw new Error(`MLP: input has ${input.size} elements, not a multiple of ${this.spec.inputs} inputs`);
    }
    if (output.size !== batch * this.spec.outputs) {
      throw new Error(`MLP: output needs ${batch * this.spec.outputs} elements, has ${output.size}`);
    }
    return batch;
  }

  /** Records layer `l` for `rows` rows: out = act(x_l · W_l + b_l), x_l from `prev` (and `input` at the skip). */
  #layer(l: number, rows: number, prev: MatArg, input: MatArg, out: MatArg): void {
    const L = this.layers[l];
    const W = (row: number) => ({ tensor: this.params, offset: L.wOffset + row * L.out });
    const bias = { tensor: this.params, offset: L.bOffset };
    if (l === this.spec.skipAt) {
      matmul(this.gpu, { a: prev, b: W(0), c: out, m: rows, n: L.out, k: L.hiddenRows, bias });
      matmul(this.gpu, {
        a: input,
        b: W(L.hiddenRows),
        c: out,
        m: rows,
        n: L.out,
        k: this.spec.inputs,
        accumulate: true,
        activation: L.activation,
      });
    } else {
      matmul(this.gpu, {
        a: prev,
        b: W(0),
        c: out,
        m: rows,
        n: L.out,
        k: L.in,
        bias,
        activation: L.activation,
      });
    }
  }

  #forwardChunk(input: Tensor, output: Tensor, row0: number, rows: number, hidden: Tensor[]): void {
    const x = { tensor: input, offset: row0 * this.spec.inputs };
    let prev: MatArg = x;
    this.layers.forEach((_, l) => {
      const last = l === this.layers.length - 1;
      const out: MatArg = last ? { tensor: output, offset: row0 * this.spec.outputs } : hidden[l];
      this.#layer(l, rows, prev, x, out);
      prev = out;
    });
  }

  /** Records output [B, outputs] = MLP(input [B, inputs]) without keeping activations. */
  forward(input: Tensor, output: Tensor): void {
    const batch = this.#checkIo(input, output);
    const widest = Math.max(...this.layers.map((l) => l.out));
    const rows = Math.min(batch, this.chunkRows);
    const ping = [0, 1].map(() => this.#pool.acquire([rows * widest], "f32", "mlp.scratch"));
    for (let row0 = 0; row0 < batch; row0 += this.chunkRows) {
      const n = Math.min(this.chunkRows, batch - row0);
      const hidden = this.layers.slice(0, -1).map((_, l) => ping[l % 2]);
      this.#forwardChunk(input, output, row0, n, hidden);
    }
    for (const t of ping) t.destroy();
  }

  /** Records the forward pass and returns what `backward` needs (hidden activations per chunk). */
  forwardTrain(input: Tensor, output: Tensor): MlpActivations {
    const batch = this.#checkIo(input, output);
    const chunks: MlpChunk[] = [];
    for (let row0 = 0; row0 < batch; row0 += this.chunkRows) {
      const rows = Math.min(this.chunkRows, batch - row0);
      const hidden = this.layers.slice(0, -1).map((L, l) =>
        this.#pool.acquire([rows, L.out], "f32", `mlp.act${l}`)
      );
      this.#forwardChunk(input, output, row0, rows, hidden);
      chunks.push({ row0, rows, hidden });
    }
    let released = false;
    return {
      batch,
      input,
      output,
      chunks,
      release: () => {
        if (released) return;
        released = true;
        for (const c of chunks) for (const t of c.hidden) t.destroy();
      },
    };
  }

  /**
   * Records the backward pass from dOutput [B, outputs]: parameter gradients into `grads` (overwritten, or added
   * with `accumulate`) and, when given, the input gradient into dInput [B, inputs] (overwritten).
   */
  backward(acts: MlpActivations, dOutput: Tensor, dInput?: Tensor, opts: MlpBackwardOptions = {}): void {
    const { inputs, outputs } = this.spec;
    if (dOutput.size !== acts.batch * outputs) {
      throw new Error(`MLP: dOutput must have ${acts.batch * outputs} elements`);
    }
    if (dInput && dInput.size !== acts.batch * inputs) {
      throw new Error(`MLP: dInput must have ${acts.batch * inputs} elements`);
    }
    if (acts.batch === 0) {
      if (!opts.accumulate) this.grads.zero();
      return;
    }
    const widest = Math.max(...this.layers.map((l) => l.out));
    const rowsMax = Math.max(...acts.chunks.map((c) => c.rows));
    const ping = [0, 1].map(() => this.#pool.acquire([rowsMax * widest], "f32", "mlp.dz"));
    acts.chunks.forEach((chunk, ci) => {
      this.#backwardChunk(acts, chunk, dOutput, dInput, ping, ci > 0 || !!opts.accumulate);
    });
    for (const t of ping) t.destroy();
    if (!opts.keepActivations) acts.release();
  }

  #backwardChunk(
    acts: MlpActivations,
    chunk: MlpChunk,
    dOutput: Tensor,
    dInput: Tensor | undefined,
    ping: Tensor[],
    accumulate: boolean,
  ): void {
    const gpu = this.gpu;
    const { inputs, outputs } = this.spec;
    const { row0, rows, hidden } = chunk;
    const x = { tensor: acts.input, offset: row0 * inputs };
    const dx = dInput ? { tensor: dInput, offset: row0 * inputs } : undefined;
    const nL = this.layers.length;
    const outAct = this.layers[nL - 1].activation;
    // dZ of the output layer: dOutput * act'(output) (dOutput itself for the identity).
    let dz: MatArg = { tensor: dOutput, offset: row0 * outputs };
    if (outAct.kind !== "identity") {
      const count = rows * outputs;
      const g = bindRange(gpu, dz, count, "dOutput");
      const y = bindRange(gpu, { tensor: acts.output, offset: row0 * outputs }, count, "output");
      const pipe = gpu.pipeline(GRAD_WGSL, "main", { ACT: ACTIVATION_CODE[outAct.kind] }, "mlp_grad");
      dispatch(gpu, pipe, {
        bindings: [
          g.binding,
          y.binding,
          ping[0],
          uniforms(gpu, [count, g.offset, y.offset, 0, { f32: activationBeta(outAct) }]),
        ],
        workgroups: Math.ceil(count / 256),
      });
      dz = ping[0];
    }
    let wrote = false; // whether dx holds a contribution already
    for (let l = nL - 1; l >= 0; l--) {
      const L = this.layers[l];
      const prev: MatArg = l === 0 ? x : hidden[l - 1];
      const gW = (row: number) => ({ tensor: this.grads, offset: L.wOffset + row * L.out });
      const W = (row: number) => ({ tensor: this.params, offset: L.wOffset + row * L.out });
      // Parameter gradients: dW = x_lᵀ · dZ (the skip layer in two row blocks), db = column sums of dZ.
      matmul(gpu, { a: prev, b: dz, c: gW(0), m: L.hiddenRows, n: L.out, k: rows, transA: true, accumulate });
      if (l === this.spec.skipAt) {
        matmul(gpu, {
          a: x,
          b: dz,
          c: gW(L.hiddenRows),
          m: inputs,
          n: L.out,
          k: rows,
          transA: true,
          accumulate,
        });
        if (dx) {
          matmul(gpu, {
            a: dz,
            b: W(L.hiddenRows),
            c: dx,
            m: rows,
            n: inputs,
            k: L.out,
            transB: true,
            accumulate: wrote,
          });
          wrote = true;
        }
      }
      columnSum(gpu, {
        x: dz,
        rows,
        cols: L.out,
        out: { tensor: this.grads, offset: L.bOffset },
        accumulate,
      });
      if (l > 0) {
        // dZ of the previous layer: (dZ · W_hᵀ) * act'(h_{l-1}).
        const next = dz === ping[0] ? ping[1] : ping[0];
        const act = this.layers[l - 1].activation;
        matmul(gpu, {
          a: dz,
          b: W(0),
          c: next,
          m: rows,
          n: L.hiddenRows,
          k: L.out,
          transB: true,
          gradOf: act.kind === "identity" ? undefined : { activation: act, output: hidden[l - 1] },
        });
        dz = next;
      } else if (dx) {
        matmul(gpu, { a: dz, b: W(0), c: dx, m: rows, n: inputs, k: L.out, transB: true, accumulate: wrote });
      }
    }
  }

  /** Frees the parameters, gradients and pooled buffers. */
  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    this.#pool.clear();
  }
}
