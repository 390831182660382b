/**
 * A tiny expression rig for the prior and distillation tests: a UV sphere of radius 0.1 with three smooth
 * blendshapes (a jaw that drops and moves forward, a cheek-puff bump along the normal, a brow raise).
 */
import type { RigMesh } from "../training/rig_sampling.ts";

/** Builds the tiny rig (deterministic; `rows` x `cols` vertices plus the poles). */
export function tinyRig(rows = 10, cols = 16): RigMesh {
  const pos: number[] = [0, 0.1, 0];
  for (let r = 1; r <= rows; r++) {
    const th = (Math.PI * r) / (rows + 1);
    for (let c = 0; c < cols; c++) {
      const ph = (2 * Math.PI * c) / cols;
      pos.push(0.1 * Math.sin(th) * Math.sin(ph), 0.1 * Math.cos(th), 0.1 * Math.sin(th) * Math.cos(ph));
    }
  }
  pos.push(0, -0.1, 0);
  const V = pos.length / 3, bottom = V - 1;
  const idx: number[] = [];
  const at = (r: number, c: number) => 1 + (r - 1) * cols + (c % cols);
  for (let c = 0; c < cols; c++) {
    idx.push(0, at(1, c), at(1, c + 1));
    idx.push(bottom, at(rows, c + 1), at(rows, c));
    for (let r = 1; r < rows; r++) {
      idx.push(at(r, c), at(r + 1, c), at(r, c + 1), at(r, c + 1), at(r + 1, c), at(r + 1, c + 1));
    }
  }
  const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
  const jaw = new Float32Array(V * 3), puff = new Float32Array(V * 3), brow = new Float32Array(V * 3);
  for (let v = 0; v < V; v++) {
    const [x, y, z] = [pos[3 * v], pos[3 * v + 1], pos[3 * v + 2]];
    const wj = clamp01((-y - 0.01) / 0.05);
    jaw.set([0, -0.03 * wj, 0.01 * wj], 3 * v);
    const g = 0.015 * Math.exp(-((x - 0.05) ** 2 + y ** 2 + (z - 0.085) ** 2) / 0.002);
    puff.set([(g * x) / 0.1, (g * y) / 0.1, (g * z) / 0.1], 3 * v);
    const wb = clamp01((y - 0.02) / 0.05) * clamp01(z / 0.05);
    brow.set([0, 0.012 * wb, 0], 3 * v);
  }
  return {
    positions: new Float32Array(pos),
    indices: new Uint32Array(idx),
    colors: new Float32Array(V * 3).fill(0.5),
    deltas: [jaw, puff, brow],
  };
}
