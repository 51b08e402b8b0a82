// Data movement: transpose, concat, split, slice as strided copies on the elementwise engine;
// reshape as a copy (or nothing, when the memory plan aliases it); gather (embedding) row copies.
import binaryen from "binaryen";
import { numel } from "../../src/ir/graph.js";
import type { NodeOf } from "../../src/ir/ops.js";
import { normAxis, strides } from "../../src/ir/shape.js";
import type { KernelContext, Kernels } from "./context.js";
import { mapLanes, view, type View } from "./elementwise.js";
import { Code, type E } from "./lanes.js";

const shapeOf = (ctx: KernelContext, v: number) => ctx.graph.values[v]!.type.shape;

/** Emits copies `dst <- src` over `shape`, one per pair, into one kernel named after `op`. */
function copies(ctx: KernelContext, op: string, pairs: { shape: readonly number[]; dst: View; src: View }[]): string {
  const c = new Code(ctx.mod);
  for (const p of pairs) mapLanes(ctx, c, p.shape, p.dst, [p.src], (_L, [x]) => x!);
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

// Embedding rows: ids outside [0, rows) trap (unsigned compare also catches negatives).
function gather(ctx: KernelContext, node: NodeOf<"gather">): string {
  const [table, ids] = node.inputs as [number, number];
  const [rows, dim] = shapeOf(ctx, table) as [number, number];
  const [tAddr, iAddr, yAddr] = [ctx.addr(table), ctx.addr(ids), ctx.addr(node.outputs[0]!)];
  const c = new Code(ctx.mod);
  const m = c.m;
  c.loop(numel(shapeOf(ctx, ids)), 1, (i) => {
    const id = c.let(() => m.i32.load(iAddr, 4, m.i32.shl(i(), m.i32.const(2))), binaryen.i32);
    c.emit(m.if(m.i32.ge_u(id(), m.i32.const(rows)), m.unreachable()));
    const row = (base: number, k: E) => m.i32.add(m.i32.const(base), m.i32.mul(k, m.i32.const(dim * 4)));
    c.emit(m.memory.copy(row(yAddr, i()), row(tAddr, id()), m.i32.const(dim * 4)));
  });
  return c.finish(ctx.fnName("gather"));
}

export const movementKernels: Kernels<"transpose" | "concat" | "split" | "slice" | "reshape" | "gather"> = {
  transpose: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const inStr = strides(shapeOf(ctx, x));
    const shape = shapeOf(ctx, y);
    return copies(ctx, node.op, [{ shape, dst: view(ctx, y, strides(shape)), src: view(ctx, x, node.attrs.perm.map((p) => inStr[p]!)) }]);
  },
  concat: (ctx, node) => windows(ctx, node.op, node.attrs.axis, node.outputs[0]!, node.inputs, true),
  split: (ctx, node) => windows(ctx, node.op, node.attrs.axis, node.inputs[0]!, node.outputs, false),
  slice: (ctx, node) => {
    const [x, y] = [node.inputs[0]!, node.outputs[0]!];
    const axis = normAxis(node.attrs.axis, shapeOf(ctx, x).length);
    const shape = shapeOf(ctx, y);
    return copies(ctx, node.op, [{ shape, dst: view(ctx, y, strides(shape)), src: window(ctx, x, axis, node.attrs.start) }]);
  },
  reshape,
  gather,
};
