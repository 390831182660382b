/** @jsxImportSource preact */
/**
 * The dashboard page: status bar and controls, loss and metric charts, the live render panel, the expression
 * panel (timeline, one slider per blendshape, orbit by dragging), configuration and log. State arrives as a
 * snapshot and then as events on one Server-Sent Events stream (/api/events).
 */
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { type ImageMessage, type Info, post, request, type Snapshot } from "./api.ts";
import { Chart } from "./chart.tsx";
import { StatusBar } from "./status.tsx";
import { ExpressionPanel, LivePanel } from "./panels.tsx";

const LOSS_SERIES = [
  { label: "total", stroke: "#d62728" },
  { label: "L1", stroke: "#1f77b4" },
  { label: "SSIM", stroke: "#2ca02c" },
  { label: "reg", stroke: "#9467bd" },
];
const METRIC_SERIES = [
  { label: "val PSNR", stroke: "#1f77b4" },
  { label: "test PSNR", stroke: "#ff7f0e" },
  { label: "val SSIM", stroke: "#17becf", scale: "right" },
  { label: "test SSIM", stroke: "#bcbd22", scale: "right" },
];

function App() {
  const [info, setInfo] = useState<Info | null>(null);
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [image, setImage] = useState<ImageMessage | null>(null);
  const [connected, setConnected] = useState(false);
  const [logScale, setLogScale] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [controlError, setControlError] = useState<string | null>(null);

  useEffect(() => {
    request("/api/info").then((r) => r.json()).then(setInfo).catch((e) => setError((e as Error).message));
    const es = new EventSource("/api/events");
    const on = <T,>(name: string, f: (v: T) => void) =>
      es.addEventListener(name, (e) => f(JSON.parse((e as MessageEvent).data)));
    on<Snapshot>("snapshot", (s) => {
      setSnap({ ...s, losses: [...s.losses], evals: [...s.evals], logs: [...s.logs] });
      if (s.image) setImage(s.image);
    });
    on<Snapshot["status"]>("status", (st) => setSnap((s) => s && { ...s, status: st }));
    on<Snapshot["losses"][number]>("loss", (p) => setSnap((s) => s && { ...s, losses: [...s.losses, p] }));
    on<Snapshot["evals"]>("eval", (p) => setSnap((s) => s && { ...s, evals: [...s.evals, ...p] }));
    on<Snapshot["logs"][number]>(
      "log",
      (l) => setSnap((s) => s && { ...s, logs: [...s.logs.slice(-499), l] }),
    );
    on<ImageMessage>("image", setImage);
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false);
    return () => es.close();
  }, []);

  const lossData = useMemo(() => {
    const l = snap?.losses ?? [];
    return [
      l.map((p) => p.step),
      l.map((p) => p.total),
      l.map((p) => p.l1),
      l.map((p) => p.ssim),
      l.map((p) => p.reg),
    ];
  }, [snap?.losses]);
  const metricData = useMemo(() => {
    const ev = snap?.evals ?? [];
    const steps = [...new Set(ev.map((e) => e.step))].sort((a, b) => a - b);
    const pick = (split: string, k: "psnr" | "ssim") =>
      steps.map((s) => ev.find((e) => e.step === s && e.split === split)?.[k] ?? null);
    return [steps, pick("val", "psnr"), pick("test", "psnr"), pick("val", "ssim"), pick("test", "ssim")];
  }, [snap?.evals]);

  if (error) return <div class="error" id="load-error">The dashboard could not load: {error}</div>;
  if (!info || !snap) return <div>Connecting…</div>;
  // A failed control action is reported beside the buttons; the page stays as it is.
  const act = (a: string) =>
    post(`/api/control/${a}`).then(() => setControlError(null)).catch((e) =>
      setControlError(`${a} failed: ${(e as Error).message}`)
    );
  return (
    <div class="page">
      <header>
        <h1>NPGA {info.mode === "train" ? "training" : "viewer"}</h1>
        <span class={connected ? "ok" : "bad"} id="connection">{connected ? "live" : "disconnected"}</span>
      </header>
      <StatusBar status={snap.status} />
      <div class="controls">
        {info.mode === "train" && (
          <>
            <button
              type="button"
              id="pause"
              disabled={snap.status.paused || !snap.status.running}
              onClick={() => act("pause")}
            >
              Pause
            </button>
            <button
              type="button"
              id="resume"
              disabled={!snap.status.paused || !snap.status.running}
              onClick={() => act("resume")}
            >
              Resume
            </button>
            <button type="button" id="stop" disabled={!snap.status.running} onClick={() => act("stop")}>
              Stop &amp; save
            </button>
            <button
              type="button"
              id="snapshot"
              disabled={!snap.status.running}
              onClick={() => act("snapshot")}
            >
              Snapshot
            </button>
          </>
        )}
        <a id="download-avatar" href="/api/download/avatar" download>Download avatar</a>
        <a id="download-npga" href="/api/download/npga" download>Download .npga</a>
        <a id="download-metrics" href="/api/download/metrics" download>Download metrics JSON</a>
      </div>
      {controlError && (
        <div class="error control-error" id="control-error" role="alert">
          {controlError}
          <button type="button" class="dismiss" onClick={() => setControlError(null)}>dismiss</button>
        </div>
      )}
      <div class="grid">
        <section>
          <label class="toggle">
            <input
              id="log-scale"
              type="checkbox"
              checked={logScale}
              onChange={() => setLogScale(!logScale)}
            />
            log scale
          </label>
          <Chart id="loss-chart" title="Losses" series={LOSS_SERIES} data={lossData} log={logScale} />
        </section>
        <section>
          <Chart
            id="metric-chart"
            title="Validation / test"
            series={METRIC_SERIES}
            data={metricData}
            rightLabel="SSIM"
          />
        </section>
        <LivePanel info={info} image={image} />
        <ExpressionPanel info={info} step={snap.status.step} />
        <section>
          <h2>Configuration</h2>
          <pre class="config">{JSON.stringify(info.config, null, 2)}</pre>
        </section>
        <section>
          <h2>Log</h2>
          <ul class="log" id="log">
            {snap.logs.slice(-200).reverse().map((l, i) => (
              <li key={`${l.time}-${i}`} class={l.level}>
                <time>{l.time.slice(11, 19)}</time> {l.message}
              </li>
            ))}
          </ul>
        </section>
      </div>
    </div>
  );
}

const root = document.getElementById("app")!;
root.textContent = "";
render(<App />, root);
