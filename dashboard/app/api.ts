/** Browser-side types and HTTP helpers of the dashboard (mirrors server.ts / hub.ts JSON). */
import type { DashboardStatus, EvalPoint, ImageMessage, LogEntry, LossPoint } from "../hub.ts";

export type { DashboardStatus, EvalPoint, ImageMessage, LogEntry, LossPoint };

/** GET /api/info. */
export interface Info {
  mode: "train" | "view";
  tokenRequired: boolean;
  blendshapeNames: string[];
  expressionDim: number;
  timesteps: number;
  expressions: number[];
  splitTimesteps: Record<string, number[]>;
  cameras: { index: number; width: number; height: number }[];
  live: { camera: number; timestep: number };
  config: unknown;
}

/** The full state sent first on the stream. */
export interface Snapshot {
  status: DashboardStatus;
  losses: LossPoint[];
  evals: EvalPoint[];
  logs: LogEntry[];
  image: ImageMessage | null;
}

/**
 * This page's id, sent with every request (`x-npga-client`): the server keeps only its newest waiting render.
 * The token (when the server has one) travels in an HttpOnly cookie set when the printed URL was opened.
 */
export const clientId = crypto.randomUUID();

/** The error of a failed request, with the server's message. */
export class RequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Fetches a same-origin route; throws a `RequestError` with the server's message when it fails. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("x-npga-client", clientId);
  let r: Response;
  try {
    r = await fetch(path, { ...init, headers, credentials: "same-origin" });
  } catch (e) {
    throw new RequestError(0, `the dashboard server did not answer (${(e as Error).message})`);
  }
  if (!r.ok) {
    const msg = await r.json().then((j) => j.error).catch(() => r.statusText);
    throw new RequestError(r.status, `${r.status}: ${msg}`);
  }
  return r;
}

/** POSTs JSON; returns the response or throws with the server's message. */
export function post(path: string, body: unknown = {}): Promise<Response> {
  return request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Seconds as "1h02m", "3m05s" or "12s". */
export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
