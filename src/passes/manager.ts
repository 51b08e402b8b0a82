// The pass manager: passes register under a name with a one-line description, like
// Binaryen's; a pipeline is a list of names.
import type { Graph } from "../ir/graph.js";
import { verify } from "../ir/verify.js";

export interface Pass {
  name: string;
  description: string;
  /** Rewrites the graph (in place or into a new one) and returns it. */
  run(g: Graph): Graph;
}

const registry = new Map<string, Pass>();

export function registerPass(p: Pass): void {
  if (registry.has(p.name)) throw new Error(`pass ${p.name} registered twice`);
  registry.set(p.name, p);
}

export function allPasses(): Pass[] {
  return [...registry.values()];
}

export function getPass(name: string): Pass | undefined {
  return registry.get(name);
}

export interface PassStat {
  name: string;
  nodesBefore: number;
  nodesAfter: number;
}

export interface PipelineOptions {
  /** Run the verifier after every pass (tests always do). */
  verifyEach?: boolean;
  /** Called after each pass, e.g. for --print-after. */
  after?: (pass: string, g: Graph) => void;
}

export function runPipeline(g: Graph, names: readonly string[], opts: PipelineOptions = {}): { graph: Graph; stats: PassStat[] } {
  const stats: PassStat[] = [];
  for (const name of names) {
    const pass = registry.get(name);
    if (!pass) throw new Error(`unknown pass ${name}`);
    const nodesBefore = g.nodes.length;
    g = pass.run(g);
    if (opts.verifyEach) verify(g);
    stats.push({ name, nodesBefore, nodesAfter: g.nodes.length });
    opts.after?.(name, g);
  }
  return { graph: g, stats };
}
