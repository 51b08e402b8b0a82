// Every pass, registered on import, and the standard pipeline (each target derives its own from it).
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

export { allPasses, getPass, runPipeline, type Pass, type PassStat, type PipelineOptions } from "./manager.js";

export const defaultPipeline: readonly string[] = ["canonicalize", "constant-fold", "cse", "recognize-patterns", "fold-batchnorm", "pack-qkv", "fuse-epilogue", "fuse-elementwise", "layout", "dce"];
