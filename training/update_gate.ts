/**
 * The GPU-side update gate of streamed training steps (update_gate.wgsl): each step's apply decision (finite
 * loss, Laplacian terms and canonical sums, a render within its pair capacity, not halted by an earlier
 * overflow) is made on the GPU and zeroes the update there (Adam and the density statistics read the flag), and
 * each step's record (losses, pair count, flags) goes into a ring that `drain` reads in one wait, a few steps
 * late. An overflow halts the gate until `clearHalt`: every later step is skipped too, so the trainer can redo
 * the overflowed step and the ones after it with a larger capacity, and the result is that of a run that never
 * overflowed. The gate is also Adam's `AdamGate` (skipped steps never advance Adam's step count).
 */
import type { AdamGate } from "../gpu/adam.ts";
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import src from "./update_gate.wgsl" with { type: "text" };

/** u32 words per ring row (layout in update_gate.wgsl). */
export const GATE_ROW = 20;
/** Values of step_values.ts checked for finiteness (3 losses + 6 canonical sums). */
export const GATE_VALUES = 9;

/** One step's record as read back. */
export interface StepRecord {
  step: number;
  applied: boolean;
  /** This step's render needed more pairs than its capacity (the step is redone). */
  overflow: boolean;
  /** Skipped because an earlier step overflowed (redone with it). */
  halted: boolean;
  pairs: number;
  capacity: number;
  /** Steps skipped on the GPU up to and including this one. */
  skips: number;
  /** step_values.ts values 0..8 (L1, SSIM, regularizer, canonical sums). */
  values: Float32Array;
  lapFeatures: number;
  lapDynamics: number;
  cycle: number;
}

/** CPU reference of update_gate.wgsl: updates `state` [4] in place and returns the ring row. */
export function updateGateCpu(
  state: Uint32Array,
  values: Float32Array,
  lap: Float32Array,
  pairs: Uint32Array,
  step: number,
): Uint32Array {
  const finite = [...values.subarray(0, GATE_VALUES), lap[0], lap[1]].every(Number.isFinite);
  const overflow = pairs[2] !== 0;
  const halted = state[2] !== 0 || overflow;
  const applied = finite && !halted;
  state[0] = applied ? 1 : 0;
  if (!applied) state[1] += 1;
  state[2] = halted ? 1 : 0;
  const row = new Uint32Array(GATE_ROW);
  row.set([step, state[0], overflow ? 1 : 0, state[2], pairs[0], pairs[3], state[1]]);
  row.set(new Uint32Array(Float32Array.from(values.subarray(0, GATE_VALUES)).buffer), 7);
  row.set(new Uint32Array(Float32Array.from([lap[0], lap[1]]).buffer), 16);
  return row;
}

/** Parses ring row `r` of `ring`. */
export function parseRecord(ring: Uint32Array, r: number): StepRecord {
  const row = ring.subarray(r * GATE_ROW, (r + 1) * GATE_ROW);
  const f = new Float32Array(row.buffer, row.byteOffset, GATE_ROW);
  return {
    step: row[0],
    applied: row[1] !== 0,
    overflow: row[2] !== 0,
    halted: row[3] !== 0 && row[2] === 0,
    pairs: row[4],
    capacity: row[5],
    skips: row[6],
    values: Float32Array.from(f.subarray(7, 16)),
    lapFeatures: f[16],
    lapDynamics: f[17],
    cycle: f[18],
  };
}

/** The gate state, the record ring and the CPU's view of them (see the module comment). */
export class UpdateGate implements AdamGate {
  readonly gpu: Gpu;
  /** u32 [4]: apply flag of the current step, skips so far, halted, unused. */
  readonly state: Tensor<"u32">;
  readonly ring: Tensor<"u32">;
  /** Rows of the ring: at most this many steps may be recorded between two drains. */
  readonly rows: number;
  knownSkips = 0;
  #slots: number[] = [];
  #next = 0;

  constructor(gpu: Gpu, rows: number) {
    this.gpu = gpu;
    this.rows = rows;
    this.state = Tensor.empty(gpu, [4], "u32", "gate.state");
    this.ring = Tensor.empty(gpu, [rows, GATE_ROW], "u32", "gate.ring");
  }

  /** Steps recorded since the last drain. */
  get pending(): number {
    return this.#slots.length;
  }

  /**
   * Records the gate of step `step` from its values [>= 9] f32, Laplacian losses [2] f32 and render pair info [4]
   * u32 (the decision the step's Adam update and density fold then read).
   */
  record(step: number, values: Tensor, lap: Tensor, pairInfo: Tensor): void {
    if (this.#slots.length >= this.rows) throw new Error("UpdateGate: drain before recording more steps");
    const slot = this.#next;
    this.#next = (this.#next + 1) % this.rows;
    this.#slots.push(slot);
    dispatch(this.gpu, this.gpu.pipeline(src, "main", {}, "trainer.updateGate"), {
      bindings: [values, lap, pairInfo, this.state, this.ring, uniforms(this.gpu, [step, slot, GATE_VALUES])],
      workgroups: 1,
    });
  }

  /** Records a copy of the current step's cycle residual (f32 element `index` of `values`) into its record. */
  recordCycle(values: Tensor, index: number): void {
    const slot = this.#slots.at(-1);
    if (slot === undefined) throw new Error("UpdateGate.recordCycle: no step recorded");
    this.gpu.encoder.copyBufferToBuffer(
      values.buffer,
      4 * index,
      this.ring.buffer,
      4 * (slot * GATE_ROW + 18),
      4,
    );
  }

  /** Reads the records of every step recorded since the last drain (one GPU wait), oldest first. */
  async drain(): Promise<StepRecord[]> {
    if (this.#slots.length === 0) return [];
    const ring = await this.ring.read() as Uint32Array;
    const out = this.#slots.map((s) => parseRecord(ring, s));
    this.#slots = [];
    this.knownSkips = out[out.length - 1].skips;
    return out;
  }

  /** Re-opens a gate halted by an overflow (before the redone steps are recorded). */
  clearHalt(): void {
    this.state.upload(Uint32Array.from([0]), 2);
  }

  destroy(): void {
    this.state.destroy();
    this.ring.destroy();
  }
}
