/**
 * Starting the dashboard: `startDashboard` for a training run (`deno task train`) and `startViewer` for a
 * trained avatar file (`deno task view`). Both serve the Hono app (server.ts) with `Deno.serve`, bound to
 * 127.0.0.1:8000 by default; bound to any other address they require a token (random unless given), which is
 * part of the printed URL.
 */
import type { Dataset } from "../data/dataset.ts";
import type { Gpu } from "../gpu/device.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { avatarFromCloud } from "../training/avatar.ts";
import { encodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { ForwardField } from "../training/distill.ts";
import { mlpLayout } from "../gpu/mlp.ts";
import { detailNetworkSpec } from "../training/pose.ts";
import type { Trainer, TrainerListener } from "../training/trainer.ts";
import type { SplitMetrics } from "../training/evaluate.ts";
import type { LossPoint } from "./hub.ts";
import { defaultCameraInfo } from "./avatar_view.ts";
import { frontEnd } from "./bundle.ts";
import { dashboardApp, type DashboardLimits } from "./server.ts";
import { isLoopback } from "./hosts.ts";
import { DashboardSession, type Scene, sceneFromDataset } from "./session.ts";
import { type GateOptions, StepGate } from "./step_gate.ts";

export { isLoopback };

/** Where and how to serve. */
export interface ServeOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Token for control/download routes; default: none on loopback, random elsewhere. */
  token?: string;
  /** Live panel refresh: every this many logged steps (default 20) ... */
  liveEvery?: number;
  /** ... and at most once per this many ms (default 2000). */
  liveIntervalMs?: number;
  /** Stream, snapshot and download limits (server.ts). */
  limits?: Partial<DashboardLimits>;
  /** Render queue and GPU-time budget (step_gate.ts). */
  gate?: GateOptions;
}

/** A running dashboard. */
export interface Dashboard {
  /** The URL to open (with `?token=` when a token is required: opening it sets the token cookie). */
  url: string;
  token: string | null;
  session: DashboardSession;
  /** Stops the server and closes every stream. */
  close(): Promise<void>;
}

/** A training run's dashboard. */
export interface TrainDashboard extends Dashboard {
  /** Give this to `Trainer.create` (listeners) so the page sees the prior and distillation phases too. */
  listener: TrainerListener;
  /** Connects the trainer once it exists (renders, controls, downloads). */
  attach(trainer: Trainer): void;
}

/** The dashboard's port is taken (the message says what to do). */
export class PortInUseError extends Error {
  constructor(host: string, port: number) {
    super(`${host}:${port} is already in use: pick another port with --port (0 picks a free one)`);
    this.name = "PortInUseError";
  }
}

/** Blendshape names from a dataset folder's dataset.json (`blendshape_names`), or null. */
export async function readBlendshapeNames(root: string): Promise<string[] | null> {
  try {
    const j = JSON.parse(await Deno.readTextFile(`${root}/dataset.json`));
    const n = j?.blendshape_names;
    return Array.isArray(n) && n.every((x) => typeof x === "string") ? n : null;
  } catch {
    return null;
  }
}

async function serve(session: DashboardSession, o: ServeOptions): Promise<Dashboard> {
  const host = o.host ?? "127.0.0.1", port = o.port ?? 8000;
  const token = o.token ?? (isLoopback(host) ? null : crypto.randomUUID().replaceAll("-", ""));
  const app = dashboardApp(session, await frontEnd(), token, {
    loopback: isLoopback(host),
    limits: o.limits,
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: host, port, onListen: () => {} }, app.fetch);
  } catch (e) {
    session.close();
    if (e instanceof Deno.errors.AddrInUse) throw new PortInUseError(host, port);
    throw e;
  }
  const addr = server.addr as Deno.NetAddr;
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${shown}:${addr.port}/${token ? `?token=${token}` : ""}`;
  let closed = false;
  return {
    url,
    token,
    session,
    async close() {
      if (closed) return;
      closed = true;
      session.close();
      await server.shutdown();
    },
  };
}

/**
 * Starts the dashboard of a training run over `dataset`. Call `attach(trainer)` once `Trainer.create` returns;
 * `onSnapshot` saves a checkpoint (e.g. into the run folder) and returns where it went.
 */
export async function startDashboard(
  opts: ServeOptions & {
    dataset: Dataset;
    config?: unknown;
    iters?: number;
    onSnapshot?: (bytes: Uint8Array, step: number) => Promise<string>;
    /** Records of earlier steps (a resumed run's metrics.json). */
    history?: {
      losses?: readonly LossPoint[];
      evaluations?: readonly { step: number; splits: readonly SplitMetrics[] }[];
    };
  },
): Promise<TrainDashboard> {
  const names = await readBlendshapeNames(opts.dataset.root);
  const session = new DashboardSession({
    mode: "train",
    scene: sceneFromDataset(opts.dataset, names ?? undefined),
    config: opts.config,
    iters: opts.iters,
    liveEvery: opts.liveEvery,
    liveIntervalMs: opts.liveIntervalMs,
  });
  for (const l of opts.history?.losses ?? []) {
    session.hub.losses.push({
      step: l.step,
      seconds: l.seconds,
      total: l.total,
      l1: l.l1,
      ssim: l.ssim,
      reg: l.reg,
    });
  }
  for (const e of opts.history?.evaluations ?? []) {
    session.hub.evals.push(...e.splits.map((m) => ({ ...m, step: e.step })));
  }
  const d = await serve(session, opts);
  return {
    ...d,
    listener: (e) => session.hub.handle(e),
    attach(trainer: Trainer) {
      const rawState = trainer.state.bind(trainer);
      const gate = new StepGate(trainer, opts.gate);
      const checkpoint = () =>
        gate.run(async () => {
          const st = await rawState();
          return { bytes: encodeCheckpoint(st), step: st.step };
        });
      session.attach({
        model: {
          avatar: trainer.avatar,
          field: trainer.field,
          raster: trainer.raster,
          renderPosed: (posed, cams) => trainer.renderPosed(posed, cams),
        },
        gate,
        controls: trainer,
        avatarFile: checkpoint,
        snapshot: async () => {
          const c = await checkpoint();
          if (opts.onSnapshot) return await opts.onSnapshot(c.bytes, c.step);
          return `step ${c.step} (kept in memory: download it from the dashboard)`;
        },
      });
    },
  };
}

/** G's hidden width and depth that match `params` floats (the default 64 x 3 first). */
function detailShape(c: TrainState["avatar"]["constants"], params: number): { width: number; depth: number } {
  const count = (width: number, depth: number) => {
    const l = mlpLayout(detailNetworkSpec(c, width, depth)).at(-1)!;
    return l.bOffset + l.out;
  };
  if (count(64, 3) === params) return { width: 64, depth: 3 };
  for (let depth = 1; depth <= 16; depth++) {
    for (let width = 1; width <= 1024; width++) if (count(width, depth) === params) return { width, depth };
  }
  throw new Error(`the avatar's detail network has ${params} parameters, which fits no width/depth`);
}

/**
 * Serves a trained avatar (a decoded checkpoint; `bytes` is the file, offered for download) without training.
 * With a dataset the page offers its cameras, timesteps and ground truth; without, one default camera.
 */
export async function startViewer(
  gpu: Gpu,
  opts: ServeOptions & {
    state: TrainState;
    bytes: Uint8Array;
    dataset?: Dataset;
    blendshapeNames?: string[];
    config?: unknown;
    detail?: { width: number; depth: number };
  },
): Promise<Dashboard> {
  const st = opts.state, c = st.avatar.constants;
  const g = opts.detail ?? detailShape(c, st.avatar.detailParams.length);
  const avatar = avatarFromCloud(gpu, st.avatar.cloud, {
    exprDim: c.exprDim,
    featureDim: c.featureDim,
    shDegree: c.shDegree,
    detailWidth: g.width,
    detailDepth: g.depth,
  }, { constants: c, detailParams: st.avatar.detailParams });
  let field: ForwardField | null = null;
  if (st.field) {
    field = new ForwardField(gpu, st.field.config);
    field.mlp.setParams(st.field.params);
  }
  const raster = new GaussianRasterizer(gpu, {
    shDegree: c.shDegree,
    extraChannels: 0,
    background: opts.dataset?.background ?? [1, 1, 1],
  });
  let scene: Scene;
  if (opts.dataset) {
    if (opts.dataset.expressionDim !== c.exprDim) {
      throw new Error(
        `the dataset has ${opts.dataset.expressionDim} expression values, the avatar ${c.exprDim}`,
      );
    }
    scene = sceneFromDataset(opts.dataset, opts.blendshapeNames);
  } else {
    const D = c.exprDim;
    scene = {
      blendshapeNames: opts.blendshapeNames?.length === D
        ? opts.blendshapeNames
        : Array.from({ length: D }, (_, i) => `expr ${i}`),
      expressionDim: D,
      expressions: new Float32Array(D),
      timesteps: 1,
      cameras: [defaultCameraInfo(c.center, c.extent)],
      frames: [],
      splitTimesteps: {},
    };
  }
  const session = new DashboardSession({ mode: "view", scene, config: opts.config, iters: st.step });
  session.hub.setStatus({ step: st.step });
  const gate = new StepGate(undefined, opts.gate);
  session.attach({
    model: { avatar, field, raster },
    gate,
    avatarFile: () => Promise.resolve({ bytes: opts.bytes, step: st.step }),
  });
  const d = await serve(session, opts);
  return {
    ...d,
    async close() {
      await d.close();
      raster.destroy();
      field?.destroy();
      avatar.destroy();
    },
  };
}
