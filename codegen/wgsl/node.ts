// A WebGPU device in Node without a GPU: Dawn (the `webgpu` npm package) on SwiftShader, the
// Vulkan CPU driver Debian ships with Chromium.
import { existsSync } from "node:fs";
import { EnvironmentError } from "../../src/base/errors.js";

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
export const APT_HINT = "apt-get install -y --no-install-recommends chromium-common libvulkan1";

/**
 * A GPUDevice with WebGPU's default limits. Keep `keepAlive` (Dawn's instance and the adapter)
 * referenced while the device is in use: if they are collected, Dawn tears the device down.
 */
export async function createNodeDevice(): Promise<{ device: GPUDevice; keepAlive: unknown }> {
  if (!process.env.VK_ICD_FILENAMES) {
    if (!existsSync(SWIFTSHADER_ICD)) throw new EnvironmentError(`no Vulkan driver for WebGPU: ${SWIFTSHADER_ICD} is missing (${APT_HINT})`);
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create } = await import("webgpu");
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new EnvironmentError(`WebGPU (Dawn) found no adapter with VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES} (${APT_HINT})`);
  const device = await adapter.requestDevice();
  return { device, keepAlive: [gpu, adapter] };
}
