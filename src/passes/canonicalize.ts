// Local algebraic simplifications that later passes rely on seeing in one form: constants on
// the right of commutative ops, `x - c` as `x + (-c)` (a bias to fuse), clip(0, 6) as relu6,
// no identity reshapes / transposes / arithmetic, no chains of reshapes, transposes or relus.
// Rules for the greedy rewrite driver; which ops commute and which constants are identities is
// the registry's (traits.commutative, traits.rightIdentity).
import { numel, type Graph, type Node } from "../ir/graph.js";
import { attrsOf, binaryOps, getOp } from "../ir/ops.js";
import { applyRules, constantData, producer, type Rewriter, type Rule } from "../ir/rewrite.js";
import { sameShape } from "../ir/shape.js";
import { registerPass } from "./manager.js";

const type = (rw: Rewriter, v: number) => rw.g.values[v]!.type;
const again = (rw: Rewriter, n: Node, op: string, inputs: number[], attrs = n.attrs) => rw.node(op, inputs, attrs, n.path, n.loc)[0]!;

const rules: Rule[] = [
  {
    ops: ["reshape"],
    apply(rw, n) {
      const x = n.inputs[0]!;
      if (sameShape(type(rw, x).shape, type(rw, n.outputs[0]!).shape)) return x;
      const inner = producer(rw.g, x);
      return inner?.op === "reshape" ? again(rw, n, "reshape", [inner.inputs[0]!]) : undefined;
    },
  },
  {
    ops: ["transpose"],
    apply(rw, n) {
      let perm = attrsOf(n, "transpose").perm;
      let src = n.inputs[0]!;
      const inner = producer(rw.g, src);
      if (inner?.op === "transpose") {
        const p0 = attrsOf(inner, "transpose").perm;
        perm = perm.map((p) => p0[p]!);
        src = inner.inputs[0]!;
      }
      if (perm.every((p, i) => p === i)) return src;
      return src !== n.inputs[0] ? again(rw, n, "transpose", [src], { perm }) : undefined;
    },
  },
  // relu and relu6 are idempotent and relu6 absorbs relu on either side
  {
    ops: ["relu", "relu6"],
    apply(rw, n) {
      const x = n.inputs[0]!;
      const inner = producer(rw.g, x);
      if (inner?.op === "relu6" || inner?.op === n.op) return x;
      return inner?.op === "relu" ? again(rw, n, "relu6", [inner.inputs[0]!], {}) : undefined;
    },
  },
  {
    ops: ["clip"],
    apply: (rw, n) => (n.attrs.min === 0 && n.attrs.max === 6 ? again(rw, n, "relu6", n.inputs, {}) : undefined),
  },
  {
    ops: binaryOps,
    apply(rw, n) {
      const [a, b] = n.inputs as [number, number];
      const out = type(rw, n.outputs[0]!);
      if (out.dtype !== "f32") return undefined;
      const traits = getOp(n.op).traits;
      if (traits.commutative && constantData(rw.g, a) && !constantData(rw.g, b)) return again(rw, n, n.op, [b, a]);
      const c = constantData(rw.g, b);
      if (!c) return undefined;
      // x op identity, unless broadcasting against the constant changes x's shape
      if (numel(type(rw, b).shape) === 1 && c[0] === traits.rightIdentity && sameShape(type(rw, a).shape, out.shape)) return a;
      if (n.op === "sub") return again(rw, n, "add", [a, rw.constant(type(rw, b).shape, Float32Array.from(c, (v) => -v))]);
      return undefined;
    },
  },
];

export function canonicalize(g: Graph): Graph {
  return applyRules(g, rules);
}

registerPass({
  name: "canonicalize",
  description: "normalise ops (constants right, sub of a constant as add, clip(0,6) as relu6) and drop identity or chained reshapes, transposes, relus and arithmetic",
  run: canonicalize,
});
