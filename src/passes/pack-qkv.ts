// Q/K/V packing: linears that read the same input with identical attributes (BERT's query,
// key and value projections) become one linear over the concatenated weights (and biases),
// whose output a split hands back: one big matmul instead of several thin ones.
import type { Graph, Node } from "../ir/graph.js";
import { compact, constantData, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

function concatRows(parts: (Float32Array | Int32Array)[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** The longest common dotted prefix of the members' paths ("encoder.layer.0.attention.self"). */
function commonPath(paths: string[]): string {
  const split = paths.map((p) => p.split("."));
  const common: string[] = [];
  for (let i = 0; split.every((s) => i < s.length && s[i] === split[0]![i]); i++) common.push(split[0]![i]!);
  return common.join(".");
}

/**
 * Packs `group`. `packed` remembers the constants made for each list of parameters, so groups
 * that share their weights (ALBERT's one layer applied 12 times) share one packed copy.
 */
function pack(rw: Rewriter, group: Node[], packed: Map<string, number[]>): void {
  const g = rw.g;
  const [first] = group as [Node, ...Node[]];
  const rows = group.map((n) => g.values[n.inputs[1]!]!.type.shape[0]!);
  const inF = g.values[first.inputs[1]!]!.type.shape[1]!;
  const total = rows.reduce((a, b) => a + b);
  const key = group.map((n) => n.inputs.slice(1).join(",")).join(" ");
  let params = packed.get(key);
  if (!params) {
    params = [rw.constant([total, inF], concatRows(group.map((n) => constantData(g, n.inputs[1]!)!)))];
    if (first.attrs.bias === true) params.push(rw.constant([total], concatRows(group.map((n) => constantData(g, n.inputs[2]!)!))));
    packed.set(key, params);
  }
  const inputs = [first.inputs[0]!, ...params];
  const path = commonPath(group.map((n) => n.path));
  const [y] = rw.node("linear", inputs, first.attrs, path, first.loc);
  const rank = g.values[y!]!.type.shape.length;
  const parts = rw.node("split", [y!], { axis: rank - 1, sizes: rows }, path, first.loc);
  group.forEach((n, i) => rw.replace(n.outputs[0]!, parts[i]!));
}

export function packQkv(g: Graph): Graph {
  // Candidates: plain linears (bias at most, constant parameters), by input and attributes.
  const groups = new Map<string, Node[]>();
  for (const n of g.nodes) {
    if (n.op !== "linear" || Object.keys(n.attrs).some((k) => k !== "bias")) continue;
    if (!n.inputs.slice(1).every((v) => constantData(g, v))) continue;
    const key = `${n.inputs[0]} ${n.attrs.bias === true}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(n);
  }
  const rw = new Rewriter(g);
  const packed = new Map<string, number[]>();
  for (const group of groups.values()) if (group.length >= 2) pack(rw, group, packed);
  return compact(g);
}

registerPass({
  name: "pack-qkv",
  description: "pack linears that read one input (Q/K/V projections) into one linear over concatenated weights, and a split",
  run: packQkv,
});
