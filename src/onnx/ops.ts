// The ONNX operators graphc imports: one entry per op type, each with how it folds on constants
// (`fold`) and how it becomes .nn (`emit`). Opset differences (attributes that became inputs,
// opset 6's legacy broadcasting, changed defaults) are handled in the entry. Ops waiting for an
// IR op another branch adds have `pending` and a fold only: giving them an `emit` is the change.
import { unaryScalar } from "../ir/ops.js";
import { RESIZE_COORDINATES } from "../ir/resize.js";
import { broadcastShapes } from "../ir/shape.js";
import { float, inferDims, list, Unsupported, tuple, type NodeCtx, type OpEntry, type Outputs, type TensorVal, type Val } from "./ctx.js";
import * as F from "./fold.js";
import { elemTypeOf, typeName, type Tensor } from "./model.js";
import { DataType } from "./proto.js";

export const FLOOR_OPSET = 6;
export const TOP_OPSET = 21;

const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const f32 = (t: Tensor) => t.data as Float32Array;

function floatConst(ctx: NodeCtx, i: number, what: string): Tensor {
  const t = ctx.const(i, what);
  if (t.type !== "float") throw new Unsupported(`its ${what} must be a float tensor, got ${typeName(t.onnxType)}`);
  return t;
}

/** The reshaped run-time tensor (no statement when the shape is unchanged); `final`: as the node's output. */
function reshapeTo(ctx: NodeCtx, x: TensorVal, dims: number[], final = true): TensorVal {
  if (x.dims.length === dims.length && x.dims.every((d, i) => d === dims[i])) return x;
  const text = `reshape(${x.name}, ${list(dims)})`;
  return final ? ctx.emit(text, dims, x.dtype) : ctx.step(text, dims, x.dtype);
}

// ---- elementwise -------------------------------------------------------------------------------

const binaryText: Record<string, (a: string, b: string) => string> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  pow: (a, b) => `pow(${a}, ${b})`,
  maximum: (a, b) => `maximum(${a}, ${b})`,
  minimum: (a, b) => `minimum(${a}, ${b})`,
};

/**
 * Opset < 7 broadcasting: with broadcast=1, B's dims align with A's starting at `axis` (default:
 * B's trailing alignment, which numpy does anyway); B is reshaped with trailing 1s.
 */
function legacyBroadcastDims(ctx: NodeCtx, a: number[], b: number[]): number[] | undefined {
  if (ctx.opset >= 7 || ctx.int("broadcast", 0) !== 1) return undefined;
  const axis = ctx.attr("axis");
  if (typeof axis !== "number") return undefined;
  const at = axis < 0 ? axis + a.length : axis;
  return [...b, ...Array<number>(Math.max(0, a.length - at - b.length)).fill(1)];
}

const scalarFold: Record<string, (a: number, b: number, int: boolean) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b, int) => (int ? Math.trunc(a / b) : a / b),
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
};

const commutative = new Set(["add", "mul", "maximum", "minimum"]);

/** A one-element constant next to a tensor of rank `rank` is a literal; any other constant a parameter. */
function operandText(ctx: NodeCtx, v: Val, i: number, rank: number): { text: string; dims: number[] } {
  if (v.kind === "const" && v.t.data.length === 1 && v.t.dims.length <= rank) return { text: v.t.type === "float" ? float(v.t.data[0]!) : String(v.t.data[0]), dims: v.t.dims };
  const t = v.kind === "tensor" ? v : ctx.imp.constTensor(v, `${ctx.node.name}.${i}`);
  return { text: t.name, dims: t.dims };
}

function binary(op: keyof typeof binaryText): OpEntry {
  return {
    fold: (ins, ctx) => {
      let [a, b] = ins as Tensor[];
      const legacy = legacyBroadcastDims(ctx, a!.dims, b!.dims);
      if (legacy) b = F.reshape(b!, legacy);
      const int = a!.type !== "float";
      return [F.broadcastMap([a!, b!], a!.type, a!.onnxType, (x, y) => scalarFold[op]!(x, y, int))];
    },
    emit: (ctx) => {
      const n = ctx.node.inputs.length;
      const first = ctx.val(0);
      if (n === 2 && first.kind === "const" && ctx.val(1).kind === "tensor") {
        // A constant first: commutative ops swap it to the right; 2 - x keeps it as a literal on the left.
        const b = ctx.val(1) as TensorVal;
        const a = operandText(ctx, first, 0, b.dims.length);
        const text = commutative.has(op) ? binaryText[op]!(b.name, a.text) : binaryText[op]!(a.text, b.name);
        return ctx.emit(text, broadcastShapes(a.dims, b.dims), b.dtype);
      }
      // Max/Min/Sum take any number of inputs: a chain.
      let acc = first.kind === "tensor" ? first : ctx.tensor(0);
      for (let i = 1; i < n; i++) {
        let right = ctx.val(i);
        const legacy = legacyBroadcastDims(ctx, acc.dims, dimsOf(right));
        if (legacy) right = right.kind === "tensor" ? reshapeTo(ctx, right, legacy, false) : { ...right, t: F.reshape(right.t, legacy) };
        const r = operandText(ctx, right, i, acc.dims.length);
        const dims = broadcastShapes(acc.dims, r.dims);
        const text = binaryText[op]!(acc.name, r.text);
        acc = i === n - 1 ? ctx.emit(text, dims, acc.dtype) : ctx.step(text, dims, acc.dtype);
      }
      return acc;
    },
  };
}

function unaryFold(f: (x: number, ctx: NodeCtx) => number): OpEntry["fold"] {
  return ([x], ctx) => [F.broadcastMap([x!], x!.type, x!.onnxType, (v) => (x!.type === "float" ? Math.fround(f(v, ctx)) : f(v, ctx)))];
}

/** A unary op written `text(x)`, folding with `f`. */
function unary(text: (x: string, ctx: NodeCtx) => string, f: (x: number, ctx: NodeCtx) => number): OpEntry {
  return {
    fold: unaryFold(f),
    emit: (ctx) => {
      const x = ctx.tensor(0);
      return ctx.emit(text(x.name, ctx), x.dims, x.dtype);
    },
  };
}

const call = (fn: string) => (x: string) => `${fn}(${x})`;
const erf = (x: number) => unaryScalar("erf", x, {});

/** Clip bounds: attributes before opset 11, optional inputs from then on. */
function clipBounds(ctx: NodeCtx): { min: number; max: number } {
  if (ctx.opset < 11) return { min: ctx.float("min", -Infinity), max: ctx.float("max", Infinity) };
  const bound = (i: number, dflt: number) => (ctx.has(i) ? F.values(ctx.const(i, i === 1 ? "min" : "max"))[0]! : dflt);
  return { min: bound(1, -Infinity), max: bound(2, Infinity) };
}

const F32_MAX = 3.4028234663852886e38;

const clip: OpEntry = {
  fold: ([x], ctx) => {
    const { min, max } = clipBounds(ctx);
    return [F.broadcastMap([x!], x!.type, x!.onnxType, (v) => Math.min(Math.max(v, min), max))];
  },
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const { min, max } = clipBounds(ctx);
    const text = min === 0 && max === 6 ? `relu6(${x.name})` : min === 0 && max === Infinity ? `relu(${x.name})` : `clip(${x.name}, ${float(Math.max(min, -F32_MAX))}, ${float(Math.min(max, F32_MAX))})`;
    return ctx.emit(text, x.dims, x.dtype);
  },
};

const hardSigmoid: OpEntry = {
  fold: unaryFold((v, ctx) => Math.min(Math.max(ctx.float("alpha", 0.2) * v + ctx.float("beta", 0.5), 0), 1)),
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const alpha = Math.fround(ctx.float("alpha", 0.2));
    const beta = Math.fround(ctx.float("beta", 0.5));
    // PyTorch's constants (the language's defaults) stay the default: 1/6 has no short f32 literal.
    const args = alpha === Math.fround(1 / 6) && beta === 0.5 ? "" : `, alpha=${float(alpha)}${beta === 0.5 ? "" : `, beta=${float(beta)}`}`;
    return ctx.emit(`hard_sigmoid(${x.name}${args})`, x.dims);
  },
};

/** Softmax before opset 13 flattens to 2-D at `axis`; from 13 on it is over one axis. */
const softmax: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const rank = x.dims.length;
    const axis = F.normAxis(ctx.int("axis", ctx.opset < 13 ? 1 : -1), rank, "Softmax");
    if (ctx.opset >= 13 || axis === rank - 1) return ctx.emit(`softmax(${x.name}, axis=${axis === rank - 1 ? -1 : axis})`, x.dims);
    const flat = [numel(x.dims.slice(0, axis)), numel(x.dims.slice(axis))];
    const r = ctx.step(`reshape(${x.name}, ${list(flat)})`, flat);
    const s = ctx.step(`softmax(${r.name}, axis=-1)`, flat);
    return ctx.emit(`reshape(${s.name}, ${list(x.dims)})`, x.dims);
  },
};

const CAST_TO: Partial<Record<number, "f32" | "i32" | "i64">> = {
  [DataType.FLOAT]: "f32", [DataType.DOUBLE]: "f32", [DataType.FLOAT16]: "f32", [DataType.INT32]: "i32", [DataType.INT64]: "i64",
};

const cast: OpEntry = {
  fold: ([x], ctx) => {
    const to = ctx.int("to", DataType.FLOAT);
    const type = elemTypeOf(to);
    if (!type) throw new Unsupported(`cannot cast to ${typeName(to)}`);
    const v = Array.from(x!.data, (e) => (type === "float" ? e : type === "bool" ? (e !== 0 ? 1 : 0) : Math.trunc(e)));
    return [F.makeTensor(type, to, x!.dims, v)];
  },
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const to = CAST_TO[ctx.int("to", DataType.FLOAT)];
    if (!to) throw new Unsupported(`a run-time cast to ${typeName(ctx.int("to", 0))} is not supported (f32, i32 and i64 are)`);
    if (to === x.dtype) return x;
    return ctx.emit(`cast(${x.name}, "${to}")`, x.dims, to);
  },
};

/** Identity and inference-time Dropout: the input itself (Dropout's mask output is not supported). */
const identity: OpEntry = {
  fold: ([x]) => [x!],
  keepsOrigin: true,
  emit: (ctx) => {
    if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] && ctx.readers(1).length) throw new Unsupported("its mask output is used; graphc imports inference graphs");
    // Dropout-12's training_mode input: only false (inference) is the identity.
    if (ctx.node.op === "Dropout" && ctx.has(2) && F.values(ctx.const(2, "training_mode"))[0]) throw new Unsupported("training_mode is true; graphc imports inference graphs");
    return ctx.val(0);
  },
};

// ---- shapes ------------------------------------------------------------------------------------

const dimsOf = (v: Val) => (v.kind === "tensor" ? v.dims : v.t.dims);

function reshapeDims(ctx: NodeCtx, input: number[]): number[] {
  const target = ctx.opset < 5 ? ctx.ints("shape") : F.values(ctx.const(1, "shape"));
  if (!target) throw new Unsupported("it has no shape");
  const allowZero = ctx.int("allowzero", 0) === 1;
  const dims = target.map((d, i) => (d === 0 && !allowZero ? input[i]! : d));
  const hole = dims.indexOf(-1);
  if (hole >= 0) dims[hole] = numel(input) / numel(dims.filter((_, i) => i !== hole));
  if (!Number.isInteger(dims[hole] ?? 0) || numel(dims) !== numel(input)) throw new Unsupported(`cannot reshape [${input.join(", ")}] to [${target.join(", ")}]`);
  return dims;
}

/** An op that only changes the shape: folds as a reshape, emits `reshape`. */
function shapeOnly(dimsFor: (ctx: NodeCtx, input: number[]) => number[]): OpEntry {
  return {
    keepsOrigin: true,
    fold: ([x], ctx) => [F.reshape(x!, dimsFor(ctx, x!.dims))],
    emit: (ctx) => {
      const x = ctx.tensor(0);
      return reshapeTo(ctx, x, dimsFor(ctx, x.dims));
    },
  };
}

function axesOf(ctx: NodeCtx, inputSince: number): number[] | undefined {
  return ctx.intsAttrOrInput("axes", inputSince, 1);
}

const squeeze = shapeOnly((ctx, dims) => {
  const axes = axesOf(ctx, 13)?.map((a) => F.normAxis(a, dims.length, "Squeeze"));
  const kept = axes?.find((a) => dims[a] !== 1);
  if (kept !== undefined) throw new Unsupported(`axis ${kept} of [${dims.join(", ")}] has size ${dims[kept]}, not 1`);
  return dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
});

const unsqueeze = shapeOnly((ctx, dims) => {
  const axes = axesOf(ctx, 13);
  if (!axes) throw new Unsupported("it has no axes");
  const rank = dims.length + axes.length;
  const set = new Set(axes.map((a) => F.normAxis(a, rank, "Unsqueeze")));
  if (set.size !== axes.length) throw new Unsupported(`axes [${axes.join(", ")}] name an axis twice`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(set.has(i) ? 1 : dims[k++]!);
  return out;
});

const flatten = shapeOnly((ctx, dims) => {
  const axis = ctx.int("axis", 1);
  const a = axis < 0 ? axis + dims.length : axis;
  if (a < 0 || a > dims.length) throw new Unsupported(`axis ${axis} is out of range for rank ${dims.length} (Flatten's is [-r, r])`);
  return [numel(dims.slice(0, a)), numel(dims.slice(a))];
});

/** Transpose's perm (default: the axes reversed), a permutation of `rank` axes. */
function permOf(ctx: NodeCtx, rank: number): number[] {
  const perm = ctx.ints("perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new Unsupported(`perm [${perm.join(", ")}] is not a permutation of ${rank} axes`);
  return perm;
}

const transpose: OpEntry = {
  fold: ([x], ctx) => [F.transpose(x!, permOf(ctx, x!.dims.length))],
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const perm = permOf(ctx, x.dims.length);
    if (perm.every((p, i) => p === i)) return x;
    return ctx.emit(`transpose(${x.name}, ${list(perm)})`, perm.map((p) => x.dims[p]!), x.dtype);
  },
};

const concat: OpEntry = {
  fold: (ins, ctx) => {
    const ts = (ins as Tensor[]).filter((t) => numel(t.dims) > 0 || ins.length === 1);
    return [F.concat(ts, ctx.int("axis", ctx.opset < 4 ? 1 : 0))];
  },
  emit: (ctx) => {
    const parts = ctx.node.inputs.map((_, i) => ctx.tensor(i)).filter((t) => numel(t.dims) > 0);
    const first = parts[0]!;
    const axis = F.normAxis(ctx.int("axis", 1), first.dims.length, "Concat");
    const dims = [...first.dims];
    dims[axis] = parts.reduce((s, t) => s + t.dims[axis]!, 0);
    if (parts.length === 1) return first;
    return ctx.emit(`concat([${parts.map((p) => p.name).join(", ")}], ${axis})`, dims, first.dtype);
  },
};

function splitSizes(ctx: NodeCtx, dim: number): number[] {
  const given = ctx.opset < 13 ? ctx.ints("split") ?? (ctx.has(1) ? F.values(ctx.const(1, "split")) : undefined) : ctx.has(1) ? F.values(ctx.const(1, "split")) : undefined;
  if (given) return given;
  const parts = ctx.opset >= 18 && ctx.attr("num_outputs") !== undefined ? ctx.int("num_outputs", 1) : ctx.node.outputs.length;
  const each = Math.ceil(dim / parts);
  return Array.from({ length: parts }, (_, i) => Math.min(each, dim - i * each));
}

const split: OpEntry = {
  fold: ([x], ctx) => {
    const axis = F.normAxis(ctx.int("axis", 0), x!.dims.length, "Split");
    let start = 0;
    return splitSizes(ctx, x!.dims[axis]!).map((n) => F.slice(x!, [start], [(start += n)], [axis], [1]));
  },
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const axis = F.normAxis(ctx.int("axis", 0), x.dims.length, "Split");
    const sizes = splitSizes(ctx, x.dims[axis]!);
    if (sizes.length === 1) return x;
    const shapes = sizes.map((n) => x.dims.map((d, i) => (i === axis ? n : d)));
    return ctx.emitMany(`split(${x.name}, ${list(sizes)}, ${axis})`, shapes, x.dtype);
  },
};

/** Slice's bounds: attributes before opset 10, inputs from then on. */
function sliceArgs(ctx: NodeCtx, rank: number) {
  const fromInput = (i: number, what: string) => (ctx.has(i) ? F.values(ctx.const(i, what)) : undefined);
  const starts = ctx.opset < 10 ? ctx.ints("starts") : fromInput(1, "starts");
  const ends = ctx.opset < 10 ? ctx.ints("ends") : fromInput(2, "ends");
  if (!starts || !ends) throw new Unsupported("it has no starts or ends");
  const axes = (ctx.opset < 10 ? ctx.ints("axes") : fromInput(3, "axes")) ?? starts.map((_, i) => i);
  const steps = (ctx.opset < 10 ? undefined : fromInput(4, "steps")) ?? starts.map(() => 1);
  return { starts, ends, axes: axes.map((a) => F.normAxis(a, rank, "Slice")), steps };
}

const slice: OpEntry = {
  fold: ([x], ctx) => {
    const { starts, ends, axes, steps } = sliceArgs(ctx, x!.dims.length);
    return [F.slice(x!, starts, ends, axes, steps)];
  },
  emit: (ctx) => {
    let x = ctx.tensor(0);
    const { starts, ends, axes, steps } = sliceArgs(ctx, x.dims.length);
    const cuts = axes
      .map((axis, k) => ({ axis, step: steps[k]!, ...F.sliceRange(x.dims[axis]!, starts[k]!, ends[k]!, steps[k]!) }))
      .filter((c) => !(c.step === 1 && c.start === 0 && c.count === x.dims[c.axis]));
    if (cuts.some((c) => c.count === 0)) throw new Unsupported("it gives an empty tensor");
    // One slice per axis, the clamped bounds written out: the last index read, plus one step (an
    // end before index 0, for a negative step, is `none`).
    cuts.forEach((c, k) => {
      const dims = x.dims.map((d, i) => (i === c.axis ? c.count : d));
      const end = c.start + (c.count - 1) * c.step + Math.sign(c.step);
      const text = `slice(${x.name}, ${c.axis}, ${c.start}, ${end < 0 ? "none" : end}${c.step === 1 ? "" : `, ${c.step}`})`;
      x = k === cuts.length - 1 ? ctx.emit(text, dims, x.dtype) : ctx.step(text, dims, x.dtype);
    });
    return x;
  },
};

const gather: OpEntry = {
  fold: ([x, idx], ctx) => [F.gather(x!, idx!, ctx.int("axis", 0))],
  emit: (ctx) => {
    const data = ctx.val(0);
    const idx = ctx.val(1);
    const axis = ctx.int("axis", 0);
    // A 2-D float table read on axis 0 by run-time ids: an embedding (which, like PyTorch's,
    // rejects the negative ids ONNX would read from the end).
    if (data.kind === "const" && idx.kind === "tensor" && axis === 0 && data.t.dims.length === 2 && data.t.type === "float") {
      const [num, dim] = data.t.dims as [number, number];
      const label = ctx.label([{ suffix: "weight", data: f32(data.t), dims: data.t.dims, ...(data.origin ? { onnx: data.origin } : {}) }]);
      return ctx.emit(`${label}: embedding(${idx.name}, ${num}, ${dim})`, [...idx.dims, dim]);
    }
    const x = ctx.tensor(0);
    const a = F.normAxis(axis, x.dims.length, "Gather");
    const dims = (ids: number[]) => [...x.dims.slice(0, a), ...ids, ...x.dims.slice(a + 1)];
    if (idx.kind === "tensor") return ctx.emit(`gather(${x.name}, ${idx.name}, axis=${a})`, dims(idx.dims), x.dtype);
    const n = x.dims[a]!;
    const ids = F.values(idx.t).map((i) => (i < 0 ? i + n : i));
    const bad = ids.find((i) => i < 0 || i >= n);
    if (bad !== undefined) throw new Unsupported(`index ${bad - (bad >= n ? 0 : n)} is out of range for axis ${a} of [${x.dims.join(", ")}]`);
    if (ids.length === 0) throw new Unsupported("it gives an empty tensor");
    if (idx.t.dims.length === 0) return ctx.emit(`select(${x.name}, ${a}, ${ids[0]})`, dims([]), x.dtype);
    if (idx.t.dims.length === 1 && ids.every((v, k) => v === ids[0]! + k)) return ctx.emit(`slice(${x.name}, ${a}, ${ids[0]}, ${ids[0]! + ids.length})`, dims([ids.length]), x.dtype);
    // Constant ids of any shape: gathered as a list, then shaped as the ids.
    const text = `gather(${x.name}, ${list(ids)}, axis=${a})`;
    if (idx.t.dims.length === 1) return ctx.emit(text, dims(idx.t.dims), x.dtype);
    const flat = ctx.step(text, dims([ids.length]), x.dtype);
    return ctx.emit(`reshape(${flat.name}, ${list(dims(idx.t.dims))})`, dims(idx.t.dims), x.dtype);
  },
};

// ---- constants and shape arithmetic (folded only) -----------------------------------------------

const constant: OpEntry = {
  fold: (_, ctx) => {
    const v = ctx.attr("value") ?? ctx.attr("value_float") ?? ctx.attr("value_floats") ?? ctx.attr("value_int") ?? ctx.attr("value_ints");
    if (v === undefined) throw new Unsupported("only value, value_float(s) and value_int(s) constants are supported");
    if (typeof v === "object" && !Array.isArray(v)) return [v];
    const isFloat = ctx.attr("value_float") !== undefined || ctx.attr("value_floats") !== undefined;
    const vs = typeof v === "number" ? [v] : (v as number[]);
    const dims = typeof v === "number" ? [] : [vs.length];
    return [isFloat ? F.makeTensor("float", DataType.FLOAT, dims, vs) : F.intTensor(dims, vs)];
  },
};

/** Shape of a run-time or constant tensor (start/end from opset 15). */
const shape: OpEntry = {
  fold: ([x], ctx) => [shapeOf(x!.dims, ctx)],
  emit: (ctx) => ({ kind: "const", t: shapeOf(dimsOf(ctx.val(0)), ctx) }),
};

function shapeOf(dims: number[], ctx: NodeCtx): Tensor {
  const r = dims.length;
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + r : i, 0), r);
  const s = dims.slice(clampIdx(ctx.int("start", 0)), clampIdx(ctx.int("end", r)));
  return F.intTensor([s.length], s);
}

const size: OpEntry = {
  fold: ([x]) => [F.intTensor([], [numel(x!.dims)])],
  emit: (ctx) => ({ kind: "const", t: F.intTensor([], [numel(dimsOf(ctx.val(0)))]) }),
};

const constantOfShape: OpEntry = {
  fold: ([s], ctx) => {
    const dims = F.values(s!);
    if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new Unsupported(`shape [${dims.join(", ")}] has a negative dim`);
    const v = ctx.attr("value");
    const fill = v && typeof v === "object" && !Array.isArray(v) ? v : F.makeTensor("float", DataType.FLOAT, [1], [0]);
    return [F.makeTensor(fill.type, fill.onnxType, dims, new Array<number>(numel(dims)).fill(fill.data[0] ?? 0))];
  },
};

const range: OpEntry = {
  fold: ([start, limit, delta]) => {
    const [s, l, d] = [start!.data[0]!, limit!.data[0]!, delta!.data[0]!];
    if (d === 0) throw new Unsupported("delta is 0");
    const n = Math.max(0, Math.ceil((l - s) / d));
    return [F.makeTensor(start!.type, start!.onnxType, [n], Array.from({ length: n }, (_, i) => s + i * d))];
  },
};

/** The comparison with its operands swapped: a < b is b > a. */
const MIRRORED: Readonly<Record<string, string>> = { less: "greater", greater: "less", less_equal: "greater_equal", greater_equal: "less_equal", equal: "equal" };

/** A comparison: `fn(a, b)`, a one-element constant as a number on the right (mirrored from the left). */
function compare(f: (a: number, b: number) => boolean, fn: string): OpEntry {
  return {
    fold: ([a, b]) => [F.broadcastMap([a!, b!], "bool", DataType.BOOL, (x, y) => (f(x, y) ? 1 : 0))],
    emit: (ctx) => {
      const swap = ctx.val(0).kind === "const" && ctx.val(1).kind === "tensor";
      const left = ctx.tensor(swap ? 1 : 0);
      const right = operandText(ctx, ctx.val(swap ? 0 : 1), swap ? 0 : 1, left.dims.length);
      return ctx.emit(`${swap ? MIRRORED[fn] : fn}(${left.name}, ${right.text})`, broadcastShapes(left.dims, right.dims), "bool");
    },
  };
}

const where: OpEntry = {
  fold: ([c, a, b]) => [F.broadcastMap([c!, a!, b!], a!.type, a!.onnxType, (k, x, y) => (k ? x : y))],
  emit: (ctx) => {
    const cond = ctx.tensor(0);
    // One branch may be a number; the other is then a tensor, which sets the result's dtype.
    const [a, b] = [ctx.val(1), ctx.val(2)];
    const tensorAt = a.kind === "tensor" || b.kind !== "tensor" ? 1 : 2;
    const t = ctx.tensor(tensorAt);
    const other = operandText(ctx, tensorAt === 1 ? b : a, tensorAt === 1 ? 2 : 1, t.dims.length);
    const [x, y] = tensorAt === 1 ? [t.name, other.text] : [other.text, t.name];
    return ctx.emit(`where(${cond.name}, ${x}, ${y})`, [cond.dims, t.dims, other.dims].reduce((p, q) => broadcastShapes(p, q)), t.dtype);
  },
};

/** Expand broadcasts both ways (a 1 in the shape keeps x's dim): the IR's expand of the broadcast shape. */
const expand: OpEntry = {
  fold: ([x, s]) => [F.expand(x!, broadcastShapes(x!.dims, F.values(s!)))],
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const dims = broadcastShapes(x.dims, F.values(ctx.const(1, "shape")));
    if (dims.some((d) => d === 0)) throw new Unsupported("it gives an empty tensor");
    if (dims.length === x.dims.length && dims.every((d, i) => d === x.dims[i])) return x;
    return ctx.emit(`expand(${x.name}, ${list(dims)})`, dims, x.dtype);
  },
};

const tile: OpEntry = {
  fold: ([x, r]) => [F.tile(x!, F.values(r!))],
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const repeats = F.values(ctx.const(1, "repeats"));
    if (repeats.length !== x.dims.length) throw new Unsupported(`repeats ${list(repeats)} must give one count per axis of [${x.dims.join(", ")}]`);
    if (repeats.some((r) => r < 1)) throw new Unsupported(`repeats ${list(repeats)} give an empty tensor`);
    if (repeats.every((r) => r === 1)) return x;
    return ctx.emit(`tile(${x.name}, ${list(repeats)})`, x.dims.map((d, i) => d * repeats[i]!), x.dtype);
  },
};

/** ONNX Pad's modes as the language's (`wrap`, opset 19, has no IR form). */
const PAD_MODES: Readonly<Record<string, string>> = { constant: "constant", reflect: "reflect", edge: "replicate" };

/** Pad: pads, mode and value as attributes before opset 11, inputs (and axes, from 18) from then on. */
const pad: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const rank = x.dims.length;
    const mode = ctx.str("mode", "constant");
    const irMode = PAD_MODES[mode];
    if (!irMode) throw new Unsupported(`mode ${mode} is not supported (constant, reflect and edge are)`);
    let pads: number[];
    let value = 0;
    if (ctx.opset < 11) {
      pads = ctx.ints("pads") ?? [];
      value = ctx.float("value", 0);
    } else {
      pads = F.values(ctx.const(1, "pads"));
      if (ctx.has(2)) value = F.values(ctx.const(2, "constant_value"))[0] ?? 0;
      if (ctx.has(3)) {
        // pads for the listed axes only: spread over every axis.
        const axes = F.values(ctx.const(3, "axes")).map((a) => F.normAxis(a, rank, "Pad"));
        if (pads.length !== 2 * axes.length) throw new Unsupported(`pads ${list(pads)} do not give a begin and an end for each of the axes ${list(axes)}`);
        const full = Array<number>(2 * rank).fill(0);
        axes.forEach((ax, k) => {
          full[ax] = pads[k]!;
          full[rank + ax] = pads[axes.length + k]!;
        });
        pads = full;
      }
    }
    if (pads.length !== 2 * rank) throw new Unsupported(`pads ${list(pads)} do not give a begin and an end for each axis of [${x.dims.join(", ")}]`);
    if (pads.every((p) => p === 0)) return x;
    const dims = inferDims("pad", [x], { pads, mode: irMode, value });
    // The language's order is PyTorch's: (begin, end) of the last axis first; unpadded leading axes left out.
    let kept = rank;
    while (kept > 0 && pads[rank - kept] === 0 && pads[2 * rank - kept] === 0) kept--;
    const torch = Array.from({ length: kept }, (_, i) => [pads[rank - 1 - i]!, pads[2 * rank - 1 - i]!]).flat();
    const valueText = irMode !== "constant" || value === 0 ? "" : `, value=${x.dtype === "f32" ? float(value) : String(value)}`;
    return ctx.emit(`pad(${x.name}, ${tuple(torch)}${irMode === "constant" ? "" : `, mode="${irMode}"`}${valueText})`, dims, x.dtype);
  },
};

function reduceFold(init: number, step: (a: number, x: number) => number, finish: (a: number, n: number) => number, axesInputSince: number): OpEntry["fold"] {
  return ([x], ctx) => {
    const axes = axesOf(ctx, axesInputSince) ?? [];
    if (axes.length === 0 && ctx.int("noop_with_empty_axes", 0) === 1) return [x!];
    return [F.reduce(x!, axes, ctx.int("keepdims", 1) === 1, init, step, finish)];
  };
}

/** ReduceMean/Sum/Max: axes an attribute until `axesInputSince`, then an input; none means every axis. */
function reduction(fn: "mean" | "sum" | "amax", axesInputSince: number, fold: OpEntry["fold"]): OpEntry {
  return {
    fold,
    emit: (ctx) => {
      const x = ctx.tensor(0);
      let axes = axesOf(ctx, axesInputSince) ?? [];
      if (axes.length === 0) {
        if (ctx.int("noop_with_empty_axes", 0) === 1) return x;
        axes = x.dims.map((_, i) => i);
      }
      const norm = axes.map((a) => F.normAxis(a, x.dims.length, ctx.node.op));
      const keep = ctx.int("keepdims", 1) === 1;
      const dims = keep ? x.dims.map((d, i) => (norm.includes(i) ? 1 : d)) : x.dims.filter((_, i) => !norm.includes(i));
      return ctx.emit(`${fn}(${x.name}, ${list(axes)}${keep ? ", keepdim=true" : ""})`, dims, x.dtype);
    },
  };
}

// ---- layers ------------------------------------------------------------------------------------

/** Explicit [top, left, bottom, right] padding from pads or auto_pad (static shapes). */
function padsOf(ctx: NodeCtx, input: number[], kernel: number[], stride: number[], dilation: number[]): number[] {
  const auto = ctx.str("auto_pad", "NOTSET");
  if (auto === "NOTSET") {
    const p = ctx.ints("pads") ?? [0, 0, 0, 0];
    if (p.length !== 4) throw new Unsupported(`pads ${list(p)} are not 2-D`);
    return p;
  }
  if (auto === "VALID") return [0, 0, 0, 0];
  const pads = [0, 1].map((i) => {
    const size = input[i + 2]!;
    const out = Math.ceil(size / stride[i]!);
    const total = Math.max(0, (out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - size);
    const small = Math.floor(total / 2);
    return auto === "SAME_UPPER" ? [small, total - small] : [total - small, small];
  });
  return [pads[0]![0]!, pads[1]![0]!, pads[0]![1]!, pads[1]![1]!];
}

/** Keyword arguments that differ from their defaults: `stride=(2, 2), pad=(1, 1, 1, 1)`. */
function kwargs(items: [string, string, boolean][]): string {
  return items.filter(([, , dflt]) => !dflt).map(([k, v]) => `, ${k}=${v}`).join("");
}

const allEqual = (xs: number[], v: number) => xs.every((x) => x === v);

function spatial(x: TensorVal): void {
  if (x.dims.length !== 4) throw new Unsupported(`only 2-D (NCHW) inputs are supported, got [${x.dims.join(", ")}]`);
}

/** A Conv or ConvTranspose weight: 4-D, and the kernel_shape attribute, when given, says its kernel. */
function convWeight(ctx: NodeCtx): Tensor {
  const w = floatConst(ctx, 1, "weight");
  if (w.dims.length !== 4) throw new Unsupported(`its weight must be 4-D, got [${w.dims.join(", ")}]`);
  const kernel = ctx.ints("kernel_shape");
  if (kernel && kernel.join() !== w.dims.slice(2).join()) throw new Unsupported(`kernel_shape [${kernel.join(", ")}] differs from the weight's kernel [${w.dims.slice(2).join(", ")}]`);
  return w;
}

const conv: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    spatial(x);
    const w = convWeight(ctx);
    const b = ctx.has(2) ? floatConst(ctx, 2, "bias") : undefined;
    const [out, , kh, kw] = w.dims as [number, number, number, number];
    const stride = ctx.ints("strides") ?? [1, 1];
    const dilation = ctx.ints("dilations") ?? [1, 1];
    const groups = ctx.int("group", 1);
    const pads = padsOf(ctx, x.dims, [kh, kw], stride, dilation);
    const wv = ctx.val(1);
    const bv = ctx.has(2) ? ctx.val(2) : undefined;
    const label = ctx.label([
      { suffix: "weight", data: f32(w), dims: w.dims, ...(wv.kind === "const" && wv.origin ? { onnx: wv.origin } : {}) },
      ...(b ? [{ suffix: "bias", data: f32(b), dims: b.dims, ...(bv?.kind === "const" && bv.origin ? { onnx: bv.origin } : {}) }] : []),
    ]);
    const dims = inferDims("conv2d", [x, { dims: w.dims }, ...(b ? [{ dims: b.dims }] : [])], { stride, pads, dilation, groups, bias: b !== undefined });
    const args = kwargs([
      ["stride", tuple(stride), allEqual(stride, 1)],
      ["pad", tuple(pads), allEqual(pads, 0)],
      ["dilation", tuple(dilation), allEqual(dilation, 1)],
      ["groups", String(groups), groups === 1],
      ["bias", "false", b !== undefined],
    ]);
    return ctx.emit(`${label}: conv2d(${x.name}, ${out}, ${tuple([kh, kw])}${args})`, dims);
  },
};

/**
 * ConvTranspose's [top, left, bottom, right] pads. SAME_UPPER and SAME_LOWER make the output
 * in·stride; output_shape (of H and W, or of every axis) gives it otherwise. Either sets the total
 * cropped from the full output, split as the spec and onnxruntime split it: the odd one at the end
 * for SAME_UPPER, at the start otherwise.
 */
function transposePads(ctx: NodeCtx, input: number[], kernel: number[], stride: number[], dilation: number[], extra: number[]): number[] {
  const auto = ctx.str("auto_pad", "NOTSET");
  const same = auto === "SAME_UPPER" || auto === "SAME_LOWER";
  const given = ctx.ints("output_shape")?.slice(-2);
  const sameShape = [0, 1].map((i) => input[i + 2]! * stride[i]!);
  if (same && given && given.some((d, i) => d !== sameShape[i])) throw new Unsupported(`output_shape ${list(given)} disagrees with auto_pad ${auto}, which makes the output ${list(sameShape)}`);
  const out = same ? sameShape : given;
  if (!out) {
    if (auto === "VALID") return [0, 0, 0, 0];
    const p = ctx.ints("pads") ?? [0, 0, 0, 0];
    if (p.length !== 4) throw new Unsupported(`pads ${list(p)} are not 2-D`);
    return p;
  }
  const pads = [0, 1].map((i) => {
    const full = (input[i + 2]! - 1) * stride[i]! + extra[i]! + (kernel[i]! - 1) * dilation[i]! + 1;
    const total = full - out[i]!;
    if (total < 0) throw new Unsupported(`an output of ${list(out)} is larger than the full ${full}-wide output of axis ${i + 2}; give the extra rows as output_padding`);
    const half = Math.floor(total / 2);
    return auto === "SAME_UPPER" ? [half, total - half] : [total - half, half];
  });
  return [pads[0]![0]!, pads[1]![0]!, pads[0]![1]!, pads[1]![1]!];
}

const convTranspose: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    spatial(x);
    const w = convWeight(ctx);
    const b = ctx.has(2) ? floatConst(ctx, 2, "bias") : undefined;
    const [, outPerGroup, kh, kw] = w.dims as [number, number, number, number];
    const groups = ctx.int("group", 1);
    const out = outPerGroup * groups;
    const stride = ctx.ints("strides") ?? [1, 1];
    const dilation = ctx.ints("dilations") ?? [1, 1];
    const extra = ctx.ints("output_padding") ?? [0, 0];
    const pads = transposePads(ctx, x.dims, [kh, kw], stride, dilation, extra);
    const wv = ctx.val(1);
    const bv = ctx.has(2) ? ctx.val(2) : undefined;
    const dims = inferDims("conv_transpose2d", [x, { dims: w.dims }, ...(b ? [{ dims: b.dims }] : [])], { stride, pads, dilation, output_padding: extra, groups, bias: b !== undefined });
    const label = ctx.label([
      { suffix: "weight", data: f32(w), dims: w.dims, ...(wv.kind === "const" && wv.origin ? { onnx: wv.origin } : {}) },
      ...(b ? [{ suffix: "bias", data: f32(b), dims: b.dims, ...(bv?.kind === "const" && bv.origin ? { onnx: bv.origin } : {}) }] : []),
    ]);
    const args = kwargs([
      ["stride", tuple(stride), allEqual(stride, 1)],
      ["pad", tuple(pads), allEqual(pads, 0)],
      ["output_padding", tuple(extra), allEqual(extra, 0)],
      ["groups", String(groups), groups === 1],
      ["dilation", tuple(dilation), allEqual(dilation, 1)],
      ["bias", "false", b !== undefined],
    ]);
    return ctx.emit(`${label}: conv_transpose2d(${x.name}, ${out}, ${tuple([kh, kw])}${args})`, dims);
  },
};

/** Resize's scales or sizes for every axis (an absent or empty input is not given); `axes` (opset 18) lists the ones given. */
function resizeTarget(ctx: NodeCtx, rank: number, dims: number[]): { scales?: number[]; sizes?: number[] } {
  const input = (i: number, what: string) => {
    const t = ctx.optConst(i, what);
    return t && t.data.length ? F.values(t) : undefined;
  };
  const upsample = ctx.node.op === "Upsample";
  const scales = upsample && ctx.opset < 9 ? ctx.ints("scales") : input(upsample || ctx.opset < 11 ? 1 : 2, "scales");
  const sizes = upsample || ctx.opset < 11 ? undefined : input(3, "sizes");
  const axes = ctx.opset >= 18 ? ctx.ints("axes")?.map((a) => F.normAxis(a, rank, ctx.node.op)) : undefined;
  const spread = (vs: number[] | undefined, fill: (i: number) => number) => {
    if (!vs || !axes) return vs;
    const full = Array.from({ length: rank }, (_, i) => fill(i));
    axes.forEach((a, k) => (full[a] = vs[k]!));
    return full;
  };
  return { scales: spread(scales, () => 1), sizes: spread(sizes, (i) => dims[i]!) };
}

/** Resize (opsets 10-19) and Upsample (7, 9) over H and W, in the IR's modes (nearest, linear) and coordinate maps. */
const resize: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    spatial(x);
    const [n, c, h, w] = x.dims as [number, number, number, number];
    const mode = ctx.str("mode", "nearest");
    if (mode === "cubic") throw new Unsupported("mode cubic is not supported (the IR's resize is nearest or linear)");
    if (mode !== "nearest" && mode !== "linear") throw new Unsupported(`mode ${mode} is not supported (nearest and linear are)`);
    const { scales, sizes } = resizeTarget(ctx, 4, x.dims);
    if (!scales && !sizes) throw new Unsupported("it has neither scales nor sizes");
    const given = (scales ?? sizes)!;
    if (given.length !== 4) throw new Unsupported(`its ${scales ? "scales" : "sizes"} ${list(given)} do not give one value per axis of [${x.dims.join(", ")}]`);
    if (scales && (scales[0] !== 1 || scales[1] !== 1)) throw new Unsupported(`scales ${list(scales)} resize N or C (only H and W are resized)`);
    if (sizes && (sizes[0] !== n || sizes[1] !== c)) throw new Unsupported(`sizes ${list(sizes)} change N or C of [${x.dims.join(", ")}] (only H and W are resized)`);
    if (scales?.some((f) => !(f > 0))) throw new Unsupported(`scales ${list(scales)} must be positive`);
    if (ctx.opset >= 18 && sizes && ctx.str("keep_aspect_ratio_policy", "stretch") !== "stretch") throw new Unsupported(`keep_aspect_ratio_policy ${ctx.str("keep_aspect_ratio_policy", "")} is not supported (stretch is)`);
    // onnxruntime's output size: the f32 product, truncated.
    const out = scales ? [Math.floor(Math.fround(scales[2]! * h)), Math.floor(Math.fround(scales[3]! * w))] : [sizes![2]!, sizes![3]!];
    if (out.some((d) => d < 1)) throw new Unsupported(`it gives an empty tensor ([${n}, ${c}, ${out.join(", ")}])`);
    if (ctx.opset >= 18 && ctx.int("antialias", 0) !== 0 && mode === "linear" && (out[0]! < h || out[1]! < w)) throw new Unsupported("antialias (a wider filter when downscaling) is not supported");
    // Before opset 11 coordinates are asymmetric, and nearest truncates upwards and rounds up downwards.
    const legacy = ctx.node.op === "Upsample" || ctx.opset < 11;
    const coordinate = legacy ? "asymmetric" : ctx.str("coordinate_transformation_mode", "half_pixel");
    if (!(RESIZE_COORDINATES as readonly string[]).includes(coordinate)) throw new Unsupported(`coordinate_transformation_mode ${coordinate} is not supported (${RESIZE_COORDINATES.join(", ")} are)`);
    let nearest = ctx.str("nearest_mode", "round_prefer_floor");
    if (legacy) {
      const down = [out[0]! < h, out[1]! < w];
      const up = [out[0]! > h, out[1]! > w];
      if (down.some(Boolean) && up.some(Boolean) && mode === "nearest") throw new Unsupported("nearest upscaling of one axis and downscaling of the other is not supported before opset 11");
      nearest = down.some(Boolean) ? "ceil" : "floor";
    }
    // A resize to the same size stays (the passes decide): it is not the identity for every map.
    const target = scales ? `scale=(${float(scales[2]!)}, ${float(scales[3]!)})` : `size=${tuple(out)}`;
    const rounding = mode === "nearest" ? `, nearest="${nearest}"` : "";
    return ctx.emit(`resize(${x.name}, ${target}, mode="${mode === "linear" ? "bilinear" : "nearest"}", coordinate="${coordinate}"${rounding})`, [n, c, ...out]);
  },
};

const batchNorm: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    if (ctx.opset < 9 && ctx.int("spatial", 1) !== 1) throw new Unsupported("spatial=0 (per-activation statistics) is not supported");
    if (ctx.opset >= 14 && ctx.int("training_mode", 0) === 1) throw new Unsupported("training_mode=1 is not supported (graphc imports inference graphs)");
    for (let k = 1; k < ctx.node.outputs.length; k++) if (ctx.node.outputs[k] && ctx.readers(k).length) throw new Unsupported("its running statistics outputs are used (a training graph)");
    const suffixes = ["weight", "bias", "running_mean", "running_var"];
    const parts = suffixes.map((suffix, i) => {
      const t = floatConst(ctx, i + 1, suffix);
      const v = ctx.val(i + 1);
      return { suffix, data: f32(t), dims: [numel(t.dims)], ...(v.kind === "const" && v.origin ? { onnx: v.origin } : {}) };
    });
    const label = ctx.label(parts);
    const eps = ctx.float("epsilon", 1e-5);
    return ctx.emit(`${label}: batchnorm(${x.name}${Math.fround(eps) === Math.fround(1e-5) ? "" : `, eps=${float(eps)}`})`, x.dims);
  },
};

function pool(kind: "maxpool" | "avgpool"): OpEntry {
  return {
    emit: (ctx) => {
      const x = ctx.tensor(0);
      spatial(x);
      if (kind === "maxpool" && ctx.node.outputs.length > 1 && ctx.node.outputs[1] && ctx.readers(1).length) throw new Unsupported("its Indices output is not supported");
      const kernel = ctx.ints("kernel_shape");
      if (kernel?.length !== 2) throw new Unsupported(`its kernel_shape must give 2 sizes, got ${kernel ? `[${kernel.join(", ")}]` : "none"}`);
      const stride = ctx.ints("strides") ?? [1, 1];
      const dilation = ctx.ints("dilations") ?? [1, 1];
      const pads = padsOf(ctx, x.dims, kernel, stride, dilation);
      const ceil = ctx.int("ceil_mode", 0) === 1;
      const cip = ctx.int("count_include_pad", 0) === 1;
      const attrs = { kernel, stride, pads, dilation, ceil_mode: ceil, ...(kind === "avgpool" ? { count_include_pad: cip } : {}) };
      const dims = inferDims(kind, [x], attrs);
      const args = kwargs([
        ["stride", tuple(stride), stride.every((s, i) => s === kernel[i])],
        ["pad", tuple(pads), allEqual(pads, 0)],
        ["dilation", tuple(dilation), allEqual(dilation, 1)],
        ["ceil_mode", "true", !ceil],
        ...(kind === "avgpool" ? ([["count_include_pad", String(cip), cip]] as [string, string, boolean][]) : []),
      ]);
      return ctx.emit(`${kind}(${x.name}, ${tuple(kernel)}${args})`, dims);
    },
  };
}

const globalAvgPool: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    spatial(x);
    return ctx.emit(`global_avgpool(${x.name})`, [x.dims[0]!, x.dims[1]!, 1, 1]);
  },
};

const globalMaxPool: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const axes = x.dims.map((_, i) => i).slice(2);
    return ctx.emit(`amax(${x.name}, ${list(axes)}, keepdim=true)`, x.dims.map((d, i) => (i < 2 ? d : 1)));
  },
};

/** The 2-D weight and 1-D bias of y = x·W + b, as linear's [out, in] weight and [out] bias. */
function linearOf(ctx: NodeCtx, x: TensorVal, w: { t: Tensor; origin?: string; transposed: boolean }, bias: { t: Tensor; origin?: string } | undefined, scale = 1): TensorVal {
  // w.t is [in, out] unless transposed ([out, in], as linear keeps it).
  const weight = w.transposed ? w.t : (w.t.transposeOf ?? F.transpose(w.t, [1, 0]));
  const [out, inF] = weight.dims as [number, number];
  if (x.dims[x.dims.length - 1] !== inF) throw new Unsupported(`the input [${x.dims.join(", ")}] and the weight [${w.t.dims.join(", ")}] do not multiply (${x.dims[x.dims.length - 1]} vs ${inF})`);
  const wData = scale === 1 ? f32(weight) : f32(weight).map((v) => v * scale);
  const parts = [{ suffix: "weight", data: wData, dims: [out, inF], ...(w.transposed && scale === 1 && w.origin ? { onnx: w.origin } : {}) }];
  if (bias) parts.push({ suffix: "bias", data: f32(F.expand(bias.t, [out])), dims: [out], ...(bias.t.dims.length === 1 && bias.origin ? { onnx: bias.origin } : {}) });
  const label = ctx.label(parts);
  return ctx.emit(`${label}: linear(${x.name}, ${out}${bias ? "" : ", bias=false"})`, [...x.dims.slice(0, -1), out]);
}

/** A bias the Add after a MatMul can give linear: a constant broadcast along the last axis only. */
function biasOf(v: Val | undefined, out: number): { t: Tensor; origin?: string } | undefined {
  if (!v || v.kind !== "const" || v.t.type !== "float") return undefined;
  const d = v.t.dims;
  const last = d[d.length - 1];
  if ((last !== out && last !== 1) || numel(d.slice(0, -1)) !== 1 || d.length > 2) return undefined;
  return { t: F.reshape(v.t, [last]), ...(v.origin ? { origin: v.origin } : {}) };
}

const matmul: OpEntry = {
  emit: (ctx) => {
    const a = ctx.val(0);
    const b = ctx.val(1);
    if (a.kind === "tensor" && b.kind === "const" && b.t.dims.length === 2 && b.t.type === "float" && a.dims.length >= 2) {
      // MatMul + Add of a constant bias: one linear (the Add is absorbed).
      const readers = ctx.readers();
      const add = readers.length === 1 && readers[0]!.op === "Add" && !ctx.isOutput() ? readers[0]! : undefined;
      const other = add ? add.inputs.find((i) => i !== ctx.node.outputs[0]) : undefined;
      const biasVal = other !== undefined && add!.inputs.length === 2 ? ctx.imp.peek(other) : undefined;
      const bias = biasOf(biasVal, b.t.dims[1]!);
      const y = linearOf(ctx, a, { t: b.t, transposed: false }, bias);
      if (bias && add) ctx.absorb(add, y);
      return y;
    }
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const lead = broadcastShapes(x.dims.slice(0, -2), w.dims.slice(0, -2));
    if (x.dims.length < 2 || w.dims.length < 2) throw new Unsupported("1-D operands are not supported");
    return ctx.emit(`matmul(${x.name}, ${w.name})`, [...lead, x.dims[x.dims.length - 2]!, w.dims[w.dims.length - 1]!]);
  },
};

const gemm: OpEntry = {
  emit: (ctx) => {
    let x = ctx.tensor(0);
    if (ctx.int("transA", 0) === 1) x = ctx.step(`transpose(${x.name}, [1, 0])`, [x.dims[1]!, x.dims[0]!]);
    const bv = ctx.val(1);
    if (bv.kind !== "const") throw new Unsupported("a run-time B is not supported (only weights)");
    const alpha = ctx.float("alpha", 1);
    const beta = ctx.float("beta", 1);
    const transB = ctx.int("transB", 0) === 1;
    const out = bv.t.dims[transB ? 0 : 1]!;
    const c = ctx.has(2) ? ctx.val(2) : undefined;
    const bias = biasOf(c, out);
    if (c && !bias) throw new Unsupported("a C other than a constant bias of [N] or [1, N] is not supported");
    const scaledBias = bias && beta !== 1 ? { t: { ...bias.t, data: f32(bias.t).map((v) => v * beta) } } : bias;
    return linearOf(ctx, x, { t: bv.t, transposed: transB, ...(bv.origin ? { origin: bv.origin } : {}) }, scaledBias, alpha);
  },
};

const layerNorm: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const axis = F.normAxis(ctx.int("axis", -1), x.dims.length, "LayerNormalization");
    if (axis !== x.dims.length - 1) throw new Unsupported(`normalising from axis ${axis} (not only the last) is not supported`);
    for (let k = 1; k < ctx.node.outputs.length; k++) if (ctx.node.outputs[k] && ctx.readers(k).length) throw new Unsupported("its mean or inverse-deviation outputs are used");
    const d = x.dims[axis]!;
    const scale = floatConst(ctx, 1, "scale");
    const bias = ctx.has(2) ? floatConst(ctx, 2, "bias") : F.makeTensor("float", DataType.FLOAT, [d], new Array<number>(d).fill(0));
    const sv = ctx.val(1);
    const bv = ctx.has(2) ? ctx.val(2) : undefined;
    const label = ctx.label([
      { suffix: "weight", data: f32(F.expand(scale, [d])), dims: [d], ...(sv.kind === "const" && sv.origin ? { onnx: sv.origin } : {}) },
      { suffix: "bias", data: f32(F.expand(bias, [d])), dims: [d], ...(bv?.kind === "const" && bv.origin ? { onnx: bv.origin } : {}) },
    ]);
    const eps = ctx.float("epsilon", 1e-5);
    return ctx.emit(`${label}: layernorm(${x.name}${Math.fround(eps) === Math.fround(1e-5) ? "" : `, eps=${float(eps)}`})`, x.dims);
  },
};

const prelu: OpEntry = {
  emit: (ctx) => {
    const x = ctx.tensor(0);
    const slope = floatConst(ctx, 1, "slope");
    const n = numel(slope.dims);
    // One slope, or one per channel: [C, 1, ..., 1] (broadcast from the right onto axis 1) or,
    // before opset 7, a bare [C] that meant the channel axis.
    const trailing = slope.dims.length - 1;
    const perChannel = n === x.dims[1] && (slope.dims.length === x.dims.length - 1 || (ctx.opset < 7 && slope.dims.length === 1) || x.dims.length === 2) && slope.dims.slice(1).every((d) => d === 1);
    if (n !== 1 && !perChannel) throw new Unsupported(`slopes of shape [${slope.dims.join(", ")}] on [${x.dims.join(", ")}] are not one per channel (${trailing} trailing dims)`);
    const sv = ctx.val(1);
    const label = ctx.label([{ suffix: "weight", data: f32(slope), dims: [n], ...(sv.kind === "const" && sv.origin ? { onnx: sv.origin } : {}) }]);
    return ctx.emit(`${label}: prelu(${x.name}${n === 1 ? "" : `, num_parameters=${n}`})`, x.dims);
  },
};

// ---- the table ---------------------------------------------------------------------------------

const add = binary("add");
const mul = binary("mul");

export const OPS: Readonly<Record<string, OpEntry>> = {
  Abs: unary(call("abs"), Math.abs),
  Add: add,
  AveragePool: pool("avgpool"),
  BatchNormalization: batchNorm,
  Cast: cast,
  Ceil: { fold: unaryFold(Math.ceil) },
  Clip: clip,
  Concat: concat,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Conv: conv,
  ConvTranspose: convTranspose,
  Div: binary("div"),
  Dropout: identity,
  Elu: unary((x, ctx) => `elu(${x}, alpha=${float(ctx.float("alpha", 1))})`, (v, ctx) => (v > 0 ? v : ctx.float("alpha", 1) * Math.expm1(v))),
  Equal: compare((a, b) => a === b, "equal"),
  Erf: unary(call("erf"), erf),
  Exp: unary(call("exp"), Math.exp),
  Expand: expand,
  Flatten: flatten,
  Floor: { fold: unaryFold(Math.floor) },
  Gather: gather,
  Gelu: unary((x, ctx) => `gelu(${x}${ctx.str("approximate", "none") === "tanh" ? ', approximate="tanh"' : ""})`, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))),
  Gemm: gemm,
  GlobalAveragePool: globalAvgPool,
  GlobalMaxPool: globalMaxPool,
  Greater: compare((a, b) => a > b, "greater"),
  GreaterOrEqual: compare((a, b) => a >= b, "greater_equal"),
  HardSigmoid: hardSigmoid,
  HardSwish: unary(call("hard_swish"), (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6),
  Identity: identity,
  LayerNormalization: layerNorm,
  LeakyRelu: unary((x, ctx) => `leaky_relu(${x}, slope=${float(ctx.float("alpha", 0.01))})`, (v, ctx) => (v >= 0 ? v : ctx.float("alpha", 0.01) * v)),
  Less: compare((a, b) => a < b, "less"),
  LessOrEqual: compare((a, b) => a <= b, "less_equal"),
  Log: unary(call("log"), Math.log),
  MatMul: matmul,
  Max: binary("maximum"),
  MaxPool: pool("maxpool"),
  Min: binary("minimum"),
  Mul: mul,
  Neg: unary(call("neg"), (v) => -v),
  Not: { fold: unaryFold((v) => (v ? 0 : 1)), emit: (ctx) => ctx.emit(`logical_not(${ctx.tensor(0).name})`, ctx.tensor(0).dims, "bool") },
  Pad: pad,
  Pow: binary("pow"),
  PRelu: prelu,
  Range: range,
  Reciprocal: unary((x) => `1.0 / ${x}`, (v) => 1 / v),
  ReduceMax: reduction("amax", 18, reduceFold(-Infinity, Math.max, (a) => a, 18)),
  ReduceMean: reduction("mean", 18, reduceFold(0, (a, x) => a + x, (a, n) => a / n, 18)),
  ReduceSum: reduction("sum", 13, reduceFold(0, (a, x) => a + x, (a) => a, 13)),
  Relu: unary(call("relu"), (v) => Math.max(v, 0)),
  Reshape: shapeOnly(reshapeDims),
  Resize: resize,
  Selu: {
    emit: (ctx) => {
      const x = ctx.tensor(0);
      const [alpha, gamma] = [ctx.float("alpha", 1.6732632423543772), ctx.float("gamma", 1.0507009873554805)];
      if (Math.abs(alpha - 1.6732632423543772) > 1e-6 || Math.abs(gamma - 1.0507009873554805) > 1e-6) throw new Unsupported(`alpha ${alpha} and gamma ${gamma} differ from SELU's constants`);
      return ctx.emit(`selu(${x.name})`, x.dims);
    },
  },
  Shape: shape,
  Sigmoid: unary(call("sigmoid"), (v) => 1 / (1 + Math.exp(-v))),
  Size: size,
  Slice: slice,
  Softmax: softmax,
  Split: split,
  Sqrt: unary(call("sqrt"), Math.sqrt),
  Squeeze: squeeze,
  Sub: binary("sub"),
  Sum: add,
  Tanh: unary(call("tanh"), Math.tanh),
  Tile: tile,
  Transpose: transpose,
  Unsqueeze: unsqueeze,
  // Opset 7-9's Upsample is Resize-10: scales, asymmetric coordinates.
  Upsample: resize,
  Where: where,
};

/**
 * The inputs an ONNX operator requires (the spec's non-optional ones) where they are not one:
 * a node with fewer is an error before any entry reads them. By opset where that changed.
 */
const REQUIRED_INPUTS: Readonly<Record<string, number | ((opset: number) => number)>> = {
  Add: 2, Sub: 2, Mul: 2, Div: 2, Pow: 2, Equal: 2, Greater: 2, GreaterOrEqual: 2, Less: 2, LessOrEqual: 2, MatMul: 2, Gemm: 2, PRelu: 2,
  Conv: 2, ConvTranspose: 2, LayerNormalization: 2, Expand: 2, Gather: 2, Tile: 2, BatchNormalization: 5, Range: 3, Where: 3, Constant: 0,
  Reshape: (opset) => (opset < 5 ? 1 : 2),
  Slice: (opset) => (opset < 10 ? 1 : 3),
  Pad: (opset) => (opset < 11 ? 1 : 2),
  Unsqueeze: (opset) => (opset < 13 ? 1 : 2),
  Upsample: (opset) => (opset < 9 ? 1 : 2),
  Resize: (opset) => (opset < 11 ? 2 : 1),
};

/** How many inputs a node of `op` must give at `opset`. */
export function requiredInputs(op: string, opset: number): number {
  const n = Object.hasOwn(REQUIRED_INPUTS, op) ? REQUIRED_INPUTS[op]! : 1;
  return typeof n === "number" ? n : n(opset);
}

/** The op types with a run-time (emit) form: what the README lists as supported. */
export const importableOps = (): string[] => Object.keys(OPS).filter((op) => OPS[op]!.emit !== undefined).sort();

/** The op types folded when their inputs are constants, but not yet importable at run time. */
export const foldOnlyOps = (): string[] => Object.keys(OPS).filter((op) => OPS[op]!.emit === undefined && OPS[op]!.fold !== undefined).sort();

export type { Outputs };
