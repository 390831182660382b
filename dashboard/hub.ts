/**
 * The dashboard's state and its live stream: turns trainer events into the page's state (status, loss
 * history, evaluations, log, latest image) and broadcasts each change, serialized once, to every connected
 * client's bounded queue (client_queue.ts). Nothing here touches the GPU; the event handler only records and
 * enqueues, so it costs the training loop microseconds.
 */
import type { TrainerEvent, TrainerPhase } from "../training/trainer.ts";
import { ClientQueue } from "./client_queue.ts";

/** The run's headline numbers. */
export interface DashboardStatus {
  mode: "train" | "view";
  phase: TrainerPhase | "starting" | "viewing";
  step: number;
  iters: number;
  stepsPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number | null;
  gaussians: number;
  paused: boolean;
  /** False once the run finished or stopped. */
  running: boolean;
}

/** One logged step's losses. */
export interface LossPoint {
  step: number;
  seconds: number;
  total: number;
  l1: number;
  ssim: number;
  reg: number;
}

/** One split's scores at an evaluation. */
export interface EvalPoint {
  step: number;
  split: string;
  psnr: number;
  ssim: number;
  l1: number;
  frames: number;
}

/** A log line. */
export interface LogEntry {
  time: string;
  level: "info" | "warn" | "error";
  message: string;
}

/** The latest published image (PNG as base64). */
export interface ImageMessage {
  id: number;
  step: number;
  kind: "live" | "render";
  camera: number;
  timestep: number | null;
  width: number;
  height: number;
  png: string;
}

/** Bounds of the kept history. */
export const MAX_LOSS_POINTS = 20_000;
export const MAX_LOG_ENTRIES = 500;

/** Base64 of bytes (chunked, so large images do not overflow the argument list). */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** State and broadcast of one dashboard. */
export class DashboardHub {
  readonly status: DashboardStatus;
  readonly losses: LossPoint[] = [];
  readonly evals: EvalPoint[] = [];
  readonly logs: LogEntry[] = [];
  image: ImageMessage | null = null;
  /** Called after each progress event (the live-render scheduler hooks in here). */
  onProgress: ((step: number) => void) | null = null;
  #clients = new Set<ClientQueue>();
  #imageId = 0;

  constructor(mode: "train" | "view", iters = 0) {
    this.status = {
      mode,
      phase: mode === "train" ? "starting" : "viewing",
      step: 0,
      iters,
      stepsPerSecond: 0,
      elapsedSeconds: 0,
      etaSeconds: null,
      gaussians: 0,
      paused: false,
      running: mode === "train",
    };
  }

  /** Connected clients. */
  get clients(): number {
    return this.#clients.size;
  }

  /** A new client's queue (its first message is the full snapshot). */
  subscribe(capacity = 256): ClientQueue {
    const q = new ClientQueue(capacity);
    q.push({ event: "snapshot", data: JSON.stringify(this.snapshot()) });
    this.#clients.add(q);
    return q;
  }

  /** Forgets a client (closes its queue). */
  unsubscribe(q: ClientQueue): void {
    q.close();
    this.#clients.delete(q);
  }

  /** Closes every client's stream. */
  closeAll(): void {
    for (const q of this.#clients) q.close();
    this.#clients.clear();
  }

  /** Sends `payload` (serialized once) to every client. */
  publish(event: string, payload: unknown): void {
    if (this.#clients.size === 0) return;
    const m = { event, data: JSON.stringify(payload) };
    for (const q of this.#clients) q.push(m);
  }

  /** Everything a freshly connected page needs. */
  snapshot(): {
    status: DashboardStatus;
    losses: LossPoint[];
    evals: EvalPoint[];
    logs: LogEntry[];
    image: ImageMessage | null;
  } {
    return {
      status: this.status,
      losses: this.losses,
      evals: this.evals,
      logs: this.logs,
      image: this.image,
    };
  }

  /** Adds a log line and broadcasts it. */
  log(level: LogEntry["level"], message: string): void {
    const e: LogEntry = { time: new Date().toISOString(), level, message };
    this.logs.push(e);
    if (this.logs.length > MAX_LOG_ENTRIES) this.logs.splice(0, this.logs.length - MAX_LOG_ENTRIES);
    this.publish("log", e);
  }

  /** Updates and broadcasts status fields. */
  setStatus(s: Partial<DashboardStatus>): void {
    Object.assign(this.status, s);
    this.publish("status", this.status);
  }

  /** Publishes an encoded image to every client. */
  publishImage(img: Omit<ImageMessage, "id" | "png"> & { png: Uint8Array }): ImageMessage {
    const m: ImageMessage = { ...img, id: ++this.#imageId, png: base64(img.png) };
    if (m.kind === "live") this.image = m;
    this.publish("image", m);
    return m;
  }

  /** The trainer listener: records the event and broadcasts it. */
  handle(e: TrainerEvent): void {
    switch (e.kind) {
      case "phase":
        this.log("info", e.message);
        this.setStatus({
          phase: e.phase,
          running: e.phase !== "done" && e.phase !== "stopped",
          paused: e.phase === "done" || e.phase === "stopped" ? false : this.status.paused,
        });
        break;
      case "progress": {
        const p: LossPoint = { step: e.step, seconds: e.elapsedSeconds, ...e.losses };
        this.losses.push(p);
        if (this.losses.length > MAX_LOSS_POINTS) {
          // Keep every other old point: the history stays bounded and spans the whole run.
          const old = this.losses.splice(0, MAX_LOSS_POINTS / 2).filter((_, i) => i % 2 === 0);
          this.losses.unshift(...old);
        }
        this.publish("loss", p);
        this.setStatus({
          phase: e.phase,
          step: e.step,
          iters: e.iters,
          stepsPerSecond: e.stepsPerSecond,
          elapsedSeconds: e.elapsedSeconds,
          etaSeconds: (e.iters - e.step) / Math.max(e.stepsPerSecond, 1e-9),
          gaussians: e.gaussians,
        });
        this.onProgress?.(e.step);
        break;
      }
      case "skipped":
        this.log("warn", `step ${e.step}: non-finite loss or parameters, update skipped`);
        break;
      case "rollback":
        this.log("warn", e.message);
        break;
      case "eval": {
        const pts = e.metrics.map((m) => ({ step: e.step, ...m }));
        this.evals.push(...pts);
        this.publish("eval", pts);
        this.log(
          "info",
          `eval at step ${e.step}: ` +
            e.metrics.map((m) => `${m.split} PSNR ${m.psnr.toFixed(2)} dB SSIM ${m.ssim.toFixed(4)}`).join(
              ", ",
            ),
        );
        break;
      }
      case "checkpoint":
        this.log("info", `checkpoint at step ${e.step}${e.final ? " (final)" : ""}`);
        break;
    }
  }
}
