/**
 * One dashboard's back end, independent of HTTP: the hub (state + stream), the scene (cameras, timesteps,
 * expression codes, ground-truth frames), the model to render (set once the trainer or avatar exists), the
 * step gate, the PNG encoder and the controls. The live panel (ground truth | prediction | error) is refreshed
 * every `liveEvery` logged steps, at most once per `liveIntervalMs`, and only while someone is watching.
 */
import type { CameraInfo, Dataset, Frame } from "../data/dataset.ts";
import { ImageEncoder } from "./image_encoder.ts";
import { DashboardHub } from "./hub.ts";
import { GateClosedError, StepGate } from "./step_gate.ts";
import { renderView, viewCamera, type ViewModel, type ViewSpec } from "./avatar_view.ts";

/** What the page can choose from. */
export interface Scene {
  blendshapeNames: string[];
  expressionDim: number;
  /** Row-major [timesteps, expressionDim]. */
  expressions: Float32Array;
  timesteps: number;
  cameras: CameraInfo[];
  /** Frames with ground truth (every split), for the live panel. */
  frames: Frame[];
  /** Timesteps of each split. */
  splitTimesteps: Record<string, number[]>;
}

/** The scene of a dataset; blendshape names default to `expr 0`, `expr 1`, ... */
export function sceneFromDataset(ds: Dataset, names?: readonly string[]): Scene {
  const D = ds.expressionDim;
  const splitTimesteps: Record<string, number[]> = {};
  for (const [s, frames] of Object.entries(ds.splits)) {
    splitTimesteps[s] = [...new Set(frames.map((f) => f.timestep))].sort((a, b) => a - b);
  }
  return {
    blendshapeNames: names && names.length === D
      ? [...names]
      : Array.from({ length: D }, (_, i) => `expr ${i}`),
    expressionDim: D,
    expressions: ds.expressions,
    timesteps: ds.timesteps,
    cameras: ds.cameras,
    frames: [...ds.splits.train, ...ds.splits.val, ...ds.splits.test],
    splitTimesteps,
  };
}

/** The trainer controls the page can use. */
export interface Controls {
  pause(): void;
  resume(): void;
  stop(): void;
  readonly paused: boolean;
}

/** A render request after validation. */
export interface RenderRequest extends ViewSpec {
  expression: Float32Array;
}

/** Options of a session. */
export interface SessionOptions {
  mode: "train" | "view";
  scene: Scene;
  /** Run configuration shown on the page. */
  config?: unknown;
  iters?: number;
  liveEvery?: number;
  liveIntervalMs?: number;
}

/** What `attach` installs once the model exists. */
export interface Attachment {
  model: ViewModel;
  gate: StepGate;
  controls?: Controls;
  /** The current avatar file (a checkpoint), read at a safe point. */
  avatarFile(): Promise<{ bytes: Uint8Array; step: number }>;
  /** Saves a snapshot (checkpoint) and returns where it went. */
  snapshot?(): Promise<string>;
}

/** The dashboard back end (see the module comment). */
export class DashboardSession {
  readonly hub: DashboardHub;
  readonly scene: Scene;
  readonly config: unknown;
  readonly liveEvery: number;
  readonly liveIntervalMs: number;
  live: { camera: number; timestep: number };
  #att: Attachment | null = null;
  #encoder = new ImageEncoder();
  #lastLiveStep = -Infinity;
  #lastLiveTime = -Infinity;
  #livePending = false;
  #closed = false;

  constructor(opts: SessionOptions) {
    this.scene = opts.scene;
    this.config = opts.config ?? null;
    this.hub = new DashboardHub(opts.mode, opts.iters ?? 0);
    this.liveEvery = opts.liveEvery ?? 20;
    this.liveIntervalMs = opts.liveIntervalMs ?? 2000;
    const f = this.scene.frames.find((x) => x.split === "val") ?? this.scene.frames[0];
    this.live = { camera: f?.camera ?? this.scene.cameras[0]?.index ?? 0, timestep: f?.timestep ?? 0 };
    this.hub.onProgress = (step) => {
      if (step - this.#lastLiveStep >= this.liveEvery) this.refreshLive(false);
    };
  }

  /** Whether a model is attached. */
  get attached(): Attachment | null {
    return this.#att;
  }

  /** Installs the model (trainer or loaded avatar) and renders the first live panel. */
  attach(a: Attachment): void {
    this.#att = a;
    if (a.controls) this.hub.setStatus({ gaussians: a.model.avatar.count, paused: a.controls.paused });
    else this.hub.setStatus({ gaussians: a.model.avatar.count });
    this.refreshLive(true);
  }

  /** The dataset camera with this index. */
  camera(index: number): CameraInfo | undefined {
    return this.scene.cameras.find((c) => c.index === index);
  }

  /** The ground-truth frame of (camera, timestep), if the dataset has one. */
  frame(camera: number, timestep: number): Frame | undefined {
    return this.scene.frames.find((f) => f.camera === camera && f.timestep === timestep);
  }

  /** Expression code of a timestep. */
  expression(timestep: number): Float32Array {
    const D = this.scene.expressionDim;
    return this.scene.expressions.slice(timestep * D, timestep * D + D);
  }

  /**
   * Renders the live panel at the next safe point and publishes it (skipped when nobody watches, unless
   * `force`, or when one is already pending, or within `liveIntervalMs` of the last one).
   */
  refreshLive(force: boolean): void {
    const a = this.#att;
    if (!a || this.#livePending || this.#closed) return;
    if (!force && (this.hub.clients === 0 || performance.now() - this.#lastLiveTime < this.liveIntervalMs)) {
      return;
    }
    const { camera, timestep } = this.live;
    const info = this.camera(camera);
    if (!info) return;
    this.#livePending = true;
    this.#lastLiveTime = performance.now();
    this.#lastLiveStep = this.hub.status.step;
    const truth = this.frame(camera, timestep)?.image ?? null;
    a.gate.run(() =>
      renderView(a.model, viewCamera(info, { camera }, this.#center(a)), this.expression(timestep))
    )
      .then((r) => this.#encoder.encode(r.rgb, truth, r.width, r.height))
      .then((img) => {
        a.gate.charge(img.ms);
        if (this.#closed) return;
        this.hub.publishImage({ ...img, step: this.hub.status.step, kind: "live", camera, timestep });
      })
      .catch((e) => {
        if (!this.#closed && !(e instanceof GateClosedError)) {
          this.hub.log("warn", `live render failed: ${(e as Error).message}`);
        }
      })
      .finally(() => (this.#livePending = false));
  }

  #center(a: Attachment): readonly number[] {
    return a.model.avatar.constants.center;
  }

  /**
   * Renders the avatar at a requested expression and viewpoint (PNG of the prediction alone). A newer request
   * of the same `client` replaces this one while it waits (step_gate.ts); an aborted `signal` (the page went
   * away) takes it out of the queue.
   */
  async render(
    req: RenderRequest,
    client?: string,
    signal?: AbortSignal,
  ): Promise<{ png: Uint8Array; width: number; height: number; step: number }> {
    const a = this.#att;
    if (!a) throw new Error("the avatar is not initialized yet");
    const info = this.camera(req.camera);
    if (!info) throw new Error(`unknown camera ${req.camera}`);
    const cam = viewCamera(info, req, this.#center(a));
    const r = await a.gate.run(() => renderView(a.model, cam, req.expression), client, signal);
    const { png, width, height, ms } = await this.#encoder.encode(r.rgb, null, r.width, r.height);
    a.gate.charge(ms);
    return { png, width, height, step: this.hub.status.step };
  }

  /** Losses, evaluations and log as one JSON document (the metrics download). */
  metrics(): unknown {
    return {
      status: this.hub.status,
      config: this.config,
      losses: this.hub.losses,
      evaluations: this.hub.evals,
      log: this.hub.logs,
    };
  }

  /** Stops the encoder and closes every stream. */
  close(): void {
    this.#closed = true;
    this.#att?.gate.close();
    this.hub.closeAll();
    this.#encoder.close();
  }
}
