/**
 * Worker that turns renders into PNG bytes off the training thread: composes the live panel (panel.ts) and
 * encodes it. Messages: `EncodeRequest` in, `EncodeReply` out (matched by `id`).
 */
import { encodePng } from "../data/image_io.ts";
import { composePanel, predictionImage } from "./panel.ts";

/** A render to encode: with `truth` the panel ground truth | prediction | error, else the prediction. */
export interface EncodeRequest {
  id: number;
  pred: Float32Array;
  truth: Uint8Array | null;
  width: number;
  height: number;
}

/** The encoded PNG (or an error message). */
export interface EncodeReply {
  id: number;
  png?: Uint8Array;
  width?: number;
  height?: number;
  /** Time the worker spent composing and encoding, ms (not counting its queue). */
  ms?: number;
  error?: string;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<EncodeRequest>) => void) | null;
  postMessage(m: EncodeReply, transfer?: Transferable[]): void;
};

scope.onmessage = (e: MessageEvent<EncodeRequest>) => {
  const r = e.data, t0 = performance.now();
  try {
    const img = r.truth
      ? composePanel(r.pred, r.truth, r.width, r.height)
      : predictionImage(r.pred, r.width, r.height);
    const png = encodePng(img.data, img.width, img.height, 3);
    const ms = performance.now() - t0;
    scope.postMessage({ id: r.id, png, width: img.width, height: img.height, ms }, [
      png.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    scope.postMessage({ id: r.id, error: (err as Error).message });
  }
};
