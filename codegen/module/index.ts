// From an optimised graph (weights bound as constants) to the files of an ES module, and back
// to a running model in memory.
import type { Graph } from "../../src/ir/graph.js";
import { buildWasm, wasmShared } from "../wasm/module.js";
import { emitModule, type ModuleFile } from "./emit.js";
import type { ModuleParts, PortInfo } from "./runtime.js";

export type { ModuleFile } from "./emit.js";
export { loadParts, relaxedSimdSupported, type LoadedModel, type LoadOptions, type ModuleParts, type PortInfo } from "./runtime.js";

/** "auto": ship both SIMD builds, pick at load time; "on": relaxed only; "off": baseline only. */
export type RelaxedSimd = "auto" | "on" | "off";

export interface ModuleOptions {
  relaxedSimd?: RelaxedSimd;
  embedWeights?: boolean;
  /** Called before each long step, e.g. to print progress. */
  onProgress?: (step: string) => void;
}

function ports(g: Graph, which: "inputs" | "outputs"): PortInfo[] {
  return g[which].map((p) => {
    const t = g.values[p.value]!.type;
    if (t.dtype === "bool") throw new Error(`${which.slice(0, -1)} ${p.name}: bool ports are not supported by the wasm target`);
    return { name: p.name, dtype: t.dtype, shape: [...t.shape] };
  });
}

export function buildModule(g: Graph, opts: ModuleOptions = {}): { files: ModuleFile[]; parts: ModuleParts } {
  const mode = opts.relaxedSimd ?? "auto";
  // The second build reuses the first's data layout and packed weights.
  const shared = wasmShared(g);
  const build = (relaxed: boolean) => {
    opts.onProgress?.(`generating ${relaxed ? "relaxed" : "baseline"} SIMD wasm`);
    return buildWasm(g, { relaxed, shared });
  };
  return emitModule({
    name: g.name,
    inputs: ports(g, "inputs"),
    outputs: ports(g, "outputs"),
    ...(mode !== "on" ? { baseline: build(false) } : {}),
    ...(mode !== "off" ? { relaxed: build(true) } : {}),
    embedWeights: opts.embedWeights ?? false,
  });
}
