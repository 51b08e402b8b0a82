// What a picture of a graph shows, read from the IR alone: a box per node (op, name path, output
// types, parameter count, the weights it reads), per graph input and per output, the edges
// between them, and for a fused kernel the ops it contains.
import { decompose } from "../ir/decompose.js";
import { formatType, numel, type Graph, type Node, type TensorType } from "../ir/graph.js";
import { activationOf, epilogueInputs, getOp, type OpClass } from "../ir/ops.js";

/** One op inside a fused kernel. */
export interface Step {
  op: string;
  /** What else it is about ("bias", "residual"), or "". */
  note: string;
}

/** A fused kernel's ops, in order, and which feeds which (indices into `steps`). */
export interface Contents {
  steps: Step[];
  edges: [number, number][];
}

export interface Box {
  /** Unique in the picture, fit for an element id: "node-12", "input-0", "output-1". */
  key: string;
  kind: "node" | "input" | "output";
  /** The op, or "input" / "output". */
  title: string;
  /** The node's name path (may be ""), or the port's name. */
  name: string;
  cls: OpClass | "port";
  /** The output types, e.g. "f32[1, 64, 56, 56]". */
  types: string[];
  /** Elements of the parameter tensors the node reads (see `params`). */
  params: number;
  /** Each named weight read, "layer1.0.conv1.weight f32[64, 64, 3, 3]". */
  weights: string[];
  /** Each unnamed constant read: its type, or its value when a scalar. */
  constants: string[];
  contents?: Contents;
}

export interface GraphView {
  model: string;
  boxes: Box[];
  /** [from, to] indices into `boxes`: a value `from` makes that `to` reads. */
  edges: [number, number][];
}

export interface ViewOptions {
  /**
   * Names of the model's buffers (BatchNorm running statistics): read, listed, not counted as
   * parameters. Default: the graph's non-trainable weights (after binding, pass the elaborated
   * graph's, as constants keep their checkpoint names).
   */
  buffers?: ReadonlySet<string>;
}

export function buffersOf(g: Graph): Set<string> {
  return new Set(g.weights.filter((w) => !w.trainable).map((w) => w.name));
}

export function graphView(g: Graph, options: ViewOptions = {}): GraphView {
  const buffers = options.buffers ?? buffersOf(g);
  const weightOf = new Map(g.weights.map((w) => [w.value, w]));
  const constantOf = new Map(g.constants.map((c) => [c.value, c]));
  const boxes: Box[] = [];
  const edges: [number, number][] = [];
  const madeBy = new Map<number, number>(); // value -> the box that makes it
  const port = (kind: "input" | "output", i: number, name: string, t: TensorType): Box => ({ key: `${kind}-${i}`, kind, title: kind, name, cls: "port", types: [formatType(t)], params: 0, weights: [], constants: [] });

  g.inputs.forEach((p, i) => {
    madeBy.set(p.value, boxes.length);
    boxes.push(port("input", i, p.name, g.values[p.value]!.type));
  });
  for (const n of g.nodes) {
    const at = boxes.length;
    const box: Box = { key: `node-${n.id}`, kind: "node", title: n.op, name: n.path, cls: getOp(n.op).cls, types: n.outputs.map((o) => formatType(g.values[o]!.type)), params: 0, weights: [], constants: [] };
    for (const v of new Set(n.inputs)) {
      const from = madeBy.get(v);
      if (from !== undefined) edges.push([from, at]);
      const t = g.values[v]!.type;
      const name = weightOf.get(v)?.name ?? constantOf.get(v)?.name;
      const isParameter = numel(t.shape) > 1 && !(name !== undefined && buffers.has(name));
      if (name !== undefined) box.weights.push(`${name} ${formatType(t)}`);
      else if (constantOf.has(v)) box.constants.push(numel(t.shape) === 1 ? `const ${Number(constantOf.get(v)!.data[0]!.toPrecision(6))}` : `const ${formatType(t)}`);
      if (isParameter && (name !== undefined || constantOf.has(v))) box.params += numel(t.shape);
    }
    const contents = kernelContents(g, n);
    if (contents) box.contents = contents;
    for (const o of n.outputs) madeBy.set(o, at);
    boxes.push(box);
  }
  g.outputs.forEach((p, i) => {
    const from = madeBy.get(p.value);
    if (from !== undefined) edges.push([from, boxes.length]);
    boxes.push(port("output", i, p.name, g.values[p.value]!.type));
  });
  return { model: g.name, boxes, edges };
}

/** Every word a search may match in `box`: its op, name, weight paths, and the ops inside it. */
export function searchText(box: Box): string {
  return [box.title, box.name, ...box.weights.map((w) => w.split(" ")[0]!), ...(box.contents?.steps.map((s) => s.op) ?? [])].join(" ");
}

/**
 * What a fused kernel does, or undefined for a plain node: an epilogue op's own op then its
 * epilogue steps; any other fused-tier op its registry decomposition into core ops.
 */
function kernelContents(g: Graph, n: Node): Contents | undefined {
  const def = getOp(n.op);
  if (def.traits.epilogue) {
    const e = epilogueInputs(n.inputs, n.attrs);
    const act = activationOf(n.attrs);
    // conv2d's and linear's core forms keep their own bias; matmul's is an epilogue step.
    const ownBias = e.bias !== undefined && n.op !== "matmul";
    const steps: Step[] = [{ op: n.op, note: ownBias ? "bias" : "" }];
    if (e.bias !== undefined && !ownBias) steps.push({ op: "add", note: "bias" });
    if (e.residual !== undefined) steps.push({ op: "add", note: "residual" });
    if (act !== undefined) steps.push({ op: act === "prelu" ? "prelu" : act.op, note: "" });
    return steps.length > 1 ? { steps, edges: steps.slice(1).map((_, i) => [i, i + 1]) } : undefined;
  }
  if (def.tier !== "fused") return undefined;
  // The node alone in a graph of its own, decomposed until only core ops are left.
  const inputs = n.inputs.map((_, i) => ({ name: `in${i}`, value: i }));
  const kernel: Graph = {
    name: n.op,
    values: [...n.inputs.map((v, i) => ({ id: i, type: g.values[v]!.type, kind: "input" as const })), ...n.outputs.map((o, i) => ({ id: n.inputs.length + i, type: g.values[o]!.type, kind: "node" as const, producer: 0 }))],
    nodes: [{ ...n, id: 0, inputs: inputs.map((p) => p.value), outputs: n.outputs.map((_, i) => n.inputs.length + i) }],
    inputs,
    outputs: n.outputs.map((_, i) => ({ name: `out${i}`, value: n.inputs.length + i })),
    weights: [],
    constants: [],
  };
  const core = decompose(kernel, () => true).graph;
  const stepOf = new Map<number, number>();
  core.nodes.forEach((c, i) => c.outputs.forEach((o) => stepOf.set(o, i)));
  return {
    steps: core.nodes.map((c) => ({ op: c.op, note: "" })),
    edges: core.nodes.flatMap((c, i) => [...new Set(c.inputs)].flatMap((v) => (stepOf.has(v) ? [[stepOf.get(v)!, i] as [number, number]] : []))),
  };
}
