// Data movement: transpose, concat, split, slice (any step), expand and tile as strided copies on
// the elementwise engine; pad as such copies and fills; reshape as a copy (or nothing, when the
// memory plan aliases it); gather as block copies (rows, for embedding).
import binaryen from "binaryen";
import { numel } from "../../src/ir/graph.js";
import type { NodeOf } from "../../src/ir/ops.js";
import { around, broadcastStrides, normAxis, padAxes, sliceRange, strides, type PadMode } from "../../src/ir/shape.js";
import type { KernelContext, Kernels } from "./context.js";
import { elemOf, mapLanes, view, type View } from "./elementwise.js";
import { Code, type E, type X } from "./lanes.js";

const shapeOf = (ctx: KernelContext, v: number) => ctx.graph.values[v]!.type.shape;

/** Emits copies `dst <- src` over `shape`, one per pair, into one kernel named after `op`. */
function copies(ctx: KernelContext, op: string, pairs: { shape: readonly number[]; dst: View; src: View }[]): string {
  const c = new Code(ctx.mod);
  // The pairs write disjoint windows of their outputs, each split over the threads.
  for (const p of pairs) mapLanes(ctx, c, p.shape, p.dst, [p.src], (_L, [x]) => x!, false, ctx.part);
  return c.finish(ctx.fnName(op));
}

/**
 * concat writes each input into a window of the output, split and slice read windows of the
 * input: `part` is the window's shape, `at` its start along `axis` in the whole tensor.
 */
function window(ctx: KernelContext, whole: number, axis: number, at: number): View {
  const s = strides(shapeOf(ctx, whole));
  return view(ctx, whole, s, ctx.addr(whole) + at * s[axis]! * 4);
}

/** concat writes its inputs into windows of the output; split reads windows of its input. */
function windows(ctx: KernelContext, op: string, axisAttr: number, whole: number, parts: readonly number[], intoWhole: boolean): string {
  const axis = normAxis(axisAttr, shapeOf(ctx, whole).length);
  let at = 0;
  return copies(
    ctx,
    op,
    parts.map((p) => {
      const shape = shapeOf(ctx, p);
      const win = window(ctx, whole, axis, at);
      at += shape[axis]!;
      const own = view(ctx, p, strides(shape));
      return intoWhole ? { shape, dst: win, src: own } : { shape, dst: own, src: win };
    }),
  );
}

function reshape(ctx: KernelContext, node: NodeOf<"reshape">): string {
  const [src, dst] = [ctx.addr(node.inputs[0]!), ctx.addr(node.outputs[0]!)];
  const m = ctx.mod;
  const bytes = numel(shapeOf(ctx, node.outputs[0]!)) * 4;
  const body = src === dst ? m.nop() : m.memory.copy(m.i32.const(dst), m.i32.const(src), m.i32.const(bytes));
  const name = ctx.fnName("reshape");
  m.addFunction(name, binaryen.none, binaryen.none, [], body);
  return name;
}

/**
 * Rows of x along the gather's axis: ids in [-d, d) (negative ones from the end) or, with
 * negative_ids "error", in [0, d); anything else traps (the unsigned compare after the wrap
 * catches what is below the range too).
 */
function gather(ctx: KernelContext, node: NodeOf<"gather">): string {
  const [x, ids] = node.inputs as [number, number];
  const xs = shapeOf(ctx, x);
  const [outer, d, inner] = around(xs, normAxis(node.attrs.axis ?? 0, xs.length));
  const n = numel(shapeOf(ctx, ids));
  const [xAddr, iAddr, yAddr] = [ctx.addr(x), ctx.addr(ids), ctx.addr(node.outputs[0]!)];
  const c = new Code(ctx.mod);
  const m = c.m;
  const i32 = binaryen.i32;
  c.loop(n, 1, (j) => {
    const raw = c.let(() => m.i32.load(iAddr, 4, m.i32.shl(j(), m.i32.const(2))), i32);
    const id = node.attrs.negative_ids === "error" ? raw : c.let(() => m.select(m.i32.lt_s(raw(), m.i32.const(0)), m.i32.add(raw(), m.i32.const(d)), raw()), i32);
    c.emit(m.if(m.i32.ge_u(id(), m.i32.const(d)), m.unreachable()));
    const block = (base: number, k: E) => m.i32.add(m.i32.const(base), m.i32.mul(k, m.i32.const(inner * 4)));
    // Block o of the output's [outer, n, inner] and of x's [outer, d, inner]: one element is a load and a store.
    const copy = (o: X) => {
      const [dst, src] = [block(yAddr, m.i32.add(m.i32.mul(o(), m.i32.const(n)), j())), block(xAddr, m.i32.add(m.i32.mul(o(), m.i32.const(d)), id()))];
      c.emit(inner === 1 ? m.i32.store(0, 4, dst, m.i32.load(0, 4, src)) : m.memory.copy(dst, src, m.i32.const(inner * 4)));
    };
    if (outer === 1) copy(() => m.i32.const(0));
    else c.loop(outer, 1, copy);
  });
  return c.finish(ctx.fnName("gather"));
}

/**
 * The kept part of the input into its window of the output, then, axis by axis from the last,
 * the slabs before and after it: each spans every output index along the axes after its own
 * (already padded) and the window along those before. constant fills them; replicate copies the
 * edge slab (stride 0), reflect the slabs mirrored about it (a negative stride), both from the
 * output itself.
 */
function pad(ctx: KernelContext, node: NodeOf<"pad">): string {
  const [x, y] = [node.inputs[0]!, node.outputs[0]!];
  const mode = (node.attrs.mode ?? "constant") as PadMode;
  const axes = padAxes(shapeOf(ctx, x), node.attrs.pads, mode);
  const ys = shapeOf(ctx, y);
  const [xst, yst] = [strides(shapeOf(ctx, x)), strides(ys)];
  const elem = elemOf(ctx.graph.values[y]!.type);
  const value = node.attrs.value ?? 0;
  const c = new Code(ctx.mod);
  /** The output view at per-axis `start` indices. */
  const out = (start: readonly number[], st = yst) => view(ctx, y, [...st], ctx.addr(y) + 4 * start.reduce((s, k, i) => s + k * yst[i]!, 0));
  const window = axes.map((p) => p.before);
  mapLanes(ctx, c, axes.map((p) => p.kept), out(window), [view(ctx, x, xst, ctx.addr(x) + 4 * axes.reduce((s, p, i) => s + p.crop * xst[i]!, 0))], (_L, [v]) => v!);
  for (let k = axes.length - 1; k >= 0; k--) {
    const p = axes[k]!;
    const slab = (at: number, size: number) => ({ shape: axes.map((q, i) => (i === k ? size : i < k ? q.kept : ys[i]!)), start: axes.map((q, i) => (i === k ? at : i < k ? q.before : 0)) });
    const fill = (at: number, size: number, from: number, step: number) => {
      if (size === 0) return;
      const s = slab(at, size);
      if (mode === "constant") return mapLanes(ctx, c, s.shape, out(s.start), [], (L) => (elem === "f32" ? L.f(value) : L.i(value)));
      const src = out(s.start.map((v, i) => (i === k ? from : v)), yst.map((v, i) => (i === k ? v * step : v)));
      mapLanes(ctx, c, s.shape, out(s.start), [src], (_L, [v]) => v!);
    };
    const [first, last] = [p.before, p.before + p.kept - 1];
    if (mode === "replicate") {
      fill(0, p.before, first, 0);
      fill(last + 1, p.after, last, 0);
    } else {
      // Output index first - t mirrors first + t; last + t mirrors last - t.
      fill(0, p.before, 2 * first, -1);
      fill(last + 1, p.after, last - 1, -1);
    }
  }
  return c.finish(ctx.fnName("pad"));
}

export const movementKernels: Kernels<"transpose" | "concat" | "split" | "slice" | "reshape" | "gather" | "pad" | "expand" | "tile"> = {
  transpose: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const inStr = strides(shapeOf(ctx, x));
    const shape = shapeOf(ctx, y);
    return copies(ctx, node.op, [{ shape, dst: view(ctx, y, strides(shape)), src: view(ctx, x, node.attrs.perm.map((p) => inStr[p]!)) }]);
  },
  concat: (ctx, node) => windows(ctx, node.op, node.attrs.axis, node.outputs[0]!, node.inputs, true),
  split: (ctx, node) => windows(ctx, node.op, node.attrs.axis, node.inputs[0]!, node.outputs, false),
  // A strided window: the step scales the axis' stride (negative steps walk it backwards).
  slice: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const xs = shapeOf(ctx, x);
    const axis = normAxis(node.attrs.axis, xs.length);
    const step = node.attrs.step ?? 1;
    const { first } = sliceRange(xs[axis]!, node.attrs.start, node.attrs.end, step);
    const src = window(ctx, x, axis, first);
    src.strides[axis]! *= step;
    const shape = shapeOf(ctx, y);
    return copies(ctx, node.op, [{ shape, dst: view(ctx, y, strides(shape)), src }]);
  },
  reshape,
  gather,
  pad,
  // Broadcast dimensions read with stride 0.
  expand: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const shape = shapeOf(ctx, y);
    return copies(ctx, node.op, [{ shape, dst: view(ctx, y, strides(shape)), src: view(ctx, x, broadcastStrides(shapeOf(ctx, x), shape)) }]);
  },
  // Over [r0, d0, r1, d1, ...]: the repeats read x with stride 0.
  tile: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const xs = shapeOf(ctx, x);
    const [xst, yst] = [strides(xs), strides(shapeOf(ctx, y))];
    const r = node.attrs.repeats;
    const shape = xs.flatMap((d, k) => [r[k]!, d]);
    const dst = view(ctx, y, xs.flatMap((d, k) => [d * yst[k]!, yst[k]!]));
    return copies(ctx, node.op, [{ shape, dst, src: view(ctx, x, xs.flatMap((_, k) => [0, xst[k]!])) }]);
  },
};
