// Local algebraic simplifications that later passes rely on seeing in one form: constants on
// the right of commutative ops, `x - c` as `x + (-c)` (a bias to fuse), clip(0, 6) as relu6,
// no identity reshapes / transposes / arithmetic, no chains of reshapes, transposes or relus.
import { numel, type Graph, type Node } from "../ir/graph.js";
import { addConstant, addNode, compact, constantData, producer, replaceUses } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

const commutative = new Set(["add", "mul", "maximum", "minimum"]);
/** (op, the scalar constant on the right that makes it the identity). */
const rightIdentity: Record<string, number> = { add: 0, sub: 0, mul: 1, div: 1, pow: 1 };

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Rewrites one node; returns the value now standing for its output, if it changed. */
function simplify(g: Graph, n: Node): number | undefined {
  const [x] = n.inputs as [number];
  const type = (v: number) => g.values[v]!.type;
  const out = type(n.outputs[0]!);
  const inner = producer(g, x);
  switch (n.op) {
    case "reshape":
      if (sameShape(type(x).shape, out.shape)) return x;
      if (inner?.op === "reshape") return addNode(g, "reshape", [inner.inputs[0]!], n.attrs, n.path, n.loc)[0];
      return undefined;
    case "transpose": {
      let perm = n.attrs.perm as number[];
      let src = x;
      if (inner?.op === "transpose") {
        const p0 = inner.attrs.perm as number[];
        perm = perm.map((p) => p0[p]!);
        src = inner.inputs[0]!;
      }
      if (perm.every((p, i) => p === i)) return src;
      return src !== x ? addNode(g, "transpose", [src], { perm }, n.path, n.loc)[0] : undefined;
    }
    // relu and relu6 are idempotent and relu6 absorbs relu on either side
    case "relu":
    case "relu6":
      if (inner?.op === "relu6" || inner?.op === n.op) return x;
      return inner?.op === "relu" ? addNode(g, "relu6", [inner.inputs[0]!], {}, n.path, n.loc)[0] : undefined;
    case "clip":
      return n.attrs.min === 0 && n.attrs.max === 6 ? addNode(g, "relu6", [x], {}, n.path, n.loc)[0] : undefined;
  }
  if (n.inputs.length !== 2 || out.dtype !== "f32") return undefined;
  const [a, b] = n.inputs as [number, number];
  if (commutative.has(n.op) && constantData(g, a) && !constantData(g, b)) return addNode(g, n.op, [b, a], n.attrs, n.path, n.loc)[0];
  const c = constantData(g, b);
  if (!c) return undefined;
  // x op identity, unless broadcasting against the constant changes x's shape
  if (numel(type(b).shape) === 1 && c[0] === rightIdentity[n.op] && sameShape(type(a).shape, out.shape)) return a;
  if (n.op === "sub") return addNode(g, "add", [a, addConstant(g, type(b).shape, Float32Array.from(c, (v) => -v))], {}, n.path, n.loc)[0];
  return undefined;
}

export function canonicalize(g: Graph): Graph {
  // Nodes are in topological order and replaceUses redirects later readers at once, so each
  // node sees canonical inputs. A rewrite's new node (appended, id >= count) is simplified in turn.
  const count = g.nodes.length;
  for (let i = 0; i < count; i++) {
    let n = g.nodes[i]!;
    let to: number | undefined;
    for (let next; (next = simplify(g, n)) !== undefined; ) {
      to = next;
      const p = producer(g, next);
      if (!p || p.id < count) break;
      n = p;
    }
    if (to !== undefined) replaceUses(g, g.nodes[i]!.outputs[0]!, to);
  }
  return compact(g);
}

registerPass({
  name: "canonicalize",
  description: "normalise ops (constants right, sub of a constant as add, clip(0,6) as relu6) and drop identity or chained reshapes, transposes, relus and arithmetic",
  run: canonicalize,
});
