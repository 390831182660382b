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

/** The token from the page URL (`?token=`), if any. */
export const token = new URLSearchParams(location.search).get("token");

/** URL with the token appended (for links). */
export function withToken(path: string): string {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}

/** POSTs JSON; returns the response or throws with the server's message. */
export async function post(path: string, body: unknown = {}): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!r.ok) {
    const msg = await r.json().then((j) => j.error).catch(() => r.statusText);
    throw new Error(`${r.status}: ${msg}`);
  }
  return r;
}

/** Seconds as "1h02m", "3m05s" or "12s". */
export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
