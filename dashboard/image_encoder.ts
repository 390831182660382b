/**
 * PNG encoding of dashboard renders in a worker (image_worker.ts), so composing and compressing images never
 * runs on the thread that drives training. One encoder is shared by every client: an image is encoded once
 * and the bytes are sent to all.
 */
import type { EncodeReply, EncodeRequest } from "./image_worker.ts";

/** An encoded PNG. */
export interface EncodedImage {
  png: Uint8Array;
  width: number;
  height: number;
  /** The worker's time on it, ms (its queue not counted: what the encoding itself cost). */
  ms: number;
}

/** Encodes renders to PNG in a worker. */
export class ImageEncoder {
  #worker: Worker;
  #next = 1;
  #waiting = new Map<number, { resolve(r: EncodedImage): void; reject(e: Error): void }>();

  constructor() {
    this.#worker = new Worker(new URL("./image_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<EncodeReply>) => {
      const r = e.data, w = this.#waiting.get(r.id);
      if (!w) return;
      this.#waiting.delete(r.id);
      if (r.png && r.width && r.height) {
        w.resolve({ png: r.png, width: r.width, height: r.height, ms: r.ms ?? 0 });
      } else w.reject(new Error(r.error ?? "image encoding failed"));
    };
  }

  /**
   * Encodes a render (f32 [H, W, 3] in 0..1): with `truth` (u8 [H, W, 3]) the panel ground truth | prediction
   * | error heat map, else the prediction alone. `pred` is transferred to the worker (unusable afterwards).
   */
  encode(pred: Float32Array, truth: Uint8Array | null, width: number, height: number): Promise<EncodedImage> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      const req: EncodeRequest = { id, pred, truth, width, height };
      this.#worker.postMessage(req, [pred.buffer as ArrayBuffer]);
    });
  }

  /** Stops the worker; pending encodings fail. */
  close(): void {
    this.#worker.terminate();
    for (const w of this.#waiting.values()) w.reject(new Error("image encoder closed"));
    this.#waiting.clear();
  }
}
