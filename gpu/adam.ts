/**
 * Adam / AdamW on flat f32 tensors, with bias correction and per-parameter-group learning rates that may change
 * every step. `adamStep` updates one contiguous range; `Adam` keeps moments and step counts for named groups.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { readTensors, Tensor } from "./tensor.ts";
import src from "./adam.wgsl" with { type: "text" };

const WG = 256;

export interface AdamHyper {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Weight decay; decoupled (AdamW) unless `decoupled` is false (then L2 added to the gradient). */
  weightDecay?: number;
  decoupled?: boolean;
}

export interface AdamStepArgs extends AdamHyper {
  params: Tensor;
  grads: Tensor;
  m: Tensor;
  v: Tensor;
  /** 1-based step number used for bias correction. */
  step: number;
  /** Elements to update (default: all of params after offset). */
  count?: number;
  offset?: number;
  /** Gate the update on the GPU (see `AdamGate`); `step` is then the step count assuming no unseen skip. */
  gate?: AdamGate;
}

/**
 * A GPU-side update gate (training/update_gate.ts): `state` u32 [>= 2] holds [apply flag of the current step,
 * steps skipped so far]; `knownSkips` is how many of those skips the CPU has seen, `pending` how many steps it
 * has recorded since (at most that many unseen skips). A gated update does nothing when the flag is 0, and
 * otherwise uses the bias correction of t = step - (unseen skips), so skipped steps never advance Adam.
 */
export interface AdamGate {
  state: Tensor;
  knownSkips: number;
  pending: number;
}

const always = new WeakMap<Gpu, Tensor>();

/** The open gate [1, 0] of ungated updates (one per device). */
function openGate(gpu: Gpu): Tensor {
  let t = always.get(gpu);
  if (!t) always.set(gpu, t = Tensor.from(gpu, Uint32Array.from([1, 0]), [2], "adam.openGate"));
  return t;
}

/** A storage buffer with `data`, freed after the next submit. */
function ephemeral(gpu: Gpu, data: Float32Array): GPUBuffer {
  const buf = gpu.device.createBuffer({
    size: Math.max(16, data.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    label: "adam.bias",
  });
  gpu.device.queue.writeBuffer(buf, 0, data as BufferSource);
  gpu.destroyAfterSubmit(buf);
  return buf;
}

/** Records one Adam update of params[offset, offset + count) into the shared encoder. */
export function adamStep(gpu: Gpu, a: AdamStepArgs): void {
  const offset = a.offset ?? 0;
  const count = a.count ?? a.params.size - offset;
  for (const t of [a.grads, a.m, a.v]) {
    if (t.size < offset + count) {
      throw new Error(`adamStep: ${t.label} has ${t.size} elements, need ${offset + count}`);
    }
  }
  if (a.params.size < offset + count) throw new Error(`adamStep: params smaller than offset + count`);
  if (!(a.step >= 1) || !Number.isInteger(a.step)) throw new Error(`adamStep: step must be an integer >= 1`);
  const b1 = a.beta1 ?? 0.9;
  const b2 = a.beta2 ?? 0.999;
  const maxK = a.gate ? a.gate.pending : 0;
  const bias = new Float32Array(2 * (maxK + 1));
  for (let k = 0; k <= maxK; k++) {
    const t = a.step - k;
    if (t >= 1) bias.set([1 / (1 - b1 ** t), 1 / (1 - b2 ** t)], 2 * k);
  }
  dispatch(gpu, gpu.pipeline(src, "main", { WG }, "adam"), {
    bindings: [
      a.params,
      a.grads,
      a.m,
      a.v,
      uniforms(gpu, [
        count,
        offset,
        { f32: a.lr },
        { f32: b1 },
        { f32: b2 },
        { f32: a.eps ?? 1e-8 },
        { f32: a.weightDecay ?? 0 },
        a.gate?.knownSkips ?? 0,
        maxK,
        a.decoupled === false ? 0 : 1,
      ]),
      a.gate?.state ?? openGate(gpu),
      ephemeral(gpu, bias),
    ],
    workgroups: Math.ceil(count / WG),
  });
}

/** CPU reference of one Adam step (float64 arithmetic, writes back into the arrays). */
export function adamStepCpu(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  h: AdamHyper,
): void {
  const b1 = h.beta1 ?? 0.9, b2 = h.beta2 ?? 0.999, eps = h.eps ?? 1e-8, wd = h.weightDecay ?? 0;
  const decoupled = h.decoupled !== false;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (!decoupled) gi += wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    const mhat = m[i] / (1 - b1 ** step);
    const vhat = v[i] / (1 - b2 ** step);
    let pi = p[i];
    if (decoupled) pi -= h.lr * wd * pi;
    p[i] = pi - h.lr * mhat / (Math.sqrt(vhat) + eps);
  }
}

/** A named parameter group: a parameter tensor and its gradient, with its own hyper-parameters. */
export interface AdamGroup extends AdamHyper {
  name: string;
  params: Tensor;
  grads: Tensor;
}

/** Serializable optimizer state of one group (for checkpoints). */
export interface AdamGroupState {
  name: string;
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * Adam over several parameter groups. Each group keeps its own moments and step count (groups can be added or
 * replaced, e.g. after densification, with `setGroup`). Learning rates can be changed before any step with
 * `setLr`, so schedules are applied by the caller.
 */
export class Adam {
  readonly gpu: Gpu;
  #groups = new Map<string, { g: AdamGroup; m: Tensor; v: Tensor; step: number; skipBase: number }>();
  /**
   * With a gate, every `step()` is gated on the GPU and counts as attempted; a group's Adam step is its attempted
   * steps minus the skips since the group was set (`knownSkips` at `setGroup` is the base).
   */
  gate: AdamGate | null = null;

  constructor(gpu: Gpu, groups: AdamGroup[] = []) {
    this.gpu = gpu;
    for (const g of groups) this.setGroup(g);
  }

  /** Adds or replaces a group; moments start at zero unless `state` is given (e.g. remapped after densify). */
  setGroup(g: AdamGroup, state?: { m: Float32Array; v: Float32Array; step: number }): void {
    if (g.grads.size !== g.params.size) {
      throw new Error(`Adam group ${g.name}: grads and params differ in size`);
    }
    const old = this.#groups.get(g.name);
    old?.m.destroy();
    old?.v.destroy();
    const m = Tensor.empty(this.gpu, [g.params.size], "f32", `${g.name}.adam_m`);
    const v = Tensor.empty(this.gpu, [g.params.size], "f32", `${g.name}.adam_v`);
    if (state) {
      m.upload(state.m);
      v.upload(state.v);
    }
    this.#groups.set(g.name, { g, m, v, step: state?.step ?? 0, skipBase: this.gate?.knownSkips ?? 0 });
  }

  get groupNames(): string[] {
    return [...this.#groups.keys()];
  }

  group(name: string): AdamGroup {
    const e = this.#groups.get(name);
    if (!e) throw new Error(`Adam: no parameter group '${name}'`);
    return e.g;
  }

  setLr(name: string, lr: number): void {
    this.group(name).lr = lr;
  }

  /** Records one update of every group (or only `names`). */
  step(names?: string[]): void {
    for (const [name, e] of this.#groups) {
      if (names && !names.includes(name)) continue;
      e.step++;
      const gate = this.gate ?? undefined;
      adamStep(this.gpu, { ...e.g, m: e.m, v: e.v, step: this.#applied(e), gate });
    }
  }

  /** A group's Adam step count: attempted steps less the skips the CPU knows of (all of them, when drained). */
  #applied(e: { step: number; skipBase: number }): number {
    return e.step - (this.gate ? this.gate.knownSkips - e.skipBase : 0);
  }

  /** Reads the moments and step counts back for a checkpoint (with a gate: call it when every skip is known). */
  async state(): Promise<AdamGroupState[]> {
    const groups = [...this.#groups.entries()];
    const data = await readTensors(this.gpu, groups.flatMap(([, e]) => [e.m, e.v])) as Float32Array[];
    return groups.map(([name, e], i) => ({
      name,
      step: this.#applied(e),
      m: data[2 * i],
      v: data[2 * i + 1],
    }));
  }

  destroy(): void {
    for (const e of this.#groups.values()) {
      e.m.destroy();
      e.v.destroy();
    }
    this.#groups.clear();
  }
}
