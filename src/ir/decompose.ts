// Lowering to core ops: nodes a consumer cannot take as they are (fused ops for ONNX export,
// channels-last nodes for WGSL) are replaced by their registry decompositions, step by step,
// until every node is accepted or in core form.
import type { Graph, Node } from "./graph.js";
import { getOp, type GraphBuilder } from "./ops.js";
import { compact, Rewriter } from "./rewrite.js";

/** A builder appending nodes at the place (path, loc) of `at`. */
export function builderAt(rw: Rewriter, at: Node): GraphBuilder {
  return {
    node: (op, inputs, attrs) => rw.node(op, inputs, attrs, at.path, at.loc),
    constant: (shape, data) => rw.constant(shape, data),
    type: (v) => rw.g.values[v]!.type,
  };
}

/**
 * Decomposes every node for which `wanted(node)` holds, and the nodes its decomposition makes,
 * until none is wanted or none decomposes further. Returns the compacted graph and the nodes
 * left wanted but in core form (for the caller to report).
 */
export function decompose(g: Graph, wanted: (g: Graph, n: Node) => boolean): { graph: Graph; stuck: Node[] } {
  const rw = new Rewriter(g);
  const stuck: Node[] = [];
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    if (!wanted(g, n)) continue;
    const outs = getOp(n.op).decompose?.(builderAt(rw, n), n.inputs, n.attrs);
    if (!outs) {
      stuck.push(n);
      continue;
    }
    // The new nodes were appended: the loop reaches them in turn.
    n.outputs.forEach((o, k) => rw.replace(o, outs[k]!));
  }
  return { graph: compact(g), stuck };
}
