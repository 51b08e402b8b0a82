// The strided elementwise engine and the kernels built on it: unary, binary (broadcasting),
// prelu, cast, comparisons, where, logical_not, batchnorm and fused_elementwise. Every operand is a strided view over the output's
// index space; dimensions all views walk contiguously are merged, and the innermost one runs as
// f32x4 / i32x4 with a scalar tail.
import binaryen from "binaryen";
import { numel, type Attrs, type FusedStep, type Graph, type Node, type TensorType } from "../../src/ir/graph.js";
import { binaryOps, channelDim, compareOps, isNHWC, unaryOps, type BinaryOp, type CompareOp, type UnaryOp } from "../../src/ir/ops.js";
import { broadcastStrides, strides } from "../../src/ir/shape.js";
import { sameKernel, type KernelContext, type KernelEmitter, type Kernels } from "./context.js";
import { address, Code, type Elem, type Lanes, type Part, type X } from "./lanes.js";
import { applyStep, scalarOnly, type StepOp } from "./math.js";

/** A strided operand: byte address and one element stride per dimension of the loop space. */
export interface View {
  addr: number;
  strides: number[];
  elem: Elem;
}

/** i64 and bool are held as i32. */
export const elemOf = (t: TensorType): Elem => (t.dtype === "f32" ? "f32" : "i32");

export const view = (ctx: KernelContext, value: number, strides: number[], addr = ctx.addr(value)): View => ({
  addr,
  strides,
  elem: elemOf(ctx.graph.values[value]!.type),
});

/** Drops size-1 dimensions and merges neighbours that every view walks contiguously. */
function collapse(shape: readonly number[], strides: number[][]): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  shape.forEach((d, i) => {
    if (d === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => out[k]![last] === s[i]! * d)) {
      dims[last]! *= d;
      strides.forEach((s, k) => (out[k]![last] = s[i]!));
    } else {
      dims.push(d);
      strides.forEach((s, k) => out[k]!.push(s[i]!));
    }
  });
  return dims.length ? { dims, strides: out } : { dims: [1], strides: strides.map(() => [0]) };
}

/**
 * Emits `out[i] = f(ins[i])` for every index of `shape`. `f` receives the loaded operands (each
 * readable more than once). With `scalar`, no SIMD loop (for ops without a vector form).
 */
export function mapLanes(ctx: KernelContext, c: Code, shape: readonly number[], out: View, ins: View[], f: (L: Lanes, args: X[]) => X, scalar = false, part?: Part): void {
  const { m } = c;
  const views = [out, ...ins];
  const { dims, strides } = collapse(shape, views.map((v) => v.strides));
  const inner = dims[dims.length - 1]!;
  // With `part`, this thread's share of the outer dims, or of the vectors when there are none.
  const outer = (body: (idx: X[]) => void) => (part && dims.length > 1 ? c.nestPart(dims.slice(0, -1), part, body) : c.nest(dims.slice(0, -1), body));
  outer((idx) => {
    const bases = views.map((v, k) => {
      const base = () => m.i32.const(v.addr);
      return idx.length ? c.let(address(m, base, idx.map((i, l) => [i, strides[k]![l]! * 4])), binaryen.i32) : base;
    });
    const at = (L: Lanes, j: X) => {
      const ptr = (k: number) => address(m, bases[k]!, [[j, strides[k]![dims.length - 1]! * 4]]);
      const stride = (k: number) => strides[k]![dims.length - 1]!;
      const args = ins.map((v, k) => L.let(L.load(v.elem, ptr(k + 1), stride(k + 1)), v.elem));
      L.store(out.elem, ptr(0), stride(0), f(L, args));
    };
    // A lane's memarg offset cannot be negative: views walking backwards run scalar.
    const scalarOnly = scalar || strides.some((s) => s[dims.length - 1]! < 0);
    if (part && dims.length === 1) c.lanesPart(inner, ctx.relaxed, part, at, scalarOnly);
    else c.lanes(inner, ctx.relaxed, at, scalarOnly);
  });
}

/** A step program over registers (operands first, then one per step); the last is the result. */
interface Program {
  steps: { op: StepOp; args: number[] }[];
}

/** A step of a fused program, or a node's own op with its result type. */
type Step = FusedStep & {
  /** The result's element type; default: the first operand's. */
  out?: Elem;
};

function compile(g: Graph, operands: number[], steps: Step[]): Program {
  const types: Elem[] = operands.map((v) => elemOf(g.values[v]!.type));
  const scalarConst = (r: number) => {
    const v = operands[r];
    const c = v !== undefined && g.values[v]!.kind === "const" ? g.constants.find((k) => k.value === v) : undefined;
    return c && c.data.length === 1 ? c.data[0] : undefined;
  };
  return {
    steps: steps.map((st) => {
      const args = st.args.map((r) => types[r]!);
      const out = st.out ?? args[0]!;
      types.push(out);
      const konst = st.args.length === 2 ? scalarConst(st.args[1]!) : undefined;
      return { op: { op: st.op, attrs: st.attrs ?? {}, types: args, out, ...(konst !== undefined ? { konst } : {}) }, args: st.args };
    }),
  };
}

function run(L: Lanes, p: Program, operands: X[]): X {
  const regs = [...operands];
  for (const st of p.steps) regs.push(L.let(applyStep(L, st.op, st.args.map((r) => regs[r]!)), st.op.out));
  return regs[regs.length - 1]!;
}

/** Emits a kernel computing `p` over the node's output, the operands given as views. */
function emitProgram(ctx: KernelContext, node: Node, p: Program, ins: View[]): string {
  const c = new Code(ctx.mod);
  const y = ctx.graph.values[node.outputs[0]!]!.type;
  mapLanes(ctx, c, y.shape, view(ctx, node.outputs[0]!, strides(y.shape)), ins, (L, args) => run(L, p, args), p.steps.some((s) => scalarOnly(s.op)), ctx.part);
  return c.finish(ctx.fnName(node.op));
}

/** Operands broadcast to the output shape (numpy rules). */
function broadcastViews(ctx: KernelContext, node: Node): View[] {
  const out = ctx.graph.values[node.outputs[0]!]!.type.shape;
  return node.inputs.map((v) => view(ctx, v, broadcastStrides(ctx.graph.values[v]!.type.shape, out)));
}

type SingleStep = UnaryOp | BinaryOp | "cast" | CompareOp | "where" | "logical_not";

/** A unary, binary, cast, comparison, where or logical_not node: its op as a one-step program. */
const singleStep: KernelEmitter<SingleStep> = (ctx, node) => {
  const out = elemOf(ctx.graph.values[node.outputs[0]!]!.type);
  return emitProgram(ctx, node, compile(ctx.graph, node.inputs, [{ op: node.op, args: node.inputs.map((_, i) => i), attrs: node.attrs, out }]), broadcastViews(ctx, node));
};

/** Strides reading a per-channel vector (or one scalar) along the channel axis of `shape`. */
function channelStrides(shape: readonly number[], attrs: Attrs, n: number): number[] {
  const axis = isNHWC(attrs) ? shape.length - 1 : 1;
  return shape.map((_, i) => (n > 1 && i === axis ? 1 : 0));
}

const prelu: KernelEmitter<"prelu"> = (ctx, node) => {
  const [x, slope] = node.inputs as [number, number];
  const shape = ctx.graph.values[x]!.type.shape;
  const ins = [view(ctx, x, strides(shape)), view(ctx, slope, channelStrides(shape, node.attrs, numel(ctx.graph.values[slope]!.type.shape)))];
  return emitProgram(ctx, node, compile(ctx.graph, [x, slope], [{ op: "prelu", args: [0, 1] }]), ins);
};

// Fallback for batchnorms no pass folded: y = x * scale + shift, per channel, folded here.
const batchnorm: KernelEmitter<"batchnorm"> = (ctx, node) => {
  const g = ctx.graph;
  const [x, ...stats] = node.inputs as [number, number, number, number, number];
  const [w, b, mean, v] = stats.map((s) => {
    const k = g.constants.find((c) => c.value === s);
    if (!k) throw new Error("wasm batchnorm: statistics must be constants (bind the weights first)");
    return k.data;
  }) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const eps = node.attrs.eps;
  const scale = Float32Array.from(w, (wi, i) => wi / Math.sqrt(v[i]! + eps));
  const shift = Float32Array.from(b, (bi, i) => bi - mean[i]! * scale[i]!);
  const shape = g.values[x]!.type.shape;
  const per = channelStrides(shape, node.attrs, channelDim(shape, node.attrs));
  const ins: View[] = [view(ctx, x, strides(shape)), { addr: ctx.addData(scale), strides: per, elem: "f32" }, { addr: ctx.addData(shift), strides: per, elem: "f32" }];
  const p: Program = {
    steps: [
      { op: { op: "mul", attrs: {}, types: ["f32", "f32"], out: "f32" }, args: [0, 1] },
      { op: { op: "add", attrs: {}, types: ["f32", "f32"], out: "f32" }, args: [3, 2] },
    ],
  };
  return emitProgram(ctx, node, p, ins);
};

export const elementwiseKernels: Kernels<SingleStep | "fused_elementwise" | "prelu" | "batchnorm"> = {
  ...sameKernel([...unaryOps, ...binaryOps, "cast", ...compareOps, "where", "logical_not"], singleStep),
  fused_elementwise: (ctx, node) => emitProgram(ctx, node, compile(ctx.graph, node.inputs, node.attrs.program), broadcastViews(ctx, node)),
  prelu,
  batchnorm,
};
