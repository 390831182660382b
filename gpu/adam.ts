/**
 * Adam / AdamW on flat f32 tensors, with bias correction and per-parameter-group learning rates that may change
 * every step. `adamStep` updates one contiguous range; `Adam` keeps moments and step counts for named groups.
 */
import type { Gpu } from "./device.ts";
import { dispatch, uniforms } from "./dispatch.ts";
import { Tensor } from "./tensor.ts";
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
        { f32: 1 / (1 - b1 ** a.step) },
        { f32: 1 / (1 - b2 ** a.step) },
        a.decoupled === false ? 0 : 1,
      ]),
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
  #groups = new Map<string, { g: AdamGroup; m: Tensor; v: Tensor; step: number }>();

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
    this.#groups.set(g.name, { g, m, v, step: state?.step ?? 0 });
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
      adamStep(this.gpu, { ...e.g, m: e.m, v: e.v, step: e.step });
    }
  }

  /** Reads the moments and step counts back for a checkpoint. */
  async state(): Promise<AdamGroupState[]> {
    const out: AdamGroupState[] = [];
    for (const [name, e] of this.#groups) {
      out.push({
        name,
        step: e.step,
        m: await e.m.read() as Float32Array,
        v: await e.v.read() as Float32Array,
      });
    }
    return out;
  }

  destroy(): void {
    for (const e of this.#groups.values()) {
      e.m.destroy();
      e.v.destroy();
    }
    this.#groups.clear();
  }
}
