// Runs graphs through the generated WebGPU module on a caller's device, as a user would: emit
// the files, import NAME.mjs, load() (weights read next to the module), run().
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { emitWgslModule } from "../../codegen/wgsl/module.js";
import type { Graph } from "../../src/ir/graph.js";
import type { TensorData } from "../../src/interp/index.js";

export interface GeneratedModel {
  inputs: readonly { name: string; dtype: string; shape: readonly number[] }[];
  outputs: readonly { name: string; dtype: string; shape: readonly number[] }[];
  run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  dispose(): void;
}

/** Writes the module for `g` to a fresh directory; returns it and the .mjs path. */
export function writeModule(g: Graph, name = "model"): { dir: string; mjs: string } {
  const dir = mkdtempSync(join(tmpdir(), "graphc-wgsl-"));
  for (const f of emitWgslModule(g, name).files) writeFileSync(join(dir, f.name), f.contents);
  return { dir, mjs: join(dir, `${name}.mjs`) };
}

export async function loadModule(g: Graph, device: GPUDevice): Promise<GeneratedModel> {
  const { dir, mjs } = writeModule(g);
  try {
    const mod = (await import(pathToFileURL(mjs).href)) as { load(o: { device: GPUDevice }): Promise<GeneratedModel> };
    return await mod.load({ device });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runOnGpu(g: Graph, device: GPUDevice, inputs: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const m = await loadModule(g, device);
  try {
    return await m.run(inputs);
  } finally {
    m.dispose();
  }
}
