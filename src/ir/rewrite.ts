// Graph surgery for passes: add nodes and constants, redirect uses, then compact (drop what
// is dead, restore topological order, renumber densely).
import { numel, type Attrs, type DType, type Graph, type Node, type SourceLoc } from "./graph.js";
import { getOp } from "./ops.js";

/** Appends a node (types inferred) and returns its output value ids. Call compact() afterwards. */
export function addNode(g: Graph, op: string, inputs: number[], attrs: Attrs, path = "", loc?: SourceLoc): number[] {
  const types = getOp(op).infer(inputs.map((i) => g.values[i]!.type), attrs);
  const id = g.nodes.length;
  const outputs = types.map((type) => {
    const v = g.values.length;
    g.values.push({ id: v, type, kind: "node", producer: id });
    return v;
  });
  g.nodes.push({ id, op, inputs, outputs, attrs, path, ...(loc ? { loc } : {}) });
  return outputs;
}

export function addConstant(g: Graph, shape: number[], data: Float32Array | Int32Array, name?: string): number {
  const dtype: DType = data instanceof Float32Array ? "f32" : "i32";
  if (numel(shape) !== data.length) throw new Error(`constant of shape [${shape}] with ${data.length} elements`);
  const v = g.values.length;
  g.values.push({ id: v, type: { dtype, shape }, kind: "const" });
  g.constants.push({ value: v, data, ...(name !== undefined ? { name } : {}) });
  return v;
}

/** Redirects every use of `from` (node inputs and graph outputs) to `to`. */
export function replaceUses(g: Graph, from: number, to: number): void {
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  for (const p of g.outputs) if (p.value === from) p.value = to;
}

/** For each value id, the nodes that read it. */
export function usersOf(g: Graph): Map<number, Node[]> {
  const users = new Map<number, Node[]>();
  for (const n of g.nodes) for (const i of new Set(n.inputs)) (users.get(i) ?? users.set(i, []).get(i)!).push(n);
  return users;
}

/** The node producing `value`, if any. */
export function producer(g: Graph, value: number): Node | undefined {
  const v = g.values[value]!;
  return v.kind === "node" ? g.nodes[v.producer!] : undefined;
}

/** Constant data of a value, if it is a constant. */
export function constantData(g: Graph, value: number): Float32Array | Int32Array | undefined {
  return g.values[value]!.kind === "const" ? g.constants.find((c) => c.value === value)?.data : undefined;
}

/**
 * Removes nodes whose results nobody needs, constants and weights nobody reads, orders nodes
 * topologically (keeping the existing order where it is already valid) and renumbers values
 * and nodes densely. Returns the same graph object.
 */
export function compact(g: Graph): Graph {
  const live = new Set<number>(g.outputs.map((p) => p.value));
  const byOutput = new Map<number, Node>();
  for (const n of g.nodes) for (const o of n.outputs) byOutput.set(o, n);
  const liveNodes = new Set<Node>();
  const stack = [...live];
  while (stack.length) {
    const n = byOutput.get(stack.pop()!);
    if (!n || liveNodes.has(n)) continue;
    liveNodes.add(n);
    for (const i of n.inputs) if (!live.has(i)) (live.add(i), stack.push(i));
  }
  // Topological order, stable: repeatedly emit the earliest node whose inputs are ready.
  const pending = g.nodes.filter((n) => liveNodes.has(n));
  const ready = new Set<number>([...g.inputs.map((p) => p.value), ...g.constants.map((c) => c.value), ...g.weights.map((w) => w.value)]);
  const order: Node[] = [];
  while (pending.length) {
    const i = pending.findIndex((n) => n.inputs.every((x) => ready.has(x)));
    if (i < 0) throw new Error(`compact: cycle or undefined input among ${pending.map((n) => n.op).join(", ")}`);
    const [n] = pending.splice(i, 1);
    order.push(n!);
    for (const o of n!.outputs) ready.add(o);
  }
  const remap = new Map<number, number>();
  const values: Graph["values"] = [];
  const keep = (old: number) => {
    let id = remap.get(old);
    if (id === undefined) {
      id = values.length;
      remap.set(old, id);
      values.push({ ...g.values[old]!, id });
    }
    return id;
  };
  for (const p of g.inputs) p.value = keep(p.value);
  g.weights = g.weights.filter((w) => live.has(w.value)).map((w) => ({ ...w, value: keep(w.value) }));
  g.constants = g.constants.filter((c) => live.has(c.value)).map((c) => ({ ...c, value: keep(c.value) }));
  g.nodes = order.map((n, id) => {
    const inputs = n.inputs.map(keep);
    const outputs = n.outputs.map((o) => {
      const v = keep(o);
      values[v]!.producer = id;
      return v;
    });
    return { ...n, id, inputs, outputs };
  });
  for (const p of g.outputs) p.value = keep(p.value);
  g.values = values;
  return g;
}

/** Turns every weight into a named constant holding its data (the start of compilation). */
export function bindWeights(g: Graph, data: ReadonlyMap<string, Float32Array | Int32Array | BigInt64Array>): Graph {
  for (const w of g.weights) {
    const d = data.get(w.name);
    if (!d) throw new Error(`no data for weight ${w.name}`);
    if (d instanceof BigInt64Array) continue; // num_batches_tracked: read by nothing, dropped below
    g.values[w.value]!.kind = "const";
    g.constants.push({ value: w.value, data: d, name: w.name });
  }
  g.weights = g.weights.filter((w) => g.values[w.value]!.kind === "weight");
  return compact(g);
}
