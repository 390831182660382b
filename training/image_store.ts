/**
 * Training images on the GPU: the train split's u8 RGB images are uploaded once, packed four bytes per u32 word
 * into chunks of at most one storage binding each (an image never straddles two chunks), as long as they fit
 * `budgetBytes` in total; each step unpacks its batch into the f32 target tensor with image_unpack.wgsl (no
 * per-step upload). Frames past the budget (and batches holding one) are uploaded per step as before
 * (`frameTargets`, the CPU reference of the unpacking).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Frame } from "../data/dataset.ts";
import { frameTargets } from "./frame_batches.ts";
import src from "./image_unpack.wgsl" with { type: "text" };

const WG = 256;

/** Where a resident frame lives: chunk index and first word in it. */
interface Slot {
  chunk: number;
  word: number;
}

/** The train images, resident or streamed (see the module comment). */
export class ImageStore {
  readonly gpu: Gpu;
  #chunks: Tensor[] = [];
  #table: Tensor | null = null;
  #slot = new Map<Frame, Slot>();
  /** Frames given to the constructor. */
  readonly frames: number;

  /** `chunkBytes` caps a chunk (default: the device's storage binding size; tests lower it). */
  constructor(gpu: Gpu, frames: readonly Frame[], budgetBytes: number, chunkBytes?: number) {
    this.gpu = gpu;
    this.frames = frames.length;
    const chunkWords = Math.floor((chunkBytes ?? gpu.limits.maxStorageBufferBindingSize) / 4);
    let budgetWords = Math.floor(budgetBytes / 4);
    const layout: Frame[][] = [];
    let words = 0;
    for (const f of frames) {
      const n = Math.ceil(f.image.length / 4);
      if (n > budgetWords || n > chunkWords) break;
      if (layout.length === 0 || words + n > chunkWords) layout.push([]), words = 0;
      this.#slot.set(f, { chunk: layout.length - 1, word: words });
      layout[layout.length - 1].push(f);
      words += n;
      budgetWords -= n;
    }
    for (const [c, list] of layout.entries()) {
      const last = this.#slot.get(list[list.length - 1])!;
      const bytes = new Uint8Array(4 * (last.word + Math.ceil(list[list.length - 1].image.length / 4)));
      for (const f of list) bytes.set(f.image, 4 * this.#slot.get(f)!.word);
      this.#chunks.push(Tensor.from(gpu, new Uint32Array(bytes.buffer), undefined, `trainer.images${c}`));
    }
    if (this.#slot.size > 0) {
      const table = Float32Array.from({ length: 256 }, (_, b) => b / 255);
      this.#table = Tensor.from(gpu, table, [256], "images.table");
    }
  }

  /** Frames kept on the GPU (the first ones that fit the budget). */
  get residentFrames(): number {
    return this.#slot.size;
  }

  /** Whether every frame lives on the GPU. */
  get resident(): boolean {
    return this.frames > 0 && this.#slot.size === this.frames;
  }

  /** GPU chunks holding the images. */
  get chunks(): number {
    return this.#chunks.length;
  }

  /** The frames' targets [V, H, W, 3] f32 in 0..1 (destroy it after the step). */
  target(frames: readonly Frame[]): Tensor {
    if (!this.#table || frames.some((f) => !this.#slot.has(f))) {
      return Tensor.from(this.gpu, frameTargets(frames), undefined, "trainer.target");
    }
    const n = frames.reduce((s, f) => s + f.image.length, 0);
    const out = Tensor.empty(this.gpu, [n], "f32", "trainer.target");
    let dst = 0;
    for (const f of frames) {
      const count = f.image.length, slot = this.#slot.get(f)!;
      dispatch(this.gpu, this.gpu.pipeline(src, "main", { WG }, "trainer.unpackImage"), {
        bindings: [this.#chunks[slot.chunk], this.#table, out, uniforms(this.gpu, [slot.word, dst, count])],
        workgroups: Math.ceil(count / WG),
      });
      dst += count;
    }
    return out;
  }

  destroy(): void {
    for (const c of this.#chunks) c.destroy();
    this.#chunks = [];
    this.#table?.destroy();
  }
}
