/**
 * Typed GPU tensors: a storage buffer with a shape and an element type, plus upload, readback and reuse.
 *
 * Every tensor buffer has usage STORAGE | COPY_SRC | COPY_DST and a byte size rounded up to a multiple of 4 (at
 * least 4 bytes, so an empty tensor can still be bound). Elements are tightly packed, row-major.
 */
import type { Gpu } from "./device.ts";

export type DType = "f32" | "u32" | "i32";
export type TypedArray = Float32Array | Uint32Array | Int32Array;
export type ArrayFor<D extends DType> = D extends "f32" ? Float32Array : D extends "u32" ? Uint32Array
: Int32Array;

export const BYTES_PER_ELEMENT = 4;

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor shape [${shape.join(", ")}]`);
    n *= d;
  }
  return n;
}

function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return "f32";
  if (data instanceof Uint32Array) return "u32";
  return "i32";
}

/** Allocates an array of `n` elements of type `dtype` on the CPU. */
export function cpuArray<D extends DType>(dtype: D, n: number): ArrayFor<D> {
  const a = dtype === "f32" ? new Float32Array(n) : dtype === "u32" ? new Uint32Array(n) : new Int32Array(n);
  return a as ArrayFor<D>;
}

/** A GPU buffer holding `prod(shape)` elements of `dtype`. */
export class Tensor<D extends DType = DType> {
  readonly gpu: Gpu;
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly label: string;
  #pool: TensorPool | null;
  #released = false;

  constructor(
    gpu: Gpu,
    buffer: GPUBuffer,
    shape: readonly number[],
    dtype: D,
    label: string,
    pool?: TensorPool,
  ) {
    this.gpu = gpu;
    this.buffer = buffer;
    this.shape = [...shape];
    this.dtype = dtype;
    this.label = label;
    this.#pool = pool ?? null;
    if (buffer.size < this.byteSize) throw new Error(`buffer for ${label} is smaller than its shape`);
  }

  /** A new zero-filled tensor. */
  static empty<D extends DType = "f32">(
    gpu: Gpu,
    shape: readonly number[],
    dtype?: D,
    label = "tensor",
  ): Tensor<D> {
    const dt = (dtype ?? "f32") as D;
    const bytes = roundBytes(product(shape) * BYTES_PER_ELEMENT);
    const buffer = gpu.guard(
      `allocating ${label} (${formatBytes(bytes)})`,
      () => gpu.device.createBuffer({ size: bytes, usage: USAGE, label }),
    );
    return new Tensor(gpu, buffer, shape, dt, label);
  }

  /** A new tensor holding `data` (shape defaults to 1-D). */
  static from<A extends TypedArray>(
    gpu: Gpu,
    data: A,
    shape: readonly number[] = [data.length],
    label = "tensor",
  ): Tensor<DType> {
    if (product(shape) !== data.length) {
      throw new Error(`${label}: shape [${shape.join(", ")}] does not match ${data.length} elements`);
    }
    const t = Tensor.empty(gpu, shape, dtypeOf(data), label);
    if (data.length > 0) gpu.device.queue.writeBuffer(t.buffer, 0, data as BufferSource);
    return t;
  }

  /** Number of elements. */
  get size(): number {
    return product(this.shape);
  }

  /** Bytes used by the elements (the buffer may be larger). */
  get byteSize(): number {
    return this.size * BYTES_PER_ELEMENT;
  }

  /**
   * Writes `data` into the tensor at element `offset`. Commands recorded before this call are submitted first so
   * they still see the old contents.
   */
  upload(data: TypedArray, offset = 0): void {
    if (offset + data.length > this.size) {
      throw new Error(
        `${this.label}: upload of ${data.length} elements at ${offset} exceeds size ${this.size}`,
      );
    }
    this.gpu.flush();
    if (data.length > 0) {
      this.gpu.device.queue.writeBuffer(this.buffer, offset * BYTES_PER_ELEMENT, data as BufferSource);
    }
  }

  /** Records a fill with zeros into the shared encoder. */
  zero(): void {
    if (this.byteSize > 0) this.gpu.encoder.clearBuffer(this.buffer, 0, roundBytes(this.byteSize));
  }

  /** Records a copy of `src` (same element count) into this tensor. */
  copyFrom(src: Tensor): void {
    if (src.size !== this.size) {
      throw new Error(`${this.label}: copy from ${src.label} with a different size`);
    }
    if (this.byteSize > 0) this.gpu.encoder.copyBufferToBuffer(src.buffer, 0, this.buffer, 0, this.byteSize);
  }

  /** Submits pending work and reads the tensor back. */
  async read(): Promise<ArrayFor<D>> {
    const out = await readBuffer(this.gpu, this.buffer, this.byteSize);
    const n = this.size;
    if (this.dtype === "f32") return new Float32Array(out, 0, n) as ArrayFor<D>;
    if (this.dtype === "u32") return new Uint32Array(out, 0, n) as ArrayFor<D>;
    return new Int32Array(out, 0, n) as ArrayFor<D>;
  }

  /** The same buffer seen with another shape of equal element count. */
  reshape(shape: readonly number[]): Tensor<D> {
    if (product(shape) !== this.size) {
      throw new Error(`${this.label}: cannot reshape [${this.shape}] to [${shape}]`);
    }
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, this.label);
  }

  /** Releases the buffer (back to its pool when it came from one). Safe to call twice. */
  destroy(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#pool) this.#pool.release(this.buffer);
    else this.gpu.destroyAfterSubmit(this.buffer);
  }
}

function stagingBuffer(gpu: Gpu, size: number): GPUBuffer {
  return gpu.device.createBuffer({
    size,
    usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    label: "readback",
  });
}

/** Submits the recorded work and maps `staging` for reading: one counted GPU wait; GPU errors surface first. */
async function submitAndMap(gpu: Gpu, staging: GPUBuffer): Promise<void> {
  gpu.flush();
  gpu.waits++;
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    await gpu.throwErrors();
    throw e;
  }
}

/** Copies `bytes` bytes of `buffer` to the CPU after submitting all recorded work. */
export async function readBuffer(
  gpu: Gpu,
  buffer: GPUBuffer,
  bytes: number,
  offset = 0,
): Promise<ArrayBuffer> {
  const size = roundBytes(bytes);
  const staging = stagingBuffer(gpu, size);
  if (bytes > 0) gpu.encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
  await submitAndMap(gpu, staging);
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  await gpu.throwErrors();
  return copy;
}

/**
 * Reads several tensors back with one GPU wait (one staging buffer, one map), in order. Checkpoints and density
 * control use it so that reading a whole training state costs one wait instead of one per tensor.
 */
export async function readTensors(gpu: Gpu, tensors: readonly Tensor[]): Promise<TypedArray[]> {
  const offsets: number[] = [];
  let bytes = 0;
  for (const t of tensors) {
    offsets.push(bytes);
    bytes += roundBytes(t.byteSize);
  }
  if (tensors.length === 0) return [];
  const staging = stagingBuffer(gpu, roundBytes(bytes));
  tensors.forEach((t, i) => {
    if (t.byteSize > 0) {
      gpu.encoder.copyBufferToBuffer(t.buffer, 0, staging, offsets[i], roundBytes(t.byteSize));
    }
  });
  await submitAndMap(gpu, staging);
  const mapped = staging.getMappedRange();
  // Each result owns its own ArrayBuffer (callers may hand `.buffer` on, e.g. to file writers).
  const out = tensors.map((t, i) => {
    const copy = mapped.slice(offsets[i], offsets[i] + t.byteSize);
    if (t.dtype === "f32") return new Float32Array(copy);
    if (t.dtype === "u32") return new Uint32Array(copy);
    return new Int32Array(copy);
  });
  staging.unmap();
  staging.destroy();
  await gpu.throwErrors();
  return out;
}

/**
 * Reuses buffers between steps: `acquire` returns a zero-filled tensor whose buffer has exactly the rounded byte
 * size requested, taken from released buffers when one fits. Training loops allocate the same sizes every step,
 * so this removes allocation from the hot path.
 */
export class TensorPool {
  readonly gpu: Gpu;
  #free = new Map<number, GPUBuffer[]>();

  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  acquire<D extends DType = "f32">(shape: readonly number[], dtype?: D, label = "pooled"): Tensor<D> {
    const bytes = roundBytes(product(shape) * BYTES_PER_ELEMENT);
    const list = this.#free.get(bytes);
    const buffer = list?.pop() ??
      this.gpu.guard(
        `allocating ${label} (${formatBytes(bytes)})`,
        () => this.gpu.device.createBuffer({ size: bytes, usage: USAGE, label }),
      );
    const t = new Tensor(this.gpu, buffer, shape, (dtype ?? "f32") as D, label, this);
    t.zero();
    return t;
  }

  release(buffer: GPUBuffer): void {
    const list = this.#free.get(buffer.size) ?? [];
    list.push(buffer);
    this.#free.set(buffer.size, list);
  }

  /** Frees every idle buffer. */
  clear(): void {
    for (const list of this.#free.values()) for (const b of list) this.gpu.destroyAfterSubmit(b);
    this.#free.clear();
  }
}

function roundBytes(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
