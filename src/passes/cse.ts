// Common-subexpression elimination: nodes with the same op, attributes and inputs compute the
// same values (every op is pure), and so do small constants with the same data.
import type { Attrs, Graph } from "../ir/graph.js";
import { compact, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/** Constants up to this size are compared by content; weights are never equal in practice. */
const MAX_CONST_KEY = 64;

/** Exact bit patterns: 0 and -0 differ. */
const bytes = (d: Float32Array | Int32Array) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength).join();
const attrKey = (a: Attrs) => JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]));

export function cse(g: Graph): Graph {
  const rw = new Rewriter(g);
  const seen = new Map<string, number[]>();
  const merge = (key: string, outs: number[]) => {
    const prev = seen.get(key);
    if (prev) outs.forEach((o, i) => rw.replace(o, prev[i]!));
    else seen.set(key, outs);
  };
  for (const c of g.constants)
    if (c.data.length <= MAX_CONST_KEY) merge(`const ${g.values[c.value]!.type.dtype}[${g.values[c.value]!.type.shape}] ${bytes(c.data)}`, [c.value]);
  // Topological order: a node's inputs are already merged when its key is formed.
  for (const n of g.nodes) merge(`${n.op} ${attrKey(n.attrs)} ${n.inputs}`, n.outputs);
  return compact(g);
}

registerPass({
  name: "cse",
  description: "merge nodes with the same op, attributes and inputs, and small constants with the same data",
  run: cse,
});
