/**
 * Pair capacities for renders recorded without a read-back (`GaussianRasterizer.record`): the CPU reference of
 * pair_args.wgsl and the growth policy the trainer applies to the pair counts it reads a few steps late.
 *
 * Policy: start from a guess (8 pairs per (view, Gaussian) entry, at least 2^16); after each lagged read of a
 * render's total, grow to 1.25 x the total when the total came within 90% of the capacity (so a slowly growing
 * count is caught before it overflows), and always when it overflowed (that render's step is then redone).
 * The capacity never shrinks and never exceeds the device's limit.
 */
import { SORT_TILE } from "../gpu/radix_sort.ts";

/** CPU reference of pair_args.wgsl: the pair info and the indirect arguments (sort, then tile ranges). */
export function pairArgsCpu(
  total: number,
  capacity: number,
  rangeWg: number,
  maxDim: number,
): { info: Uint32Array; args: Uint32Array } {
  const used = Math.min(total, capacity);
  const wgs = Math.ceil(used / rangeWg);
  const y = Math.max(1, Math.ceil(wgs / maxDim));
  return {
    info: Uint32Array.from([total, used, total > capacity ? 1 : 0, capacity]),
    args: Uint32Array.from([Math.ceil(used / SORT_TILE), 1, 1, 0, Math.ceil(wgs / y), y, 1, 0]),
  };
}

/** The pair capacity of one kind of render (see the module comment). */
export class PairCapacity {
  /** Largest capacity allowed (the rasterizer's `maxPairs`). */
  readonly limit: number;
  #value: number;
  /** How many times the capacity grew. */
  grown = 0;

  constructor(limit: number, initial: number) {
    this.limit = limit;
    this.#value = Math.max(1, Math.min(limit, Math.ceil(initial)));
  }

  /** A first guess for `entries` (view, Gaussian) entries. */
  static guess(entries: number): number {
    return Math.max(1 << 16, 8 * entries);
  }

  get value(): number {
    return this.#value;
  }

  /**
   * Takes a render's total pair count (read late); returns whether it overflowed the capacity it was recorded
   * with. Grows when it overflowed or came within 90% of the current capacity; throws when even the device's
   * limit is too small.
   */
  observe(total: number, recordedWith = this.#value): boolean {
    if (total > this.limit) {
      throw new Error(
        `render: ${total} tile/Gaussian pairs exceed the device's largest storage buffer (at most ${this.limit} ` +
          `pairs); render fewer views per call or smaller images`,
      );
    }
    if (total > 0.9 * this.#value) {
      const next = Math.min(this.limit, Math.ceil(1.25 * total));
      if (next > this.#value) {
        this.#value = next;
        this.grown++;
      }
    }
    return total > recordedWith;
  }

  /** Sets the capacity (tests force overflows with it). */
  reset(n: number): void {
    this.#value = Math.max(1, Math.min(this.limit, Math.ceil(n)));
  }

  /** Raises the capacity to at least `n` (e.g. after the Gaussian count grew). */
  atLeast(n: number): void {
    const v = Math.min(this.limit, Math.ceil(n));
    if (v > this.#value) this.#value = v;
  }
}
