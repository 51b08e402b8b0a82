// Reductions: reduce_mean / reduce_sum / reduce_max / global_avgpool over any axes, softmax (max-subtracted)
// and layernorm. Contiguous runs are folded with f32x4 accumulators, strided ones vectorised
// across the neighbouring kept elements.
import binaryen from "binaryen";
import { numel, type Node } from "../../src/ir/graph.js";
import { isNHWC, type NodeOf } from "../../src/ir/ops.js";
import { around, normAxis, strides } from "../../src/ir/shape.js";
import type { KernelContext, KernelEmitter, Kernels } from "./context.js";
import { elemOf } from "./elementwise.js";
import { address, Code, Lanes, type Elem, type X } from "./lanes.js";
import { exp } from "./math.js";

const shapeOf = (ctx: KernelContext, v: number) => ctx.graph.values[v]!.type.shape;
const plus = (L: Lanes, e: Elem) => (a: X, b: X) => (e === "f32" ? L.add(a, b) : L.iadd(a, b));

type Kind = "sum" | "mean" | "max";
/** The fold behind `kind`: identity, lane-wise combine, and the horizontal combine of four lanes. */
function monoid(kind: Kind, e: Elem) {
  const f = e === "f32";
  if (kind !== "max") return { init: (L: Lanes) => (f ? L.f(0) : L.i(0)), step: (L: Lanes) => plus(L, e), across: (L: Lanes, acc: X) => L.hsum(acc, e) };
  return {
    init: (L: Lanes) => (f ? L.f(-Infinity) : L.i(-(2 ** 31))),
    step: (L: Lanes) => (a: X, b: X) => (f ? L.max(a, b) : L.imax(a, b)),
    across: (L: Lanes, acc: X) => L.hmax(acc, e),
  };
}
const at = (m: binaryen.Module, base: X, j: X, stride = 4) => address(m, base, [[j, stride]]);

/** Sum, mean or max of a contiguous tensor over `axes`, written contiguously at `y`. */
function reduction(ctx: KernelContext, node: Node, axes: number[], kind: Kind): string {
  const [x, y] = [node.inputs[0]!, node.outputs[0]!];
  const shape = shapeOf(ctx, x);
  const e = elemOf(ctx.graph.values[x]!.type);
  const { init, step, across } = monoid(kind, e);
  const mean = kind === "mean";
  // Group neighbouring dims of one kind (kept / reduced): each group is contiguous.
  const groups: { n: number; reduced: boolean; stride: number }[] = [];
  const str = strides(shape);
  shape.forEach((d, i) => {
    const reduced = axes.includes(i);
    const last = groups[groups.length - 1];
    if (d === 1) return;
    if (last && last.reduced === reduced) (last.n *= d), (last.stride = str[i]!);
    else groups.push({ n: d, reduced, stride: str[i]! });
  });
  if (!groups.length) groups.push({ n: 1, reduced: false, stride: 1 });
  const inner = groups.pop()!;
  const count = numel(shape) / numel(shapeOf(ctx, y));
  const kept = groups.filter((gr) => !gr.reduced);
  const red = groups.filter((gr) => gr.reduced);
  const c = new Code(ctx.mod);
  const m = c.m;
  const keptOut = strides([...kept.map((k) => k.n), inner.reduced ? 1 : inner.n]);
  const finish = (L: Lanes, s: X): X => {
    if (!mean) return s;
    return e === "f32" ? L.div(s, L.f(count)) : () => m.i32.div_s(s(), m.i32.const(count));
  };
  // Kept positions split over the threads (a total reduction runs on one, see below for the innermost kept dim).
  const overKept = (body: (ki: X[]) => void) => (kept.length ? c.nestPart(kept.map((k) => k.n), ctx.part, body) : c.nest([], body));
  overKept((ki) => {
    const xb = c.let(address(m, () => m.i32.const(ctx.addr(x)), ki.map((i, l) => [i, kept[l]!.stride * 4])), binaryen.i32);
    const yb = c.let(address(m, () => m.i32.const(ctx.addr(y)), ki.map((i, l) => [i, keptOut[l]! * 4])), binaryen.i32);
    // Runs `body(acc)` over every index of the reduced groups except `inner`.
    const overReduced = (body: (base: X) => void) =>
      c.nest(red.map((r) => r.n), (ri) => body(c.let(address(m, xb, ri.map((i, l) => [i, red[l]!.stride * 4])), binaryen.i32)));
    if (inner.reduced) {
      const L1 = new Lanes(c, 1, ctx.relaxed);
      const total = c.mut(init(L1), L1.type(e));
      overReduced((base) => {
        const s = c.fold(inner.n, ctx.relaxed, init, (L, acc, j) => step(L)(acc, L.load(e, at(m, base, j), 1)), across, e);
        total.set(step(L1)(total.get, s));
      });
      L1.store(e, yb, 1, finish(L1, total.get));
      return;
    }
    // Innermost dim kept: lanes run along it, each accumulating over the reduced groups; split
    // over the threads when no other dim is kept (global_avgpool of one image).
    const lane = (L: Lanes, j: X) => {
      const acc = c.mut(init(L), L.type(e));
      overReduced((base) => acc.set(step(L)(acc.get, L.load(e, at(m, base, j), 1))));
      L.store(e, at(m, yb, j), 1, finish(L, acc.get));
    };
    if (kept.length) c.lanes(inner.n, ctx.relaxed, lane, e === "i32" && mean);
    else c.lanesPart(inner.n, ctx.relaxed, ctx.part, lane, e === "i32" && mean);
  });
  return c.finish(ctx.fnName(node.op));
}

/** A reduce_* node over its `axes`. */
const reduceOver =
  (kind: Kind): KernelEmitter<"reduce_mean" | "reduce_sum" | "reduce_max"> =>
  (ctx, node) => {
    const rank = shapeOf(ctx, node.inputs[0]!).length;
    return reduction(ctx, node, node.attrs.axes.map((a) => normAxis(a, rank)), kind);
  };

function softmax(ctx: KernelContext, node: NodeOf<"softmax">): string {
  const [x, y] = [node.inputs[0]!, node.outputs[0]!];
  const shape = shapeOf(ctx, x);
  const [outer, d, inner] = around(shape, normAxis(node.attrs.axis, shape.length));
  const c = new Code(ctx.mod);
  const m = c.m;
  const base = (addr: number, o: X) => c.let(address(m, () => m.i32.const(addr), [[o, d * inner * 4]]), binaryen.i32);
  c.nestPart([outer], ctx.part, ([row]) => {
    const o = row!;
    const [xb, yb] = [base(ctx.addr(x), o), base(ctx.addr(y), o)];
    if (inner === 1) {
      // One row: lanes across the axis, folded horizontally.
      const mx = c.let(c.fold(d, ctx.relaxed, (L) => L.f(-Infinity), (L, acc, j) => L.max(acc, L.load("f32", at(m, xb, j), 1)), (L, acc) => L.hmax(acc)), binaryen.f32);
      const sum = c.fold(
        d,
        ctx.relaxed,
        (L) => L.f(0),
        (L, acc, j) => {
          const e = L.let(exp(L, L.sub(L.load("f32", at(m, xb, j), 1), L.splat(mx))));
          L.store("f32", at(m, yb, j), 1, e);
          return L.add(acc, e);
        },
        (L, acc) => L.hsum(acc),
      );
      const inv = c.let(() => m.f32.div(m.f32.const(1), sum()), binaryen.f32);
      c.lanes(d, ctx.relaxed, (L, j) => L.store("f32", at(m, yb, j), 1, L.mul(L.load("f32", at(m, yb, j), 1), L.splat(inv))));
      return;
    }
    // Axis with a stride: lanes run across neighbouring positions of the inner dims.
    c.lanes(inner, ctx.relaxed, (L, i) => {
      const xi = c.let(at(m, xb, i), binaryen.i32);
      const yi = c.let(at(m, yb, i), binaryen.i32);
      const over = (body: (xa: X, ya: X) => void) => c.loop(d, 1, (j) => body(at(m, xi, j, inner * 4), at(m, yi, j, inner * 4)));
      const mx = c.mut(L.f(-Infinity), L.type("f32"));
      over((xa) => mx.set(L.max(mx.get, L.load("f32", xa, 1))));
      const sum = c.mut(L.f(0), L.type("f32"));
      over((xa, ya) => {
        const e = L.let(exp(L, L.sub(L.load("f32", xa, 1), mx.get)));
        L.store("f32", ya, 1, e);
        sum.set(L.add(sum.get, e));
      });
      const inv = L.let(L.div(L.f(1), sum.get));
      over((_xa, ya) => L.store("f32", ya, 1, L.mul(L.load("f32", ya, 1), inv)));
    });
  });
  return c.finish(ctx.fnName("softmax"));
}

function layernorm(ctx: KernelContext, node: NodeOf<"layernorm">): string {
  const [x, gamma, beta] = node.inputs as [number, number, number];
  const y = node.outputs[0]!;
  const shape = shapeOf(ctx, x);
  const d = shape[shape.length - 1]!;
  const c = new Code(ctx.mod);
  const m = c.m;
  c.nestPart([numel(shape) / d], ctx.part, ([row]) => {
    const r = row!;
    const [xb, yb] = [ctx.addr(x), ctx.addr(y)].map((a) => c.let(address(m, () => m.i32.const(a), [[r, d * 4]]), binaryen.i32)) as [X, X];
    const load = (L: Lanes, b: X, j: X) => L.load("f32", at(m, b, j), 1);
    const sum = c.fold(d, ctx.relaxed, (L) => L.f(0), (L, acc, j) => L.add(acc, load(L, xb, j)), (L, acc) => L.hsum(acc));
    const mean = c.let(() => m.f32.div(sum(), m.f32.const(d)), binaryen.f32);
    const sq = c.fold(
      d,
      ctx.relaxed,
      (L) => L.f(0),
      (L, acc, j) => {
        const dev = L.let(L.sub(load(L, xb, j), L.splat(mean)));
        return L.madd(dev, dev, acc);
      },
      (L, acc) => L.hsum(acc),
    );
    const inv = c.let(() => m.f32.div(m.f32.const(1), m.f32.sqrt(m.f32.add(m.f32.div(sq(), m.f32.const(d)), m.f32.const(node.attrs.eps)))), binaryen.f32);
    const [gb, bb] = [ctx.addr(gamma), ctx.addr(beta)].map((a) => () => m.i32.const(a));
    c.lanes(d, ctx.relaxed, (L, j) => {
      const norm = L.mul(L.sub(load(L, xb, j), L.splat(mean)), L.splat(inv));
      L.store("f32", at(m, yb, j), 1, L.madd(norm, load(L, gb!, j), load(L, bb!, j)));
    });
  });
  return c.finish(ctx.fnName("layernorm"));
}

export const reduceKernels: Kernels<"reduce_mean" | "reduce_sum" | "reduce_max" | "global_avgpool" | "softmax" | "layernorm"> = {
  reduce_mean: reduceOver("mean"),
  reduce_sum: reduceOver("sum"),
  reduce_max: reduceOver("max"),
  global_avgpool: (ctx, node) => reduction(ctx, node, isNHWC(node.attrs) ? [1, 2] : [2, 3], "mean"),
  softmax,
  layernorm,
};
