// Pattern recognition: graphs spelled out in primitives (as exported from frameworks, or
// written longhand in .nn) become the fused ops the backends have kernels for: layernorm,
// gelu (erf and tanh forms), hard_swish, hard_sigmoid, softmax and attention.
//
// Each sweep visits nodes from the last to the first, so the largest pattern rooted at a node
// wins (hard_swish before the hard_sigmoid inside it, layernorm with its affine before the bare
// normalisation). A match swallows the nodes between its root and its leaves; it is taken only
// if none of them has a use outside the pattern. Sweeps repeat until nothing changes, since a
// rewrite can expose another (x * hard_sigmoid(x)).
import { GELU_TANH_CUBIC, SQRT_2_OVER_PI } from "../base/math.js";
import type { Attrs, Graph, Node } from "../ir/graph.js";
import { attrsOf, normAxis, ShapeError, type AttrsOf } from "../ir/ops.js";
import { compact, constantData, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

interface Match {
  op: string;
  inputs: number[];
  attrs: Attrs;
  /** Where the swallowed region stops, when not at `inputs` (e.g. a transposed k). */
  leaves?: number[];
}

class Ctx {
  readonly rw: Rewriter;
  readonly outputs: Set<number>;
  readonly consumed = new Set<Node>();
  /** Nodes added during this sweep; matches never swallow them. */
  readonly fresh: number;

  constructor(readonly g: Graph) {
    this.rw = new Rewriter(g);
    this.outputs = new Set(g.outputs.map((p) => p.value));
    this.fresh = g.nodes.length;
  }

  /** The node producing `v` if it is one of `ops` and still free to swallow. */
  def(v: number, ...ops: string[]): Node | undefined {
    const val = this.g.values[v]!;
    if (val.kind !== "node" || val.producer! >= this.fresh) return undefined;
    const n = this.g.nodes[val.producer!]!;
    return ops.includes(n.op) && !this.consumed.has(n) ? n : undefined;
  }

  /** The value of a constant holding one number. */
  scalar(v: number): number | undefined {
    const d = constantData(this.g, v);
    return d && d.length === 1 && d instanceof Float32Array ? d[0] : undefined;
  }

  is(v: number, x: number): boolean {
    const c = this.scalar(v);
    return c !== undefined && near(c, x);
  }

  private singleUse(v: number): boolean {
    return this.rw.readers(v).length === 1 && !this.outputs.has(v);
  }

  /**
   * `v` as c · t1 · t2 ···: multiplications and divisions by scalar constants, flattened through
   * single-use intermediates.
   */
  product(v: number): { c: number; terms: number[] } {
    const n = this.def(v, "mul", "div");
    if (n) {
      const [a, b] = n.inputs as [number, number];
      const go = (x: number) => (this.singleUse(x) ? this.product(x) : { c: 1, terms: [x] });
      const sb = this.scalar(b);
      if (n.op === "div" && sb !== undefined) return scale(go(a), 1 / sb);
      if (n.op === "mul") {
        const sa = this.scalar(a);
        if (sa !== undefined) return scale(go(b), sa);
        if (sb !== undefined) return scale(go(a), sb);
        const [l, r] = [go(a), go(b)];
        return { c: l.c * r.c, terms: [...l.terms, ...r.terms] };
      }
    }
    return { c: 1, terms: [v] };
  }

  /** The nodes between `root` and `leaves`, if each may be swallowed. */
  region(root: number, leaves: readonly number[]): Set<Node> | undefined {
    const nodes = new Set<Node>();
    const stack = [root];
    while (stack.length) {
      const v = stack.pop()!;
      if (leaves.includes(v) || this.g.values[v]!.kind !== "node") continue;
      const n = this.g.nodes[this.g.values[v]!.producer!]!;
      if (nodes.has(n)) continue;
      if (n.id >= this.fresh || this.consumed.has(n)) return undefined;
      nodes.add(n);
      stack.push(...n.inputs);
    }
    for (const n of nodes)
      for (const o of n.outputs)
        if (o !== root && (this.outputs.has(o) || this.rw.readers(o).some((u) => !nodes.has(u)))) return undefined;
    return nodes;
  }
}

/** Constants in patterns match to a relative 1e-4: enough for 0.7071 as 1/sqrt(2), not for a wrong constant. */
const near = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.abs(b);

function scale(p: { c: number; terms: number[] }, c: number) {
  return { c: p.c * c, terms: p.terms };
}

/** Both operand orders of a commutative node, one of anything else. */
function orders(n: Node): [number, number][] {
  const [a, b] = n.inputs as [number, number];
  return n.op === "add" || n.op === "mul" ? [[a, b], [b, a]] : [[a, b]];
}

/** x where v = x + c. */
function plus(cx: Ctx, v: number, c: number): number | undefined {
  const n = cx.def(v, "add");
  return n && orders(n).find(([, b]) => cx.is(b, c))?.[0];
}

/** x where v = relu6(x + 3) or clip(x + 3, 0, 6). */
function relu6Plus3(cx: Ctx, v: number): number | undefined {
  const n = cx.def(v, "relu6", "clip");
  if (!n || (n.op === "clip" && (n.attrs.min !== 0 || n.attrs.max !== 6))) return undefined;
  return plus(cx, n.inputs[0]!, 3);
}

/** PyTorch's hard_sigmoid attributes: hard_swish is x times that one only. */
const TORCH_HARD_SIGMOID = { alpha: 1 / 6, beta: 0.5 };

/** x where v = hard_sigmoid(x) with PyTorch's alpha and beta. */
function torchHardSigmoid(cx: Ctx, v: number): number | undefined {
  const n = cx.def(v, "hard_sigmoid");
  return n && n.attrs.alpha === TORCH_HARD_SIGMOID.alpha && n.attrs.beta === TORCH_HARD_SIGMOID.beta ? n.inputs[0] : undefined;
}

function hardSwish(cx: Ctx, v: number): Match | undefined {
  const { c, terms } = cx.product(v);
  if (terms.length !== 2) return undefined;
  for (const [x, r] of [terms, [...terms].reverse()] as [number, number][]) {
    const sigmoid = near(c, 1 / 6) ? relu6Plus3(cx, r) : near(c, 1) ? torchHardSigmoid(cx, r) : undefined;
    if (sigmoid === x) return { op: "hard_swish", inputs: [x], attrs: {} };
  }
  return undefined;
}

function hardSigmoid(cx: Ctx, v: number): Match | undefined {
  const { c, terms } = cx.product(v);
  const x = terms.length === 1 && near(c, 1 / 6) ? relu6Plus3(cx, terms[0]!) : undefined;
  return x === undefined ? undefined : { op: "hard_sigmoid", inputs: [x], attrs: { ...TORCH_HARD_SIGMOID } };
}

/** 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
function gelu(cx: Ctx, v: number): Match | undefined {
  const { c, terms } = cx.product(v);
  if (!near(c, 0.5) || terms.length !== 2) return undefined;
  const isScaled = (u: number, k: number, x: number) => {
    const p = cx.product(u);
    return near(p.c, k) && p.terms.length === 1 && p.terms[0] === x;
  };
  const isCube = (u: number, x: number) => {
    const p = cx.product(u);
    if (!near(p.c, GELU_TANH_CUBIC)) return false;
    if (p.terms.length === 3) return p.terms.every((t) => t === x);
    const pow = p.terms.length === 1 ? cx.def(p.terms[0]!, "pow") : undefined;
    return pow?.inputs[0] === x && cx.is(pow.inputs[1]!, 3);
  };
  for (const [x, t] of [terms, [...terms].reverse()] as [number, number][]) {
    const f = plus(cx, t, 1);
    const erf = f === undefined ? undefined : cx.def(f, "erf");
    if (erf && isScaled(erf.inputs[0]!, Math.SQRT1_2, x)) return { op: "gelu", inputs: [x], attrs: { approximate: "none" } };
    const tanh = f === undefined ? undefined : cx.def(f, "tanh");
    const inner = tanh && cx.product(tanh.inputs[0]!);
    const sum = inner && near(inner.c, SQRT_2_OVER_PI) && inner.terms.length === 1 ? cx.def(inner.terms[0]!, "add") : undefined;
    if (sum && orders(sum).some(([a, b]) => a === x && isCube(b, x))) return { op: "gelu", inputs: [x], attrs: { approximate: "tanh" } };
  }
  return undefined;
}

/** The axis of a one-axis keepdim reduction `n`. */
function reducedAxis(cx: Ctx, n: Node): number | undefined {
  const { axes, keepdim } = n.attrs as AttrsOf<"reduce_sum">; // the reductions share one schema
  return keepdim === true && axes.length === 1 ? normAxis(axes[0]!, cx.g.values[n.inputs[0]!]!.type.shape.length) : undefined;
}

/** exp(x) / sum(exp(x), axis, keepdim), or with exp(x - max(x, axis, keepdim)). */
function softmaxOf(cx: Ctx, v: number): { x: number; axis: number } | undefined {
  const div = cx.def(v, "div");
  const sum = div && cx.def(div.inputs[1]!, "reduce_sum");
  const exp = sum && cx.def(div.inputs[0]!, "exp");
  const axis = exp && sum.inputs[0] === exp.outputs[0] ? reducedAxis(cx, sum) : undefined;
  if (axis === undefined) return undefined;
  const sub = cx.def(exp!.inputs[0]!, "sub");
  const max = sub && cx.def(sub.inputs[1]!, "reduce_max");
  const shifted = max && max.inputs[0] === sub.inputs[0] && reducedAxis(cx, max) === axis;
  return { x: shifted ? sub.inputs[0]! : exp!.inputs[0]!, axis };
}

function softmax(cx: Ctx, v: number): Match | undefined {
  const s = softmaxOf(cx, v);
  return s && { op: "softmax", inputs: [s.x], attrs: { axis: s.axis } };
}

/** A matmul without a fused epilogue. */
function plainMatmul(cx: Ctx, v: number): Node | undefined {
  const n = cx.def(v, "matmul");
  return n && n.inputs.length === 2 ? n : undefined;
}

/** softmax(q @ kT * scale + mask) @ v, q, kT and v 4-D; kT a transpose when it is one. */
function attention(cx: Ctx, v: number): Match | undefined {
  const out = plainMatmul(cx, v);
  if (!out || cx.g.values[v]!.type.shape.length !== 4) return undefined;
  const [p, val] = out.inputs as [number, number];
  const sm = cx.def(p, "softmax");
  const spelled = sm ? undefined : softmaxOf(cx, p);
  const scores = sm && normAxis(attrsOf(sm, "softmax").axis, 4) === 3 ? sm.inputs[0] : spelled?.axis === 3 ? spelled.x : undefined;
  if (scores === undefined) return undefined;
  const scaled = (s: number) => {
    const { c, terms } = cx.product(s);
    const qk = terms.length === 1 ? plainMatmul(cx, terms[0]!) : undefined;
    return qk && { qk, scale: c };
  };
  const add = cx.def(scores, "add");
  const masked = add && orders(add).map(([s, m]) => ({ ...scaled(s), mask: m })).find((x) => x.qk);
  const found = masked ?? { ...scaled(scores), mask: undefined };
  if (!found.qk) return undefined;
  const [q, kT] = found.qk.inputs as [number, number];
  // k as [B, H, S, D]: fold the transpose that made kT when there is one.
  const t = cx.def(kT, "transpose");
  const perm = t && attrsOf(t, "transpose").perm;
  const kPerm = perm ? [perm[0]!, perm[1]!, perm[3]!, perm[2]!] : [0, 1, 3, 2];
  const src = t ? t.inputs[0]! : kT;
  if (cx.g.values[src]!.type.shape.length !== 4) return undefined;
  const k = kPerm.every((d, i) => d === i) ? src : cx.rw.node("transpose", [src], { perm: kPerm }, out.path)[0]!;
  const inputs = [q, k, val, ...(found.mask !== undefined ? [found.mask] : [])];
  return { op: "attention", inputs, attrs: { scale: found.scale! }, leaves: [q, src, val, ...(found.mask !== undefined ? [found.mask] : [])] };
}

/** A layernorm parameter as a [d] vector: `v` itself, or a constant broadcast along the last axis. */
function param(cx: Ctx, v: number | undefined, d: number, fill: number): number | undefined {
  if (v === undefined) return cx.rw.constant([d], new Float32Array(d).fill(fill));
  const shape = cx.g.values[v]!.type.shape;
  if (shape.length === 1 && shape[0] === d) return v;
  const data = constantData(cx.g, v);
  if (!(data instanceof Float32Array) || shape.slice(0, -1).some((s) => s !== 1) || (data.length !== 1 && data.length !== d)) return undefined;
  return cx.rw.constant([d], data.length === d ? data.slice() : new Float32Array(d).fill(data[0]!));
}

/** (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps), over the last axis, in its usual spellings. */
function normalized(cx: Ctx, v: number): { x: number; eps: number } | undefined {
  const lastMean = (u: number) => {
    const n = cx.def(u, "reduce_mean");
    return n && reducedAxis(cx, n) === cx.g.values[u]!.type.shape.length - 1 ? n.inputs[0] : undefined;
  };
  // d / sqrt(var + eps), d * (1 / sqrt(var + eps)), d * (var + eps) ^ -0.5
  const inverse = (u: number): number | undefined => {
    const div = cx.def(u, "div");
    if (div && cx.is(div.inputs[0]!, 1)) return cx.def(div.inputs[1]!, "sqrt")?.inputs[0];
    const pow = cx.def(u, "pow");
    return pow && cx.is(pow.inputs[1]!, -0.5) ? pow.inputs[0] : undefined;
  };
  const n = cx.def(v, "div", "mul");
  if (!n) return undefined;
  for (const [d, den] of orders(n)) {
    const veps = n.op === "div" ? cx.def(den, "sqrt")?.inputs[0] : inverse(den);
    const add = veps === undefined ? undefined : cx.def(veps, "add");
    const sub = cx.def(d, "sub");
    if (!add || !sub) continue;
    const x = sub.inputs[0]!;
    if (lastMean(sub.inputs[1]!) !== x) continue;
    for (const [variance, eps] of orders(add)) {
      const sq = lastMean(variance);
      const sqNode = sq === undefined ? undefined : cx.def(sq, "pow", "mul");
      const isSquare = sqNode && (sqNode.op === "pow" ? sqNode.inputs[0] === d && cx.is(sqNode.inputs[1]!, 2) : sqNode.inputs.every((i) => i === d));
      const e = cx.scalar(eps);
      if (isSquare && e !== undefined) return { x, eps: e };
    }
  }
  return undefined;
}

/** normalized(x) [* gamma] [+ beta] -> layernorm(x, gamma, beta). */
function layernorm(cx: Ctx, v: number): Match | undefined {
  const affine = (u: number, op: string): [number, number | undefined][] => {
    const n = cx.def(u, op);
    return [...(n ? orders(n) : []), [u, undefined]];
  };
  for (const [scaled, beta] of affine(v, "add"))
    for (const [norm, gamma] of affine(scaled, "mul")) {
      const found = normalized(cx, norm);
      if (!found) continue;
      const d = cx.g.values[found.x]!.type.shape.at(-1)!;
      const g = param(cx, gamma, d, 1);
      const b = g === undefined ? undefined : param(cx, beta, d, 0);
      if (b !== undefined) return { op: "layernorm", inputs: [found.x, g!, b], attrs: { eps: found.eps } };
    }
  return undefined;
}

/** Tried in this order at each root: larger patterns first. */
const patterns = [attention, layernorm, gelu, hardSwish, hardSigmoid, softmax];

function apply(cx: Ctx, root: Node, m: Match): boolean {
  const out = root.outputs[0]!;
  const region = root.outputs.length === 1 ? cx.region(out, m.leaves ?? m.inputs) : undefined;
  if (!region) return false;
  let fused: number;
  try {
    fused = cx.rw.node(m.op, m.inputs, m.attrs, root.path, root.loc)[0]!;
  } catch (e) {
    if (e instanceof ShapeError) return false;
    throw e;
  }
  const [a, b] = [cx.g.values[fused]!.type, cx.g.values[out]!.type];
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  cx.rw.replace(out, fused);
  for (const n of region) cx.consumed.add(n);
  return true;
}

export function recognizePatterns(g: Graph): Graph {
  for (;;) {
    const cx = new Ctx(g);
    let changed = false;
    for (let i = cx.fresh - 1; i >= 0; i--) {
      const root = g.nodes[i]!;
      if (cx.consumed.has(root)) continue;
      for (const p of patterns) {
        const m = p(cx, root.outputs[0]!);
        if (m && apply(cx, root, m)) {
          changed = true;
          break;
        }
      }
    }
    compact(g);
    if (!changed) return g;
  }
}

registerPass({
  name: "recognize-patterns",
  description: "rewrite primitive spellings of layernorm, gelu, hard_swish/hard_sigmoid, softmax and attention into the fused ops",
  run: recognizePatterns,
});
