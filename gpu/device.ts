/**
 * GPU acquisition: one `Gpu` object per process that owns the WebGPU device, knows which optional features the
 * adapter offers, caches compute pipelines, and batches dispatches into one command encoder until a readback or
 * an explicit `flush()`.
 *
 * Uses only WebGPU and standard JavaScript so the same code runs in a browser tab.
 */

/** Thrown when no WebGPU adapter can be found; the message tells the user how to get one. */
export class GpuUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter is available (${detail}). Install the GPU vendor's driver with Vulkan, Metal or D3D12 ` +
        `support, or on Debian/Ubuntu without a GPU install Mesa's software Vulkan: ` +
        `'sudo apt-get install mesa-vulkan-drivers'.`,
    );
    this.name = "GpuUnavailableError";
  }
}

/** Thrown when the device was lost (driver reset, out of memory, destroyed). */
export class GpuLostError extends Error {
  constructor(reason: string, message: string) {
    super(
      `The GPU device was lost (${reason}: ${message}). Completed work is kept in the last checkpoint; ` +
        `restart the command (with --resume when training).`,
    );
    this.name = "GpuLostError";
  }
}

/** A WebGPU validation or out-of-memory error raised by our own kernels or allocations. */
export class GpuValidationError extends Error {
  constructor(what: string, message: string) {
    super(`GPU error in ${what}: ${message}`);
    this.name = "GpuValidationError";
  }
}

/** Optional adapter capabilities, detected at start-up. None is ever required. */
export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  /** Native `atomic<f32>` add in WGSL; no browser or Deno exposes it in core WebGPU today. */
  floatAtomics: boolean;
}

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Features to skip even when the adapter offers them (e.g. to test fallbacks). */
  disable?: Array<keyof GpuFeatures>;
}

/** Largest workgroup count per dispatch dimension guaranteed by WebGPU. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  label: string;
}

/** The process-wide GPU context. Create with `acquireGpu()`. */
export class Gpu {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  /** Resolves when the device is lost; `lostError` is set then. */
  readonly lost: Promise<GPUDeviceLostInfo>;
  lostError: GpuLostError | null = null;
  /**
   * Number of times the CPU waited for the GPU so far (a `mapAsync` read-back through `readBuffer`, or `sync()`),
   * for benchmarks that count waits per training step. Each costs at least one device poll (about 11 ms on Deno).
   */
  waits = 0;

  #pipelines = new Map<string, CachedPipeline>();
  #encoder: GPUCommandEncoder | null = null;
  #pendingDestroy: GPUBuffer[] = [];
  #errors: GpuValidationError[] = [];
  #errorChecks: Promise<void>[] = [];
  #destroyed = false;

  constructor(device: GPUDevice, info: GPUAdapterInfo, features: GpuFeatures) {
    this.device = device;
    this.adapterInfo = info;
    this.features = features;
    this.limits = device.limits;
    this.lost = device.lost.then((info) => {
      if (!this.#destroyed) this.lostError = new GpuLostError(info.reason, info.message);
      return info;
    });
    device.addEventListener("uncapturederror", (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.#errors.push(new GpuValidationError("a GPU command", err.message));
    });
  }

  /** Human-readable adapter name for logs and benchmark tables. */
  get adapterName(): string {
    const i = this.adapterInfo;
    return i.description || [i.vendor, i.architecture, i.device].filter((s) => s).join(" ") ||
      "unknown adapter";
  }

  /** True when the adapter is a CPU implementation (e.g. Mesa lavapipe). */
  get isSoftware(): boolean {
    return this.adapterInfo.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(this.adapterName);
  }

  /**
   * A compute pipeline for `code` / `entryPoint` with the given `override` constants, compiled once and cached.
   * Compilation errors are collected and thrown by the next `flush()` / `sync()` with the kernel's label.
   */
  pipeline(
    code: string,
    entryPoint = "main",
    constants: Record<string, number> = {},
    label = entryPoint,
  ): GPUComputePipeline {
    const keys = Object.keys(constants).sort();
    const key = `${entryPoint}\u0000${keys.map((k) => `${k}=${constants[k]}`).join(",")}\u0000${code}`;
    const hit = this.#pipelines.get(key);
    if (hit) return hit.pipeline;
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code, label });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: "auto",
      compute: { module, entryPoint, constants },
    });
    this.#watch(label, this.device.popErrorScope(), module);
    this.#pipelines.set(key, { pipeline, label });
    return pipeline;
  }

  /** Number of distinct pipelines compiled so far. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /** The shared command encoder that dispatches record into until the next flush. */
  get encoder(): GPUCommandEncoder {
    this.#checkLost();
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  /** Destroys `buf` after the commands recorded so far have been submitted. */
  destroyAfterSubmit(buf: GPUBuffer): void {
    this.#pendingDestroy.push(buf);
  }

  /** Submits the recorded commands (no waiting). */
  flush(): void {
    this.#checkLost();
    if (this.#encoder) {
      this.device.queue.submit([this.#encoder.finish()]);
      this.#encoder = null;
    }
    for (const b of this.#pendingDestroy) b.destroy();
    this.#pendingDestroy = [];
  }

  /** Submits and waits until the GPU has finished everything; throws collected GPU errors. */
  async sync(): Promise<void> {
    this.flush();
    this.waits++;
    await this.device.queue.onSubmittedWorkDone();
    await this.throwErrors();
  }

  /** Throws the first GPU validation / compilation / out-of-memory error seen since the last call. */
  async throwErrors(): Promise<void> {
    const checks = this.#errorChecks;
    this.#errorChecks = [];
    await Promise.all(checks);
    this.#checkLost();
    const errs = this.#errors;
    this.#errors = [];
    if (errs.length > 0) throw errs[0];
  }

  /**
   * Runs `fn` inside validation + out-of-memory error scopes, so an allocation failure becomes a clear error.
   * `what` names the allocation for the message.
   */
  guard<T>(what: string, fn: () => T): T {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let out: T;
    try {
      out = fn();
    } finally {
      const v = this.device.popErrorScope();
      const m = this.device.popErrorScope();
      this.#watch(what, v);
      this.#watch(what, m, undefined, true);
    }
    return out;
  }

  /** Releases the device. Further use throws. */
  destroy(): void {
    if (this.#destroyed) return;
    if (!this.lostError) this.flush();
    this.#destroyed = true;
    this.device.destroy();
  }

  #watch(what: string, p: Promise<GPUError | null>, module?: GPUShaderModule, oom = false): void {
    this.#errorChecks.push(
      p.then(async (err) => {
        if (!err) return;
        let msg = err.message;
        if (module) {
          const info = await module.getCompilationInfo();
          const lines = info.messages.map((m) => `${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`);
          if (lines.length) msg = `${lines.join("\n")}\n${msg}`;
        }
        if (oom) {
          msg =
            `out of GPU memory (${msg}). Reduce the number of Gaussians, the image size or the batch size.`;
        }
        this.#errors.push(new GpuValidationError(what, msg));
      }),
    );
  }

  #checkLost(): void {
    if (this.lostError) throw this.lostError;
    if (this.#destroyed) throw new Error("The GPU context was destroyed; acquire a new one.");
  }
}

/**
 * Finds an adapter, requests its full limits explicitly and the optional features it has, and returns a `Gpu`.
 * Throws `GpuUnavailableError` with instructions when WebGPU or an adapter is missing.
 */
export async function acquireGpu(options: GpuOptions = {}): Promise<Gpu> {
  preferVulkanOnLinux();
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) throw new GpuUnavailableError("this runtime has no navigator.gpu");
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await nav.gpu.requestAdapter({
      powerPreference: options.powerPreference ?? "high-performance",
    });
  } catch (e) {
    throw new GpuUnavailableError(`requestAdapter failed: ${(e as Error).message}`);
  }
  if (!adapter) throw new GpuUnavailableError("requestAdapter returned no adapter");

  const disabled = new Set(options.disable ?? []);
  const has = (f: string) => adapter!.features.has(f as GPUFeatureName);
  const features: GpuFeatures = {
    shaderF16: has("shader-f16") && !disabled.has("shaderF16"),
    subgroups: has("subgroups") && !disabled.has("subgroups"),
    timestampQuery: has("timestamp-query") && !disabled.has("timestampQuery"),
    floatAtomics: false,
  };
  const required: GPUFeatureName[] = [];
  if (features.shaderF16) required.push("shader-f16");
  if (features.subgroups) required.push("subgroups" as GPUFeatureName);
  if (features.timestampQuery) required.push("timestamp-query");

  // Request every numeric limit at the adapter's maximum so large buffers and workgroups are allowed.
  const requiredLimits: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, unknown>;
  for (const key of LIMIT_NAMES) {
    const v = lim[key];
    if (typeof v === "number") requiredLimits[key] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: required, requiredLimits });
  } catch (e) {
    throw new GpuUnavailableError(`requestDevice failed: ${(e as Error).message}`);
  }
  return new Gpu(device, adapter.info, features);
}

/**
 * Under Deno on Linux, WebGPU by default also starts wgpu's OpenGL backend: every adapter request loads EGL and
 * Mesa's GL driver (with its own llvmpipe threads on machines without a GPU) next to the Vulkan driver, although
 * the adapter we get there is the Vulkan one (the README requires Vulkan on Linux). With both drivers loaded we
 * saw an intermittent heap-corruption abort when the test process exited (about 1 run in 5, after every test
 * had passed); with Vulkan alone the GL driver is never loaded. Sets `DENO_WEBGPU_BACKEND=vulkan` before the
 * first request unless the user chose a backend; no effect in browsers, on other systems, or without env access.
 */
function preferVulkanOnLinux(): void {
  const deno = (globalThis as {
    Deno?: {
      build: { os: string };
      env: { get(k: string): string | undefined; set(k: string, v: string): void };
    };
  }).Deno;
  if (!deno || deno.build.os !== "linux") return;
  try {
    if (deno.env.get("DENO_WEBGPU_BACKEND") === undefined) deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
  } catch {
    // No --allow-env: keep Deno's default backends.
  }
}

const LIMIT_NAMES = [
  "maxTextureDimension1D",
  "maxTextureDimension2D",
  "maxTextureDimension3D",
  "maxTextureArrayLayers",
  "maxBindGroups",
  "maxBindingsPerBindGroup",
  "maxDynamicUniformBuffersPerPipelineLayout",
  "maxDynamicStorageBuffersPerPipelineLayout",
  "maxSampledTexturesPerShaderStage",
  "maxSamplersPerShaderStage",
  "maxStorageBuffersPerShaderStage",
  "maxStorageTexturesPerShaderStage",
  "maxUniformBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxStorageBufferBindingSize",
  "minUniformBufferOffsetAlignment",
  "minStorageBufferOffsetAlignment",
  "maxVertexBuffers",
  "maxBufferSize",
  "maxVertexAttributes",
  "maxVertexBufferArrayStride",
  "maxInterStageShaderVariables",
  "maxColorAttachments",
  "maxColorAttachmentBytesPerSample",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
];

let shared: Promise<Gpu> | null = null;

/** A process-wide shared `Gpu` (tests and the CLI use one device). */
export function sharedGpu(): Promise<Gpu> {
  if (!shared) {
    shared = acquireGpu();
    shared.catch(() => (shared = null));
  }
  return shared;
}
