// Graph surgery for passes: add nodes and constants, redirect uses, then compact (drop what
// is dead, restore topological order, renumber densely).
import { formatType, numel, type Attrs, type DType, type Graph, type Node, type SourceLoc, type TensorType } from "./graph.js";
import { getOp, ShapeError } from "./ops.js";

/**
 * The most bytes one tensor may take, whatever the target: 2 GiB (2^31 bytes) fits wasm32's
 * 4 GiB memory with room for the rest, a JavaScript typed array, and the storage buffers of
 * WebGPU adapters that raise the default limits; byte offsets stay below 2^31 in 32-bit code.
 */
export const MAX_TENSOR_BYTES = 2 ** 31;

/** Bytes per element as the targets store them: i64 in 8, every other dtype (bool included) in 4. */
const elementBytes = (dtype: DType) => (dtype === "i64" ? 8 : 4);

/** Why no tensor of type `t` can exist (a dimension not a whole number, or over MAX_TENSOR_BYTES), or undefined. */
export function tensorSizeProblem(t: TensorType): string | undefined {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `${formatType(t)} has a dimension that is not a whole number from 0 to 2^53 - 1`;
  const bytes = numel(t.shape) * elementBytes(t.dtype);
  if (bytes <= MAX_TENSOR_BYTES) return undefined;
  return `${formatType(t)} would take ${byteCount(bytes)} bytes; a tensor may take at most ${MAX_TENSOR_BYTES / 2 ** 30} GiB (${byteCount(MAX_TENSOR_BYTES)} bytes)`;
}

/** A byte count with thousands separators: "2,147,483,648". */
export const byteCount = (bytes: number) => bytes.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** Appends a node (types inferred, sizes checked) and returns its output value ids. Call compact() afterwards. */
export function addNode(g: Graph, op: string, inputs: number[], attrs: Attrs, path = "", loc?: SourceLoc): number[] {
  const types = getOp(op).infer(inputs.map((i) => g.values[i]!.type), attrs);
  for (const t of types) {
    const problem = tensorSizeProblem(t);
    if (problem !== undefined) throw new ShapeError(`${op}: its result ${problem}`);
  }
  const id = g.nodes.length;
  const outputs = types.map((type) => {
    const v = g.values.length;
    g.values.push({ id: v, type, kind: "node", producer: id });
    return v;
  });
  g.nodes.push({ id, op, inputs, outputs, attrs, path, ...(loc ? { loc } : {}) });
  return outputs;
}

/** A constant of `data`'s dtype (f32 or i32), or of `as` for integer data held as i32 (bool: 0 / 1). */
export function addConstant(g: Graph, shape: number[], data: Float32Array | Int32Array, name?: string, as?: "bool"): number {
  const dtype: DType = data instanceof Float32Array ? "f32" : (as ?? "i32");
  if (numel(shape) !== data.length) throw new Error(`constant of shape [${shape}] with ${data.length} elements`);
  const v = g.values.length;
  g.values.push({ id: v, type: { dtype, shape }, kind: "const" });
  g.constants.push({ value: v, data, ...(name !== undefined ? { name } : {}) });
  return v;
}

/**
 * A graph under rewriting with use-lists kept current: redirecting the uses of a value costs
 * its readers, not a sweep of the graph. Passes change node inputs only through it (node(),
 * replace(), setInputs()), so the lists stay true; compact() the graph when done.
 */
export class Rewriter {
  private readonly readersOf = new Map<number, Node[]>();

  constructor(readonly g: Graph) {
    for (const n of g.nodes) this.track(n);
  }

  private track(n: Node): void {
    for (const v of new Set(n.inputs)) (this.readersOf.get(v) ?? this.readersOf.set(v, []).get(v)!).push(n);
  }

  private untrack(n: Node): void {
    for (const v of new Set(n.inputs)) {
      const rs = this.readersOf.get(v);
      if (rs) rs.splice(rs.indexOf(n), 1);
    }
  }

  /** Appends a node (types inferred) and returns its output value ids. */
  node(op: string, inputs: number[], attrs: Attrs, path = "", loc?: SourceLoc): number[] {
    const outs = addNode(this.g, op, inputs, attrs, path, loc);
    this.track(this.g.nodes[this.g.nodes.length - 1]!);
    return outs;
  }

  constant(shape: number[], data: Float32Array | Int32Array, name?: string, as?: "bool"): number {
    return addConstant(this.g, shape, data, name, as);
  }

  /** The nodes that read `value` (each once). */
  readers(value: number): readonly Node[] {
    return this.readersOf.get(value) ?? [];
  }

  /** The one node that reads `value`, and reads it once, when no graph output is `value` either. */
  soleReader(value: number): Node | undefined {
    const rs = this.readers(value);
    if (rs.length !== 1 || this.g.outputs.some((p) => p.value === value)) return undefined;
    return rs[0]!.inputs.filter((i) => i === value).length === 1 ? rs[0] : undefined;
  }

  /** Redirects every use of `from` (node inputs and graph outputs) to `to`. */
  replace(from: number, to: number): void {
    if (from === to) return;
    for (const n of [...this.readers(from)]) this.setInputs(n, n.inputs.map((i) => (i === from ? to : i)));
    for (const p of this.g.outputs) if (p.value === from) p.value = to;
  }

  /** Forgets the uses of `n`, whose result nobody reads any more (compact() then drops it). */
  erase(n: Node): void {
    this.setInputs(n, []);
  }

  /** Gives `n` new inputs. */
  setInputs(n: Node, inputs: number[]): void {
    this.untrack(n);
    n.inputs = inputs;
    this.track(n);
  }
}

/**
 * A local rewrite: given a node of one of `ops`, returns the value that now stands for its (only)
 * output, or undefined when it does not apply.
 */
export interface Rule {
  ops: readonly string[];
  apply(rw: Rewriter, n: Node): number | undefined;
}

/**
 * The greedy rewrite driver (MLIR's, tinygrad's PatternMatcher): visits nodes in order, nodes
 * that rules create included, applying the first rule that fires until none does; then compacts.
 * Nodes are in topological order and uses are redirected at once, so a rule always sees
 * rewritten inputs.
 */
export function applyRules(g: Graph, rules: readonly Rule[]): Graph {
  const rw = new Rewriter(g);
  const byOp = new Map<string, Rule[]>();
  for (const r of rules) for (const op of r.ops) (byOp.get(op) ?? byOp.set(op, []).get(op)!).push(r);
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    for (const r of byOp.get(n.op) ?? []) {
      const to = r.apply(rw, n);
      if (to === undefined) continue;
      rw.replace(n.outputs[0]!, to);
      break;
    }
  }
  return compact(g);
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
