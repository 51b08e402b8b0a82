// Elementwise fusion, driven by operator classes: a connected region of elementwise and
// broadcast ops becomes one fused_elementwise node whose program evaluates the region per
// output element. A producer joins its consumer's region only when every use of its result is
// inside the region (no recomputation, nothing written to memory twice). Runs after
// fuse-epilogue, so what is left of a chain after the conv/linear epilogue fuses here.
import type { Graph, Node } from "../ir/graph.js";
import { fusedProgram, isBinaryOp, isUnaryOp, type FusedStep } from "../ir/ops.js";
import { compact, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/**
 * Ops a fused program can evaluate: the elementwise and broadcast ops with per-element
 * semantics in the registry (unary and binary), on floats (the program computes in float). Not
 * cast (changes dtype), prelu or batchnorm (they broadcast along a channel axis a step does not carry).
 */
function fusable(g: Graph, n: Node): boolean {
  return (isUnaryOp(n.op) || isBinaryOp(n.op) || n.op === "fused_elementwise") && [...n.inputs, ...n.outputs].every((v) => g.values[v]!.type.dtype === "f32");
}

/** The program of `region` (in topological order) reading `inputs`: existing fused nodes are inlined. */
function program(region: Node[], inputs: number[]): FusedStep[] {
  const reg = new Map(inputs.map((v, i) => [v, i]));
  const steps: FusedStep[] = [];
  const emit = (st: FusedStep) => steps.push(st) + inputs.length - 1;
  for (const n of region) {
    if (n.op === "fused_elementwise") {
      const local = n.inputs.map((v) => reg.get(v)!);
      for (const st of fusedProgram(n.attrs)) local.push(emit({ ...st, args: st.args.map((r) => local[r]!) }));
      reg.set(n.outputs[0]!, local[local.length - 1]!);
    } else {
      const attrs = Object.keys(n.attrs).length ? { attrs: n.attrs } : {};
      reg.set(n.outputs[0]!, emit({ op: n.op, args: n.inputs.map((v) => reg.get(v)!), ...attrs }));
    }
  }
  return steps;
}

export function fuseElementwise(g: Graph): Graph {
  const rw = new Rewriter(g);
  const outputs = new Set(g.outputs.map((p) => p.value));
  const taken = new Set<Node>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const root = g.nodes[i]!;
    if (taken.has(root) || !fusable(g, root)) continue;
    // Grow upwards, deciding producers latest-first so that all their users are decided.
    const region = new Set([root]);
    const candidates = new Set<Node>();
    const consider = (n: Node) => {
      for (const v of n.inputs) {
        const p = g.values[v]!.kind === "node" ? g.nodes[g.values[v]!.producer!]! : undefined;
        if (p && !taken.has(p) && !region.has(p) && fusable(g, p)) candidates.add(p);
      }
    };
    consider(root);
    while (candidates.size) {
      const p = [...candidates].reduce((a, b) => (a.id > b.id ? a : b));
      candidates.delete(p);
      if (!outputs.has(p.outputs[0]!) && rw.readers(p.outputs[0]!).every((u) => region.has(u))) {
        region.add(p);
        consider(p);
      }
    }
    for (const n of region) taken.add(n);
    if (region.size === 1) continue;
    const ordered = [...region].sort((a, b) => a.id - b.id);
    const inputs = [...new Set(ordered.flatMap((n) => n.inputs).filter((v) => !ordered.some((n) => n.outputs.includes(v))))];
    const [out] = rw.node("fused_elementwise", inputs, { program: program(ordered, inputs) }, root.path, root.loc);
    rw.replace(root.outputs[0]!, out!);
  }
  return compact(g);
}

registerPass({
  name: "fuse-elementwise",
  description: "merge connected elementwise/broadcast regions whose intermediates have no other users into fused_elementwise nodes",
  run: fuseElementwise,
});
