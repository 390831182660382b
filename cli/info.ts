/** `info`: prints the WebGPU adapter, its optional features and key limits. */
import { acquireGpu } from "../gpu/device.ts";
import type { Command } from "./command.ts";

export const infoCommand: Command = {
  name: "info",
  summary: "show the WebGPU adapter, optional features and limits this machine offers",
  options: {},
  async run() {
    const gpu = await acquireGpu();
    const l = gpu.limits;
    console.log(`adapter:   ${gpu.adapterName}${gpu.isSoftware ? " (software)" : ""}`);
    console.log(`features:  ${Object.entries(gpu.features).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    console.log(
      `limits:    storage binding ${l.maxStorageBufferBindingSize} B, buffer ${l.maxBufferSize} B, ` +
        `workgroup storage ${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}, ` +
        `storage buffers/stage ${l.maxStorageBuffersPerShaderStage}`,
    );
    gpu.destroy();
  },
};
