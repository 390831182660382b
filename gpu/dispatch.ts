/**
 * Dispatch helper: binds buffers to group 0 in binding order, writes a small uniform block, and records the
 * dispatch into the shared encoder.
 *
 * Large 1-D dispatches are split over two grid dimensions when they exceed the per-dimension workgroup limit
 * (65,535). Kernels dispatched with `linearWorkgroups` must therefore compute their linear workgroup index as
 *
 *     let wg = wid.x + wid.y * nwg.x;   // @builtin(workgroup_id) wid, @builtin(num_workgroups) nwg
 *
 * and bounds-check against the element count, because the split grid can overshoot by less than one row.
 */
import { type Gpu, MAX_WORKGROUPS_PER_DIM } from "./device.ts";
import { Tensor } from "./tensor.ts";

/** What can be bound: a tensor, a raw buffer, or a buffer range. */
export type Binding = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchOptions {
  /** Bound to @group(0) @binding(i) in order; null leaves binding i out (an entry point that does not use it). */
  bindings: readonly (Binding | null)[];
  /** Workgroup grid. A single number is a 1-D count that is split when it exceeds 65,535. */
  workgroups: number | readonly [number, number?, number?];
  label?: string;
  /**
   * Dispatch indirectly: the grid is read on the GPU from 3 u32 at `offset` bytes of `buffer` (INDIRECT usage),
   * computed by an earlier kernel; `workgroups` is then only the upper bound checked here (kernels still
   * bounds-check against their element count).
   */
  indirect?: { buffer: GPUBuffer; offset?: number };
}

/** Computes the grid for a 1-D count of workgroups, splitting it over y when x would exceed the limit. */
export function linearWorkgroups(
  count: number,
  maxPerDim = MAX_WORKGROUPS_PER_DIM,
): [number, number, number] {
  if (count <= maxPerDim) return [Math.max(count, 0), 1, 1];
  const y = Math.ceil(count / maxPerDim);
  if (y > maxPerDim) throw new Error(`dispatch of ${count} workgroups exceeds ${maxPerDim}² workgroups`);
  return [Math.ceil(count / y), y, 1];
}

function toEntry(b: Binding, i: number): GPUBindGroupEntry {
  if (b instanceof Tensor) return { binding: i, resource: { buffer: b.buffer } };
  if (b instanceof GPUBuffer) return { binding: i, resource: { buffer: b } };
  return { binding: i, resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size } };
}

/** Records one compute dispatch into the shared encoder. A zero-sized grid records nothing. */
export function dispatch(gpu: Gpu, pipeline: GPUComputePipeline, opts: DispatchOptions): void {
  const grid = typeof opts.workgroups === "number"
    ? linearWorkgroups(opts.workgroups, gpu.limits.maxComputeWorkgroupsPerDimension)
    : [opts.workgroups[0], opts.workgroups[1] ?? 1, opts.workgroups[2] ?? 1] as const;
  if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (grid.some((g) => g > max)) {
    throw new Error(
      `${opts.label ?? pipeline.label}: grid [${grid}] exceeds ${max} workgroups per dimension`,
    );
  }
  const bindGroup = gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: opts.bindings.flatMap((b, i) => (b ? [toEntry(b, i)] : [])),
    label: opts.label ?? pipeline.label,
  });
  const pass = gpu.encoder.beginComputePass({ label: opts.label ?? pipeline.label });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  if (opts.indirect) pass.dispatchWorkgroupsIndirect(opts.indirect.buffer, opts.indirect.offset ?? 0);
  else pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
  pass.end();
}

/** Field of a uniform block: a plain number is a u32, tagged pairs give f32 or i32. */
export type UniformField = number | { f32: number } | { i32: number };

/**
 * A uniform buffer holding the fields packed as 4-byte words in order (padded to 16 bytes), valid for the
 * commands recorded before the next flush. Each call makes a fresh buffer, so several dispatches recorded into one
 * encoder each see their own values.
 */
export function uniforms(gpu: Gpu, fields: readonly UniformField[]): GPUBuffer {
  const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(words * 4);
  const view = new DataView(data);
  fields.forEach((f, i) => {
    if (typeof f === "number") {
      if (!Number.isInteger(f) || f < 0 || f > 0xffffffff) {
        throw new Error(`uniform field ${i} is not a u32: ${f}`);
      }
      view.setUint32(i * 4, f, true);
    } else if ("f32" in f) view.setFloat32(i * 4, f.f32, true);
    else view.setInt32(i * 4, f.i32, true);
  });
  const buf = gpu.device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label: "uniforms",
  });
  gpu.device.queue.writeBuffer(buf, 0, data);
  gpu.destroyAfterSubmit(buf);
  return buf;
}
