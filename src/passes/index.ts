// Every pass, registered on import, and the default pipeline `graphc compile` runs.
import "./canonicalize.js";
import "./constant-fold.js";
import "./cse.js";
import "./dce.js";
import "./fold-batchnorm.js";
import "./fuse-elementwise.js";
import "./fuse-epilogue.js";
import "./layout.js";
import "./pack-qkv.js";
import "./recognize-patterns.js";

export { allPasses, getPass, runPipeline, type Pass, type PassStat } from "./manager.js";

export const defaultPipeline: readonly string[] = ["canonicalize", "constant-fold", "cse", "recognize-patterns", "fold-batchnorm", "pack-qkv", "fuse-epilogue", "fuse-elementwise", "layout", "dce"];

export type Target = "wasm" | "wgsl";
export const targets: readonly Target[] = ["wasm", "wgsl"];

/** The default pipeline for a target: the GPU kernels read NCHW, so WGSL skips `layout`. */
export function pipelineFor(target: Target): string[] {
  return defaultPipeline.filter((p) => target !== "wgsl" || p !== "layout");
}
