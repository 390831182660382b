/**
 * Packs the `Frame` uniform block shared by the rasterizer kernels (struct in gaussian_common.wgsl): sizes,
 * tile grid, an element count, background colour and up to MAX_VIEWS cameras of 24 floats each.
 */
import type { Gpu } from "../gpu/device.ts";
import { type Camera, cameraCenter, DEFAULT_NEAR, jacobianClamp } from "./camera.ts";
import { TILE } from "./rasterize_cpu.ts";
import common from "./gaussian_common.wgsl" with { type: "text" };

/** Largest batch of views per render call (the camera array length in the uniform block). */
export const MAX_VIEWS = 32;
const CAM_FLOATS = 24;
const HEADER_WORDS = 12;

/**
 * Full WGSL source of a rasterizer kernel: the shared declarations followed by the kernel, with the private-array
 * bound MAX_EXTRA rewritten to this pipeline's extra-channel count (WGSL private arrays cannot be sized by
 * override constants; tight bounds keep them small) and every block of lines between `//@EACH_BLOCK` and `//@END`
 * repeated `blocks` times with the token BLK replaced by 0, 1, ... (per-block variables instead of indexed
 * private arrays, which software adapters keep in memory).
 */
export function kernelSource(kernel: string, extraChannels: number, blocks: number): string {
  const src = `${common}\n${kernel}`
    .replace("const MAX_EXTRA: u32 = 32u;", `const MAX_EXTRA: u32 = ${Math.max(1, extraChannels)}u;`)
    .replace(/^\/\/@EACH_BLOCK\n([\s\S]*?)^\/\/@END\n/gm, (_m, body: string) => {
      let out = "";
      for (let r = 0; r < blocks; r++) out += body.replaceAll("BLK", String(r));
      return out;
    });
  if (/^\/\/@(EACH_BLOCK|END)$/m.test(src)) {
    throw new Error("rasterizer kernel: unbalanced //@EACH_BLOCK marker");
  }
  return src;
}

/** Geometry of one batched render. */
export interface FrameInfo {
  gaussians: number;
  views: number;
  width: number;
  height: number;
  tilesX: number;
  tilesY: number;
  background: readonly number[];
  cameras: readonly Camera[];
}

/** Describes a batch of cameras (all of one image size) for `gaussians` Gaussians. */
export function frameInfo(
  gaussians: number,
  cameras: readonly Camera[],
  background: readonly number[],
): FrameInfo {
  if (cameras.length === 0) throw new Error("render: no cameras");
  if (cameras.length > MAX_VIEWS) throw new Error(`render: at most ${MAX_VIEWS} views per call`);
  const { width, height } = cameras[0];
  for (const c of cameras) {
    if (c.width !== width || c.height !== height) {
      throw new Error("render: all views of a batch must have one size");
    }
  }
  return {
    gaussians,
    views: cameras.length,
    width,
    height,
    tilesX: Math.ceil(width / TILE),
    tilesY: Math.ceil(height / TILE),
    background,
    cameras,
  };
}

/** A fresh uniform buffer with the Frame block for `f` and the kernel-specific element `count`. */
export function frameUniform(gpu: Gpu, f: FrameInfo, count: number): GPUBuffer {
  const words = HEADER_WORDS + MAX_VIEWS * CAM_FLOATS;
  const data = new ArrayBuffer(words * 4);
  const u = new Uint32Array(data);
  const fl = new Float32Array(data);
  u.set([f.gaussians, f.views, f.width, f.height, f.tilesX, f.tilesY, count, 0]);
  fl.set([f.background[0] ?? 0, f.background[1] ?? 0, f.background[2] ?? 0, 0], 8);
  f.cameras.forEach((c, v) => {
    const R = c.rotation, t = c.translation;
    const o = [...cameraCenter(c), c.near ?? DEFAULT_NEAR];
    fl.set([
      R[0],
      R[1],
      R[2],
      t[0],
      R[3],
      R[4],
      R[5],
      t[1],
      R[6],
      R[7],
      R[8],
      t[2],
      ...o,
      c.fx,
      c.fy,
      c.cx,
      c.cy,
      ...jacobianClamp(c),
    ], HEADER_WORDS + v * CAM_FLOATS);
  });
  const buf = gpu.device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label: "frame",
  });
  gpu.device.queue.writeBuffer(buf, 0, data);
  gpu.destroyAfterSubmit(buf);
  return buf;
}
