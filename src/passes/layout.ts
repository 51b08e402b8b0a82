// Layout assignment for the CPU backends: spatial ops run channels-last (attrs.layout "NHWC"),
// and so do the elementwise ops between them and data movement on channels-last tensors (pad,
// slice, tile, expand, gather with 1-D ids: their axis attributes permuted), so 4-D activations
// stay NHWC from one conv to the next. Transposes appear only at the edges: graph inputs and outputs, reshapes, and ops that
// know nothing of layouts; those that move only size-1 dimensions become reshapes, and pairs
// that cancel go.
import { numel, type Graph, type Node } from "../ir/graph.js";
import { attrsOf, getOp, isNHWC } from "../ir/ops.js";
import { addConstant, addNode, compact, constantData, producer } from "../ir/rewrite.js";
import { permute, TO_NCHW, TO_NHWC, transposeOffsets } from "../ir/shape.js";
import { canonicalize } from "./canonicalize.js";
import { registerPass } from "./manager.js";


const rank = (g: Graph, v: number) => g.values[v]!.type.shape.length;

function transposeData(data: Float32Array | Int32Array, shape: readonly number[], perm: readonly number[]): Float32Array | Int32Array {
  const offs = transposeOffsets(shape, perm);
  const out = new (data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(offs.length);
  for (let i = 0; i < offs.length; i++) out[i] = data[offs[i]!]!;
  return out;
}

export function assignLayout(g: Graph): Graph {
  /** Channels-last twin of an NCHW value. */
  const nhwc = new Map<number, number>();
  /** NCHW values whose producer was rewritten to NHWC; their readers get a transpose back. */
  const moved = new Set<number>();
  const nchw = new Map<number, number>();
  const path = (v: number) => producer(g, v)?.path ?? "";
  const twin = (v: number): number => {
    let t = nhwc.get(v);
    if (t === undefined) nhwc.set(v, (t = addNode(g, "transpose", [v], { perm: [...TO_NHWC] }, path(v))[0]!));
    return t;
  };
  const back = (v: number): number => {
    if (!moved.has(v)) return v;
    let t = nchw.get(v);
    if (t === undefined) nchw.set(v, (t = addNode(g, "transpose", [nhwc.get(v)!], { perm: [...TO_NCHW] }, path(v))[0]!));
    return t;
  };
  /** An operand of a converted elementwise op, lined up with its channels-last result (lower ranks broadcast from the right). */
  const operand = (v: number): number => {
    const shape = g.values[v]!.type.shape;
    if (numel(shape) === 1) return v;
    const padded = [...Array<number>(4 - shape.length).fill(1), ...shape];
    const data = constantData(g, v);
    if (data) return addConstant(g, permute(padded, TO_NHWC), transposeData(data, padded, TO_NHWC));
    if (shape.length === 4) return twin(v);
    const r = addNode(g, "reshape", [v], { shape: padded }, path(v))[0]!;
    return addNode(g, "transpose", [r], { perm: [...TO_NHWC] }, path(v))[0]!;
  };
  const convert = (n: Node): number[] | undefined => {
    const spatial = getOp(n.op).traits.layout;
    if (spatial) {
      if (isNHWC(n.attrs) || rank(g, n.inputs[0]!) !== 4) return undefined;
      // 4-D inputs other than weights (data, a residual) are activations; weights keep PyTorch layout.
      const inputs = n.inputs.map((v, i) => (!spatial.weights.includes(i) && rank(g, v) === 4 ? twin(v) : v));
      return addNode(g, n.op, inputs, { ...n.attrs, layout: "NHWC" }, n.path, n.loc);
    }
    // Data movement on a channels-last tensor runs channels-last, its attributes permuted.
    const permuted = getOp(n.op).traits.permuted;
    const x = n.inputs[0]!;
    if (permuted && moved.has(x) && rank(g, n.outputs[0]!) === 4) {
      const attrs = permuted(n.attrs, TO_NHWC, n.inputs.map((v) => g.values[v]!.type));
      if (attrs) return addNode(g, n.op, [nhwc.get(x)!, ...n.inputs.slice(1)], attrs, n.path, n.loc);
    }
    const cls = getOp(n.op).cls;
    if ((cls !== "elementwise" && cls !== "broadcast") || rank(g, n.outputs[0]!) !== 4) return undefined;
    const fourD = n.inputs.filter((v) => rank(g, v) === 4);
    const ready = fourD.filter((v) => moved.has(v)).length;
    // Channels-last when most 4-D operands already are: fewer transposes either way.
    if (ready === 0 || 2 * ready < fourD.length) return undefined;
    return addNode(g, n.op, n.inputs.map(operand), n.attrs, n.path, n.loc);
  };

  for (const n of [...g.nodes]) {
    const outs = convert(n);
    if (outs) {
      n.outputs.forEach((o, i) => (nhwc.set(o, outs[i]!), moved.add(o)));
      continue;
    }
    n.inputs = n.inputs.map(back);
  }
  for (const p of g.outputs) p.value = back(p.value);
  return simplifyTransposes(compact(g));
}

/**
 * The edge cleanup: a transpose that keeps the order of the dimensions larger than 1 is a
 * reshape (a view); canonicalize then merges reshape chains and drops what cancels.
 */
function simplifyTransposes(g: Graph): Graph {
  for (const n of g.nodes) {
    if (n.op !== "transpose") continue;
    const shape = g.values[n.inputs[0]!]!.type.shape;
    const kept = attrsOf(n, "transpose").perm.filter((p) => shape[p] !== 1);
    if (kept.every((p, i) => i === 0 || kept[i - 1]! < p)) {
      n.op = "reshape";
      n.attrs = { shape: g.values[n.outputs[0]!]!.type.shape };
    }
  }
  return canonicalize(g);
}

registerPass({
  name: "layout",
  description: "run spatial ops and the elementwise ops between them channels-last (NHWC), with transposes only at the edges",
  run: assignLayout,
});
