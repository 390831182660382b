/** @jsxImportSource preact */
/**
 * A uPlot line chart as a Preact component: series from `data` (x first), optional log y scale, drag to zoom
 * (uPlot's cursor selection), double-click to reset. The plot is rebuilt when the series or scale change and
 * updated in place when only the data grow.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** One series of a chart. */
export interface SeriesSpec {
  label: string;
  stroke: string;
  scale?: string;
}

/** Props of `Chart`. */
export interface ChartProps {
  title: string;
  series: SeriesSpec[];
  /** [x, y1, y2, ...] columns. */
  data: (number | null)[][];
  log?: boolean;
  xLabel?: string;
  /** A second y scale "right" shown on the right axis. */
  rightLabel?: string;
  id?: string;
}

/** A uPlot chart. */
export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoomed = useRef(false);
  const key = `${p.log}|${p.series.map((s) => s.label).join(",")}`;
  useEffect(() => {
    const el = box.current!;
    const width = Math.max(el.clientWidth, 200);
    const scales: uPlot.Scales = { x: { time: false }, y: p.log ? { distr: 3 } : {} };
    const axes: uPlot.Axis[] = [{ label: p.xLabel ?? "step" }, { scale: "y", size: 60, values: tickLabels }];
    if (p.rightLabel) {
      scales.right = {};
      axes.push({ scale: "right", side: 1, label: p.rightLabel, grid: { show: false }, size: 60 });
    }
    const u = new uPlot(
      {
        title: p.title,
        width,
        height: 240,
        scales,
        axes,
        hooks: { setSelect: [(u: uPlot) => (zoomed.current = u.select.width > 0 || zoomed.current)] },
        series: [
          { label: p.xLabel ?? "step" },
          ...p.series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 1.5,
            scale: s.scale ?? "y",
            points: { show: false },
          })),
        ],
      },
      clean(p.data, p.log) as uPlot.AlignedData,
      el,
    );
    plot.current = u;
    const reset = () => (zoomed.current = false);
    el.addEventListener("dblclick", reset);
    return () => {
      el.removeEventListener("dblclick", reset);
      u.destroy();
      plot.current = null;
    };
  }, [key]);
  useEffect(() => {
    plot.current?.setData(clean(p.data, p.log) as uPlot.AlignedData, !zoomed.current);
  }, [p.data]);
  return <div class="chart" id={p.id} ref={box} data-points={p.data[0]?.length ?? 0} />;
}

// Short tick labels that stay readable on log scales (1e-4 rather than "0").
function tickLabels(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => {
    if (v === null || v === undefined) return "";
    const a = Math.abs(v);
    return a === 0 ? "0" : a >= 0.01 && a < 1e5 ? String(+v.toPrecision(3)) : v.toExponential(0);
  });
}

// Log scales cannot show values <= 0: drop them (null) rather than break the axis.
function clean(data: (number | null)[][], log?: boolean): (number | null)[][] {
  if (!log) return data;
  return data.map((col, i) => i === 0 ? col : col.map((v) => (v !== null && v > 0 ? v : null)));
}
