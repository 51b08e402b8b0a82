// Shared by the WGSL tests: zoo models compiled for WebGPU, and Dawn devices (null backend for
// validation, SwiftShader for execution) that fail loudly when the system packages are missing.
import { existsSync } from "node:fs";
import { elaborate as elaborateModel, lower, modelWeights, optimise, pipelineFor } from "../../src/driver.js";
import type { ElaborateOptions } from "../../src/frontend/index.js";
import type { Graph } from "../../src/ir/graph.js";
import type { TensorData } from "../../src/interp/index.js";
import { APT_HINT, createNodeDevice, SWIFTSHADER_ICD } from "../../codegen/wgsl/node.js";
import { wgslTarget } from "../../codegen/wgsl/target.js";

/** The WGSL target's own pipeline. */
export const gpuPipeline = pipelineFor(wgslTarget);

export function elaborate(file: string, opts: ElaborateOptions = {}): Graph {
  return elaborateModel({ path: file }, opts).graph;
}

/**
 * Binds weights, runs the GPU pipeline and lowers for the target. `weights: "seeded"` gives the driver's calibrated
 * data (returned, for the interpreter on the unoptimised graph); "dummy" a cheap constant fill
 * (0.37, ids 0): enough for shader validation, which never looks at values.
 */
export function compileForGpu(g: Graph, weights: "seeded" | "dummy"): { graph: Graph; data: Map<string, TensorData> } {
  const data: Map<string, TensorData> =
    weights === "seeded"
      ? modelWeights(g, { seed: 1 }).data
      : new Map(g.weights.map((w) => [w.name, w.type.dtype === "f32" ? new Float32Array(w.type.shape.reduce((a, b) => a * b, 1)).fill(0.37) : new Int32Array(w.type.shape.reduce((a, b) => a * b, 1))]));
  const copy = structuredClone(g);
  return { graph: lower(optimise(copy, data, gpuPipeline, { verifyEach: true }).graph, wgslTarget), data };
}

const onCI = process.env.CI === "true";

/** Dawn's null backend: the full WGSL and pipeline validator, no driver needed. */
export async function nullDevice(): Promise<{ device: GPUDevice; keepAlive: unknown }> {
  const { create } = await import("webgpu");
  const gpu = create(["backend=null"]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("Dawn's null backend gave no adapter");
  return { device: await adapter.requestDevice(), keepAlive: [gpu, adapter] };
}

/** A SwiftShader device; without the packages this throws (on CI and off it: never a silent pass). */
export async function swiftShaderDevice(): Promise<{ device: GPUDevice; keepAlive: unknown }> {
  if (!existsSync(SWIFTSHADER_ICD))
    throw new Error(`${onCI ? "CI" : "this machine"} has no SwiftShader Vulkan driver for the WebGPU tests: ${APT_HINT}`);
  return createNodeDevice();
}

/** max |a - b| / (atol + rtol |b|) over all elements: <= 1 passes. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): { worst: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    const e = d === 0 ? 0 : d / (atol + rtol * Math.abs(b[i]!));
    if (!(e <= worst)) [worst, at] = [Number.isNaN(e) ? Infinity : e, i];
  }
  return { worst, at };
}
