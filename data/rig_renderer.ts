/**
 * Renders a rig (posed by blendshape weights) with the WebGPU render pipeline: depth test, 4x MSAA, ambient +
 * directional lights (`rig_renderer.wgsl`). Output is RGBA8 with straight (non-premultiplied) alpha, where alpha
 * is the anti-aliased coverage, i.e. the foreground mask.
 *
 * Cameras follow the dataset format: `c2w` is the OpenGL camera-to-world matrix (x right, y up, looking down -z),
 * row-major 4x4 as in `transforms_*.json`; intrinsics are in pixels with the nerfstudio convention that pixel
 * (i, j) covers [i, i+1] x [j, j+1], so a centred principal point is cx = w/2, cy = h/2.
 */
import type { Gpu } from "../gpu/device.ts";
import { posedPositions, type Rig, vertexNormals } from "./rig.ts";
import shader from "./rig_renderer.wgsl" with { type: "text" };

/** A pinhole camera in the dataset convention (see the module comment). */
export interface PinholeCamera {
  c2w: number[][];
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  width: number;
  height: number;
}

/** OpenGL camera-to-world matrix for a camera at `eye` looking at `target` with `up` roughly up. */
export function lookAt(
  eye: readonly number[],
  target: readonly number[],
  up: readonly number[] = [0, 1, 0],
): number[][] {
  const norm = (v: number[]) => {
    const l = Math.hypot(v[0], v[1], v[2]);
    return v.map((x) => x / l);
  };
  const cross = (a: number[], b: number[]) => [
    a[1] * b[2] - a[2] * b[1],
    a[2] * b[0] - a[0] * b[2],
    a[0] * b[1] - a[1] * b[0],
  ];
  const back = norm([eye[0] - target[0], eye[1] - target[1], eye[2] - target[2]]); // camera +z
  const right = norm(cross([...up], back));
  const camUp = cross(back, right);
  return [
    [right[0], camUp[0], back[0], eye[0]],
    [right[1], camUp[1], back[1], eye[1]],
    [right[2], camUp[2], back[2], eye[2]],
    [0, 0, 0, 1],
  ];
}

/** World point -> OpenGL camera coordinates for a rigid c2w (x right, y up, visible points have z < 0). */
export function toCamera(c2w: number[][], p: ArrayLike<number>, offset = 0): number[] {
  const d = [p[offset] - c2w[0][3], p[offset + 1] - c2w[1][3], p[offset + 2] - c2w[2][3]];
  return [0, 1, 2].map((k) => c2w[0][k] * d[0] + c2w[1][k] * d[1] + c2w[2][k] * d[2]);
}

/**
 * Projects world points [N, 3] to pixels: returns [N, 3] of (u, v, depth) with u right, v down in pixel units
 * (continuous, pixel centres at i + 0.5) and depth = distance along the viewing axis (> 0 in front).
 */
export function projectPoints(cam: PinholeCamera, points: Float32Array): Float32Array {
  const out = new Float32Array(points.length);
  for (let i = 0; i < points.length; i += 3) {
    const [x, y, z] = toCamera(cam.c2w, points, i);
    const d = -z;
    out[i] = cam.fx * (x / d) + cam.cx;
    out[i + 1] = cam.cy - cam.fy * (y / d);
    out[i + 2] = d;
  }
  return out;
}

/** Column-major world -> WebGPU clip matrix for the camera (depth 0 at `near`, 1 at `far`). */
export function viewProjection(cam: PinholeCamera, near = 0.05, far = 20): Float32Array {
  const { fx, fy, cx, cy, width: W, height: H, c2w } = cam;
  // Rows of the projection acting on OpenGL camera coordinates (x, y, z, 1).
  const P = [
    [(2 * fx) / W, 0, 1 - (2 * cx) / W, 0],
    [0, (2 * fy) / H, -(1 - (2 * cy) / H), 0],
    [0, 0, far / (near - far), (near * far) / (near - far)],
    [0, 0, -1, 0],
  ];
  // World -> camera rows: R^T and -R^T t.
  const Vw = [0, 1, 2].map((k) => {
    const r = [c2w[0][k], c2w[1][k], c2w[2][k]];
    return [r[0], r[1], r[2], -(r[0] * c2w[0][3] + r[1] * c2w[1][3] + r[2] * c2w[2][3])];
  });
  Vw.push([0, 0, 0, 1]);
  const out = new Float32Array(16);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += P[r][k] * Vw[k][c];
      out[c * 4 + r] = s;
    }
  }
  return out;
}

export interface RigRendererOptions {
  width: number;
  height: number;
  /** MSAA sample count: 1 or 4 (default 4). */
  samples?: 1 | 4;
}

/** Renders one rig at a fixed resolution; pose it with `setWeights`, then render any number of cameras. */
export class RigRenderer {
  readonly gpu: Gpu;
  readonly rig: Rig;
  readonly width: number;
  readonly height: number;
  #pipeline: GPURenderPipeline;
  #buffers: GPUBuffer[];
  #index: GPUBuffer;
  #msaa: GPUTexture;
  #resolve: GPUTexture | null;
  #depth: GPUTexture;
  #samples: number;
  #posed: Float32Array;
  #normals: Float32Array;

  constructor(gpu: Gpu, rig: Rig, opts: RigRendererOptions) {
    this.gpu = gpu;
    this.rig = rig;
    this.width = opts.width;
    this.height = opts.height;
    this.#samples = opts.samples ?? 4;
    const dev = gpu.device;
    const module = dev.createShaderModule({ code: shader, label: "rig_renderer" });
    const attr = (location: number): GPUVertexBufferLayout => ({
      arrayStride: 12,
      attributes: [{ shaderLocation: location, offset: 0, format: "float32x3" }],
    });
    this.#pipeline = dev.createRenderPipeline({
      label: "rig_renderer",
      layout: "auto",
      vertex: { module, entryPoint: "vs_main", buffers: [attr(0), attr(1), attr(2)] },
      fragment: { module, entryPoint: "fs_main", targets: [{ format: "rgba8unorm" }] },
      primitive: { topology: "triangle-list", cullMode: "none" },
      depthStencil: { format: "depth32float", depthWriteEnabled: true, depthCompare: "less" },
      multisample: { count: this.#samples },
    });
    const vbytes = rig.positions.byteLength;
    const vb = (label: string) =>
      dev.createBuffer({ size: vbytes, usage: GPUBufferUsage.VERTEX | GPUBufferUsage.COPY_DST, label });
    this.#buffers = [vb("rig positions"), vb("rig normals"), vb("rig colors")];
    dev.queue.writeBuffer(this.#buffers[2], 0, rig.colors as Float32Array<ArrayBuffer>);
    this.#index = dev.createBuffer({
      size: rig.indices.byteLength,
      usage: GPUBufferUsage.INDEX | GPUBufferUsage.COPY_DST,
      label: "rig indices",
    });
    dev.queue.writeBuffer(this.#index, 0, rig.indices as Uint32Array<ArrayBuffer>);
    const size = { width: this.width, height: this.height };
    this.#msaa = dev.createTexture({
      size,
      format: "rgba8unorm",
      sampleCount: this.#samples,
      usage: GPUTextureUsage.RENDER_ATTACHMENT | (this.#samples === 1 ? GPUTextureUsage.COPY_SRC : 0),
    });
    this.#resolve = this.#samples === 1 ? null : dev.createTexture({
      size,
      format: "rgba8unorm",
      usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC,
    });
    this.#depth = dev.createTexture({
      size,
      format: "depth32float",
      sampleCount: this.#samples,
      usage: GPUTextureUsage.RENDER_ATTACHMENT,
    });
    this.#posed = new Float32Array(rig.positions.length);
    this.#normals = new Float32Array(rig.positions.length);
    this.setWeights([]);
  }

  /** Poses the rig with blendshape weights (CPU blend + normals, uploaded to the vertex buffers). */
  setWeights(weights: ArrayLike<number>): void {
    this.setPositions(posedPositions(this.rig, weights, this.#posed));
  }

  /**
   * Poses the rig with given vertex positions [V, 3] (e.g. a head's exact geometry rather than the blend of its
   * deltas): normals are recomputed and both are uploaded.
   */
  setPositions(positions: Float32Array): void {
    if (positions.length !== this.#posed.length) {
      throw new Error(
        `setPositions: ${positions.length / 3} vertices for a rig of ${this.#posed.length / 3}`,
      );
    }
    if (positions !== this.#posed) this.#posed.set(positions);
    vertexNormals(this.#posed, this.rig.indices, this.#normals);
    this.gpu.device.queue.writeBuffer(this.#buffers[0], 0, this.#posed as Float32Array<ArrayBuffer>);
    this.gpu.device.queue.writeBuffer(this.#buffers[1], 0, this.#normals as Float32Array<ArrayBuffer>);
  }

  /** The posed vertex positions of the last `setWeights`, [V, 3]. */
  get posed(): Float32Array {
    return this.#posed;
  }

  /** Renders the current pose from each camera; returns RGBA8 images (straight alpha), row-major, top row first. */
  async renderMany(cameras: readonly PinholeCamera[]): Promise<Uint8Array[]> {
    const dev = this.gpu.device, W = this.width, H = this.height;
    this.gpu.flush();
    const rowBytes = Math.ceil((W * 4) / 256) * 256;
    const read = dev.createBuffer({
      size: rowBytes * H * cameras.length,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "rig render readback",
    });
    const encoder = dev.createCommandEncoder({ label: "rig render" });
    const uniformsUsed: GPUBuffer[] = [];
    cameras.forEach((cam, i) => {
      if (cam.width !== W || cam.height !== H) {
        throw new Error(`camera is ${cam.width}x${cam.height} but the renderer is ${W}x${H}`);
      }
      const ubo = dev.createBuffer({ size: 80, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      const data = new Float32Array(20);
      data.set(viewProjection(cam));
      data.set([cam.c2w[0][3], cam.c2w[1][3], cam.c2w[2][3], 1], 16);
      dev.queue.writeBuffer(ubo, 0, data);
      uniformsUsed.push(ubo);
      const bind = dev.createBindGroup({
        layout: this.#pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: ubo } }],
      });
      const pass = encoder.beginRenderPass({
        colorAttachments: [{
          view: this.#msaa.createView(),
          resolveTarget: this.#resolve?.createView(),
          clearValue: { r: 0, g: 0, b: 0, a: 0 },
          loadOp: "clear",
          storeOp: this.#resolve ? "discard" : "store",
        }],
        depthStencilAttachment: {
          view: this.#depth.createView(),
          depthClearValue: 1,
          depthLoadOp: "clear",
          depthStoreOp: "discard",
        },
      });
      pass.setPipeline(this.#pipeline);
      pass.setBindGroup(0, bind);
      this.#buffers.forEach((b, k) => pass.setVertexBuffer(k, b));
      pass.setIndexBuffer(this.#index, "uint32");
      pass.drawIndexed(this.rig.indices.length);
      pass.end();
      encoder.copyTextureToBuffer(
        { texture: this.#resolve ?? this.#msaa },
        { buffer: read, offset: i * rowBytes * H, bytesPerRow: rowBytes },
        { width: W, height: H },
      );
    });
    dev.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const all = new Uint8Array(read.getMappedRange());
    const images = cameras.map((_, i) => {
      const img = new Uint8Array(W * H * 4);
      for (let y = 0; y < H; y++) {
        const src = i * rowBytes * H + y * rowBytes;
        img.set(all.subarray(src, src + W * 4), y * W * 4);
      }
      return unpremultiply(img);
    });
    read.unmap();
    read.destroy();
    for (const u of uniformsUsed) u.destroy();
    return images;
  }

  /** Renders the current pose from one camera. */
  async render(camera: PinholeCamera): Promise<Uint8Array> {
    return (await this.renderMany([camera]))[0];
  }

  /** Releases the GPU resources. */
  destroy(): void {
    for (const b of this.#buffers) b.destroy();
    this.#index.destroy();
    this.#msaa.destroy();
    this.#resolve?.destroy();
    this.#depth.destroy();
  }
}

/** Converts coverage-premultiplied RGBA8 to straight alpha in place. */
function unpremultiply(img: Uint8Array): Uint8Array {
  for (let i = 0; i < img.length; i += 4) {
    const a = img[i + 3];
    if (a === 0 || a === 255) continue;
    for (let c = 0; c < 3; c++) img[i + c] = Math.min(255, Math.round((img[i + c] * 255) / a));
  }
  return img;
}
