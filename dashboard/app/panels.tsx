/** @jsxImportSource preact */
/**
 * The live render panel (ground truth | prediction | error for a chosen camera and timestep, pushed on the
 * stream) and the expression panel (timeline over the sequence, one slider per blendshape, drag to orbit;
 * each change asks /api/render for a new image, one request in flight at a time).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { type ImageMessage, type Info, post } from "./api.ts";

/** Ground truth | prediction | error, refreshed by the server every few steps. */
export function LivePanel({ info, image }: { info: Info; image: ImageMessage | null }) {
  const [camera, setCamera] = useState(info.live.camera);
  const [timestep, setTimestep] = useState(info.live.timestep);
  const [msg, setMsg] = useState("");
  const choose = (c: number, t: number) => {
    setCamera(c);
    setTimestep(t);
    post("/api/live", { camera: c, timestep: t }).then(() => setMsg("")).catch((e) => setMsg(String(e)));
  };
  return (
    <section class="wide">
      <h2>Live render: ground truth | prediction | error</h2>
      <div class="row">
        <label>
          camera{" "}
          <select id="live-camera" value={camera} onChange={(e) => choose(+e.currentTarget.value, timestep)}>
            {info.cameras.map((c) => <option key={c.index} value={c.index}>{c.index}</option>)}
          </select>
        </label>
        <label>
          timestep{" "}
          <input
            id="live-timestep"
            type="number"
            min={0}
            max={info.timesteps - 1}
            value={timestep}
            onChange={(e) => choose(camera, +e.currentTarget.value)}
          />
        </label>
        <span class="note">
          {image
            ? `step ${image.step}, camera ${image.camera}, timestep ${image.timestep}`
            : "waiting for a render"}
        </span>
        <span class="error">{msg}</span>
      </div>
      {image && (
        <img
          id="live-image"
          class="pixelated"
          data-id={image.id}
          data-step={image.step}
          src={`data:image/png;base64,${image.png}`}
          width={image.width * Math.max(1, Math.floor(768 / image.width))}
        />
      )}
    </section>
  );
}

/** Timeline + per-blendshape sliders + orbit. */
export function ExpressionPanel({ info, step }: { info: Info; step: number }) {
  const D = info.expressionDim;
  const codeOf = (t: number) => info.expressions.slice(t * D, t * D + D);
  const [timestep, setTimestep] = useState(0);
  const [code, setCode] = useState<number[]>(() => codeOf(0));
  const [camera, setCamera] = useState(info.live.camera);
  const [orbit, setOrbit] = useState({ yaw: 0, pitch: 0, zoom: 1 });
  const [src, setSrc] = useState<string | null>(null);
  const [renders, setRenders] = useState(0);
  const [msg, setMsg] = useState("");
  const busy = useRef(false), again = useRef(false);
  const want = useRef({ code, camera, orbit });
  want.current = { code, camera, orbit };

  const request = async () => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    try {
      do {
        again.current = false;
        const w = want.current;
        const r = await post("/api/render", { camera: w.camera, expression: w.code, ...w.orbit });
        const url = URL.createObjectURL(await r.blob());
        setSrc((old) => {
          if (old) URL.revokeObjectURL(old);
          return url;
        });
        setRenders((n) => n + 1);
        setMsg("");
      } while (again.current);
    } catch (e) {
      setMsg(String(e));
    } finally {
      busy.current = false;
    }
  };
  useEffect(() => void request(), [code, camera, orbit]);

  const drag = useRef<{ x: number; y: number; yaw: number; pitch: number } | null>(null);
  const size = info.cameras.find((c) => c.index === camera) ?? info.cameras[0];
  const scale = size ? Math.max(1, Math.floor(384 / size.width)) : 1;
  return (
    <section class="wide">
      <h2>Expression</h2>
      <div class="expr">
        <div class="view">
          <div class="row">
            <label>
              camera{" "}
              <select id="expr-camera" value={camera} onChange={(e) => setCamera(+e.currentTarget.value)}>
                {info.cameras.map((c) => <option key={c.index} value={c.index}>{c.index}</option>)}
              </select>
            </label>
            <button type="button" id="orbit-reset" onClick={() => setOrbit({ yaw: 0, pitch: 0, zoom: 1 })}>
              reset view
            </button>
            <span class="note" id="render-count" data-count={renders}>
              {renders} renders (avatar at step {step})
            </span>
          </div>
          {src && (
            <img
              id="expr-image"
              class="pixelated orbit"
              src={src}
              draggable={false}
              width={(size?.width ?? 256) * scale}
              onPointerDown={(e) => {
                (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
                drag.current = { x: e.clientX, y: e.clientY, yaw: orbit.yaw, pitch: orbit.pitch };
              }}
              onPointerMove={(e) => {
                const d = drag.current;
                if (!d) return;
                const yaw = d.yaw - (e.clientX - d.x) * 0.5;
                const pitch = Math.max(-85, Math.min(85, d.pitch + (e.clientY - d.y) * 0.5));
                setOrbit((o) => ({ ...o, yaw: ((yaw + 540) % 360) - 180, pitch }));
              }}
              onPointerUp={() => (drag.current = null)}
              onWheel={(e) => {
                e.preventDefault();
                setOrbit((o) => ({
                  ...o,
                  zoom: Math.max(0.25, Math.min(4, o.zoom * (e.deltaY > 0 ? 1.1 : 0.9))),
                }));
              }}
            />
          )}
          <div class="error">{msg}</div>
        </div>
        <div class="sliders">
          <label class="timeline">
            timestep <b id="timeline-value">{timestep}</b>
            <input
              id="timeline"
              type="range"
              min={0}
              max={info.timesteps - 1}
              value={timestep}
              onInput={(e) => {
                const t = +e.currentTarget.value;
                setTimestep(t);
                setCode(codeOf(t));
              }}
            />
          </label>
          {info.blendshapeNames.map((name, i) => (
            <label key={name} class="slider">
              <span>{name}</span>
              <input
                type="range"
                data-index={i}
                min={-1}
                max={1.5}
                step={0.01}
                value={code[i]}
                onInput={(e) => {
                  const v = +e.currentTarget.value;
                  setCode((c) => c.map((x, j) => (j === i ? v : x)));
                }}
              />
              <output>{code[i].toFixed(2)}</output>
            </label>
          ))}
        </div>
      </div>
    </section>
  );
}
