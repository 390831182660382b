/**
 * Training images on the GPU: when the train split's u8 RGB images fit `budgetBytes` (and one storage binding)
 * they are uploaded once, packed four bytes per u32 word, and each step unpacks its batch into the f32 target
 * tensor with image_unpack.wgsl (no per-step upload); otherwise each step uploads its batch as before
 * (`frameTargets`, the CPU reference of the unpacking).
 */
import type { Gpu } from "../gpu/device.ts";
import { dispatch, uniforms } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Frame } from "../data/dataset.ts";
import { frameTargets } from "./frame_batches.ts";
import src from "./image_unpack.wgsl" with { type: "text" };

const WG = 256;

/** The train images, resident or streamed (see the module comment). */
export class ImageStore {
  readonly gpu: Gpu;
  /** Whether the images live on the GPU. */
  readonly resident: boolean;
  #packed: Tensor | null = null;
  #table: Tensor | null = null;
  #word = new Map<Frame, number>();

  constructor(gpu: Gpu, frames: readonly Frame[], budgetBytes: number) {
    this.gpu = gpu;
    let words = 0;
    for (const f of frames) {
      this.#word.set(f, words);
      words += Math.ceil(f.image.length / 4);
    }
    this.resident = frames.length > 0 &&
      4 * words <= Math.min(budgetBytes, gpu.limits.maxStorageBufferBindingSize);
    if (!this.resident) return;
    const bytes = new Uint8Array(4 * words);
    for (const f of frames) bytes.set(f.image, 4 * this.#word.get(f)!);
    this.#packed = Tensor.from(gpu, new Uint32Array(bytes.buffer), [words], "trainer.images");
    this.#table = Tensor.from(
      gpu,
      Float32Array.from({ length: 256 }, (_, b) => b / 255),
      [256],
      "images.table",
    );
  }

  /** The frames' targets [V, H, W, 3] f32 in 0..1 (destroy it after the step). */
  target(frames: readonly Frame[]): Tensor {
    if (!this.resident || frames.some((f) => !this.#word.has(f))) {
      return Tensor.from(this.gpu, frameTargets(frames), undefined, "trainer.target");
    }
    const n = frames.reduce((s, f) => s + f.image.length, 0);
    const out = Tensor.empty(this.gpu, [n], "f32", "trainer.target");
    let dst = 0;
    for (const f of frames) {
      const count = f.image.length;
      dispatch(this.gpu, this.gpu.pipeline(src, "main", { WG }, "trainer.unpackImage"), {
        bindings: [this.#packed!, this.#table!, out, uniforms(this.gpu, [this.#word.get(f)!, dst, count])],
        workgroups: Math.ceil(count / WG),
      });
      dst += count;
    }
    return out;
  }

  destroy(): void {
    this.#packed?.destroy();
    this.#table?.destroy();
  }
}
