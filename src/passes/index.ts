// Every pass, registered on import, and the default pipeline `graphc compile` runs.
import "./dce.js";

export { allPasses, getPass, runPipeline, type Pass, type PassStat } from "./manager.js";

export const defaultPipeline: readonly string[] = ["dce"];
