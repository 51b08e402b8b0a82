// The built-in functions of the language: compile-time helpers and tensor operators. Each is
// declared with a parameter list so arguments are checked like a user block's.
import type { Span, TypeName } from "../../grammar/index.js";
import { numel, type Attrs, type DType, type InitKind } from "../ir/graph.js";
import { compareOps, getOp, ShapeError, unaryOps, unaryScalar, type AttrSpec, type UnaryOp } from "../ir/ops.js";
import { RESIZE_COORDINATES, RESIZE_NEAREST } from "../ir/resize.js";
import { tensorSizeProblem } from "../ir/rewrite.js";
import { PAD_MODES, padAxes, sliceRange, type PadMode } from "../ir/shape.js";
import { error } from "./diagnostics.js";
import type { Elaborator } from "./elaborate.js";
import { bindArgs, Env, type ParamSpec } from "./scope.js";
import { bool, describe, float, int, list, NONE, show, str, tuple, type CallSite, type TensorValue, type Value } from "./values.js";

/** Gets one value per parameter; `site.argSpans[i]` is where parameter i's value was given. */
type Impl = (a: Value[], site: CallSite, el: Elaborator) => Value;

/** "x:tensor out:int stride=1 bias:bool=true" -> parameter specs (defaults are literals). */
function parseParams(spec: string): ParamSpec[] {
  return spec.split(/\s+/).filter(Boolean).map((p) => {
    const [head, dflt] = p.split("=") as [string, string | undefined];
    const [name, type] = head.split(":") as [string, TypeName | undefined];
    const out: ParamSpec = { name, ...(type ? { type: { kind: "name", name: type } } : {}) };
    if (dflt !== undefined) {
      const v = literal(dflt);
      out.default = () => v;
    }
    return out;
  });
}

function literal(text: string): Value {
  if (text === "none") return NONE;
  if (text === "true" || text === "false") return bool(text === "true");
  if (text.startsWith('"')) return str(text.slice(1, -1));
  return /^-?\d+$/.test(text) ? int(Number(text)) : float(Number(text));
}

const table = new Map<string, { params: ParamSpec[]; impl: Impl }>();
function builtin(name: string, params: string, impl: Impl): void {
  table.set(name, { params: parseParams(params), impl });
}

// ---- argument helpers ------------------------------------------------------------------------

const spanOf = (site: CallSite, i: number): Span => site.argSpans[i] ?? site.span;

function ints(v: Value, what: string, span: Span): number[] {
  if (v.k === "int") return [v.v];
  if ((v.k === "list" || v.k === "tuple") && v.items.every((i) => i.k === "int")) return v.items.map((i) => (i as { v: number }).v);
  // A list shows its items, so the one that is not an int is seen.
  throw error(`${what} must be an int or a list of ints, found ${v.k === "list" || v.k === "tuple" ? show(v) : describe(v)}`, span);
}

/** An int or an (h, w) pair, each positive. */
function pair(v: Value, what: string, span: Span): number[] {
  const xs = ints(v, what, span);
  const p = xs.length === 1 ? [xs[0]!, xs[0]!] : xs;
  if (p.length !== 2 || p.some((x) => x < 1)) throw error(`${what} must be a positive int or a pair (h, w) of them, found ${show(v)}`, span);
  return p;
}

/** Padding as [top, left, bottom, right]. */
function pads(op: string, v: Value, kernel: number[], dilation: number[], stride: number[], span: Span): number[] {
  if (v.k === "string") {
    if (v.v === "valid") return [0, 0, 0, 0];
    if (v.v !== "same") throw error(`${op}: pad must be an int, a tuple, "same" or "valid", found ${show(v)}`, span);
    if (stride.some((s) => s !== 1)) throw error(`${op}: pad="same" needs stride 1 (stride is ${stride.join("x")})`, span);
    const total = kernel.map((k, i) => dilation[i]! * (k - 1));
    const before = total.map((t) => Math.floor(t / 2));
    return [before[0]!, before[1]!, total[0]! - before[0]!, total[1]! - before[1]!];
  }
  const p = ints(v, `${op}: pad`, span);
  if (p.some((x) => x < 0)) throw error(`${op}: padding cannot be negative, found ${show(v)}`, span);
  if (p.length === 1) return [p[0]!, p[0]!, p[0]!, p[0]!];
  if (p.length === 2) return [p[0]!, p[1]!, p[0]!, p[1]!];
  if (p.length === 4) return p;
  throw error(`${op}: pad must be an int, (h, w) or (top, left, bottom, right), found ${show(v)}`, span);
}

function tensorOf(v: Value, what: string, span: Span): TensorValue {
  if (v.k !== "tensor") throw error(`${what} must be a tensor, found ${describe(v)}`, span);
  return v;
}

const num = (v: Value) => (v as { v: number }).v;

function safeInt(n: number, op: string, site: CallSite): Value {
  if (!Number.isSafeInteger(n)) throw error(`${op}: ${n} is not an int (the largest is ${Number.MAX_SAFE_INTEGER})`, spanOf(site, 0));
  return int(n);
}

function kaiming(fanIn: number): InitKind {
  return { kind: "kaiming", fanIn };
}
function biasInit(fanIn: number): InitKind {
  return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
}

// ---- compile-time helpers ----------------------------------------------------------------------

builtin("range", "a:int b=none step:int=1", ([a, b, step], site, el) => {
  const [lo, hi] = b!.k === "none" ? [0, num(a!)] : [num(a!), b!.k === "int" ? b!.v : NaN];
  if (Number.isNaN(hi)) throw error(`range: the end must be an int, found ${describe(b!)}`, spanOf(site, 1));
  const s = num(step!);
  if (s === 0) throw error("range: step cannot be 0", site.span);
  const n = Math.max(0, Math.ceil((hi - lo) / s));
  if (n > 1_000_000) throw error(`range of ${n} elements is too long`, site.span);
  el.step(site.span, n);
  return list(Array.from({ length: n }, (_, i) => int(lo + i * s)));
});
builtin("len", "x", ([x], site) => {
  if (x!.k === "list" || x!.k === "tuple") return int(x!.items.length);
  if (x!.k === "string") return int(x!.v.length);
  throw error(`len: expected a list, tuple or string, found ${describe(x!)}`, spanOf(site, 0));
});
builtin("enumerate", "xs:list", ([xs], site, el) => {
  const items = (xs as { items: Value[] }).items;
  el.step(site.span, items.length);
  return list(items.map((v, i) => tuple([int(i), v])));
});
builtin("zip", "a:list b:list", ([a, b], site, el) => {
  const [x, y] = [(a as { items: Value[] }).items, (b as { items: Value[] }).items];
  el.step(site.span, x.length);
  return list(x.slice(0, Math.min(x.length, y.length)).map((v, i) => tuple([v, y[i]!])));
});
builtin("int", "x", ([x], site) => {
  if (x!.k === "int" || x!.k === "float") return safeInt(Math.trunc(x!.v), "int", site);
  if (x!.k === "bool") return int(x!.v ? 1 : 0);
  throw error(`int: expected a number, found ${describe(x!)}`, spanOf(site, 0));
});
builtin("float", "x:float", ([x]) => x!);
builtin("round", "x:float", ([x], site) => safeInt(Math.round(num(x!)), "round", site));
builtin("str", "x", ([x]) => str(x!.k === "string" ? x!.v : show(x!)));
builtin("shape", "x:tensor", ([x]) => list((x as TensorValue).type.shape.map(int)));
builtin("rank", "x:tensor", ([x]) => int((x as TensorValue).type.shape.length));
builtin("channels", "x:tensor", ([x], site) => {
  const s = (x as TensorValue).type.shape;
  if (s.length < 2) throw error(`channels: tensor ${show(x!)} has no channel axis`, spanOf(site, 0));
  return int(s[1]!);
});
builtin("dim", "x:tensor axis:int", ([x, axis], site) => {
  const s = (x as TensorValue).type.shape;
  const a = num(axis!) < 0 ? num(axis!) + s.length : num(axis!);
  if (a < 0 || a >= s.length) throw error(`dim: axis ${num(axis!)} is out of range for ${show(x!)}`, spanOf(site, 1));
  return int(s[a]!);
});

/** min and max take any number of numbers, or one list of them. */
const variadic = new Map<string, (args: Value[], site: CallSite) => Value>();
for (const [name, better] of [["min", (a: number, b: number) => a < b], ["max", (a: number, b: number) => a > b]] as const) {
  variadic.set(name, (args, site) => {
    const items = args.length === 1 && (args[0]!.k === "list" || args[0]!.k === "tuple") ? (args[0] as { items: Value[] }).items : args;
    if (items.length === 0) throw error(`${name}: needs at least one value`, site.span);
    for (const v of items) if (v.k !== "int" && v.k !== "float") throw error(`${name}: expected numbers, found ${describe(v)}`, site.span);
    return items.reduce((best, v) => (better(num(v), num(best)) ? v : best));
  });
}

// ---- tensor operators ---------------------------------------------------------------------------

builtin("conv2d", "x:tensor out:int kernel stride=1 pad=0 dilation=1 groups:int=1 bias:bool=true", ([x, out, kernel, stride, pad, dilation, groups, bias], site, el) => {
  const t = x as TensorValue;
  const k = pair(kernel!, "conv2d: kernel", spanOf(site, 2));
  const s = pair(stride!, "conv2d: stride", spanOf(site, 3));
  const d = pair(dilation!, "conv2d: dilation", spanOf(site, 5));
  const g = num(groups!);
  const o = num(out!);
  if (t.type.shape.length !== 4) throw error(`conv2d: input must be 4-D [N, C, H, W], found ${show(t)}`, spanOf(site, 0));
  const c = t.type.shape[1]!;
  if (o < 1) throw error(`conv2d: output channels must be positive, found ${o}`, spanOf(site, 1));
  if (g < 1 || c % g !== 0) throw error(`conv2d: input has ${c} channels but groups=${g} does not divide it`, spanOf(site, 6));
  if (o % g !== 0) throw error(`conv2d: ${o} output channels but groups=${g} does not divide them`, spanOf(site, 6));
  const fanIn = (c / g) * k[0]! * k[1]!;
  const w = el.weight("conv2d", "weight", [o, c / g, k[0]!, k[1]!], { trainable: true, init: kaiming(fanIn) }, site.span);
  const inputs = [t, w];
  if ((bias as { v: boolean }).v) inputs.push(el.weight("conv2d", "bias", [o], { trainable: true, init: biasInit(fanIn) }, site.span));
  return el.emit1("conv2d", inputs, { stride: s, pads: pads("conv2d", pad!, k, d, s, spanOf(site, 4)), dilation: d, groups: g, bias: (bias as { v: boolean }).v }, site.span);
});

// PyTorch's ConvTranspose2d: weight [in, out/groups, kh, kw], initialised with fan-in (out/groups) kh kw
// as PyTorch computes it (from the weight's second axis).
builtin("conv_transpose2d", "x:tensor out:int kernel stride=1 pad=0 output_padding=0 groups:int=1 dilation=1 bias:bool=true", ([x, out, kernel, stride, pad, outputPadding, groups, dilation, bias], site, el) => {
  const t = x as TensorValue;
  const k = pair(kernel!, "conv_transpose2d: kernel", spanOf(site, 2));
  const s = pair(stride!, "conv_transpose2d: stride", spanOf(site, 3));
  const d = pair(dilation!, "conv_transpose2d: dilation", spanOf(site, 7));
  const g = num(groups!);
  const o = num(out!);
  if (t.type.shape.length !== 4) throw error(`conv_transpose2d: input must be 4-D [N, C, H, W], found ${show(t)}`, spanOf(site, 0));
  const c = t.type.shape[1]!;
  if (o < 1) throw error(`conv_transpose2d: output channels must be positive, found ${o}`, spanOf(site, 1));
  if (g < 1 || c % g !== 0) throw error(`conv_transpose2d: input has ${c} channels but groups=${g} does not divide it`, spanOf(site, 6));
  if (o % g !== 0) throw error(`conv_transpose2d: ${o} output channels but groups=${g} does not divide them`, spanOf(site, 6));
  const op = ints(outputPadding!, "conv_transpose2d: output_padding", spanOf(site, 5));
  const extra = op.length === 1 ? [op[0]!, op[0]!] : op;
  if (extra.length !== 2 || extra.some((e, i) => e < 0 || (e >= s[i]! && e >= d[i]!)))
    throw error(`conv_transpose2d: output_padding must be an int or an (h, w) pair, each at least 0 and smaller than the stride (${s.join(", ")}) or the dilation (${d.join(", ")}), found ${show(outputPadding!)}`, spanOf(site, 5));
  const fanIn = (o / g) * k[0]! * k[1]!;
  const w = el.weight("conv_transpose2d", "weight", [c, o / g, k[0]!, k[1]!], { trainable: true, init: kaiming(fanIn) }, site.span);
  const inputs = [t, w];
  if ((bias as { v: boolean }).v) inputs.push(el.weight("conv_transpose2d", "bias", [o], { trainable: true, init: biasInit(fanIn) }, site.span));
  const attrs = { stride: s, pads: pads("conv_transpose2d", pad!, k, d, s, spanOf(site, 4)), dilation: d, output_padding: extra, groups: g, bias: (bias as { v: boolean }).v };
  return el.emit1("conv_transpose2d", inputs, attrs, site.span);
});

builtin("batchnorm", "x:tensor eps:float=1e-5", ([x, eps], site, el) => {
  const t = x as TensorValue;
  if (t.type.shape.length < 2) throw error(`batchnorm: input ${show(t)} has no channel axis`, spanOf(site, 0));
  const c = [t.type.shape[1]!];
  const param = (n: string, init: InitKind, trainable = true) => el.weight("batchnorm", n, c, { trainable, init }, site.span);
  const inputs = [t, param("weight", { kind: "ones" }), param("bias", { kind: "zeros" }), param("running_mean", { kind: "zeros" }, false), param("running_var", { kind: "ones" }, false)];
  el.weight("batchnorm", "num_batches_tracked", [], { trainable: false, init: { kind: "zeros" }, dtype: "i64" }, site.span);
  return el.emit1("batchnorm", inputs, { eps: num(eps!) }, site.span);
});

// A learned per-channel affine along axis 1 (Paddle's affine_channel, a frozen BatchNorm without
// statistics): x * weight + bias, weight and bias of shape [C] viewed as [C, 1, ...] to broadcast.
builtin("scale_shift", "x:tensor", ([x], site, el) => {
  const t = x as TensorValue;
  if (t.type.shape.length < 2) throw error(`scale_shift: input ${show(t)} has no channel axis`, spanOf(site, 0));
  const c = t.type.shape[1]!;
  const along = [c, ...Array<number>(t.type.shape.length - 2).fill(1)];
  const param = (n: string, init: InitKind) => el.emit1("reshape", [el.weight("scale_shift", n, [c], { trainable: true, init }, site.span)], { shape: along }, site.span, "scale_shift");
  const scaled = el.emit1("mul", [t, param("weight", { kind: "ones" })], {}, site.span, "scale_shift");
  return el.emit1("add", [scaled, param("bias", { kind: "zeros" })], {}, site.span, "scale_shift");
});

builtin("layernorm", "x:tensor eps:float=1e-5", ([x, eps], site, el) => {
  const t = x as TensorValue;
  const d = [t.type.shape[t.type.shape.length - 1] ?? 1];
  const g = el.weight("layernorm", "weight", d, { trainable: true, init: { kind: "ones" } }, site.span);
  const b = el.weight("layernorm", "bias", d, { trainable: true, init: { kind: "zeros" } }, site.span);
  return el.emit1("layernorm", [t, g, b], { eps: num(eps!) }, site.span);
});

builtin("linear", "x:tensor out:int bias:bool=true weight=none", ([x, out, bias, weight], site, el) => {
  const t = x as TensorValue;
  const inF = t.type.shape[t.type.shape.length - 1];
  if (inF === undefined) throw error("linear: input must have at least one dimension", spanOf(site, 0));
  const o = num(out!);
  const w = weight!.k === "none"
    ? el.weight("linear", "weight", [o, inF], { trainable: true, init: kaiming(inF) }, site.span)
    : tensorOf(weight!, "linear: `weight`", spanOf(site, 3));
  if (w.type.shape.join() !== [o, inF].join())
    throw error(`linear: weight has shape [${w.type.shape.join(", ")}] but ${o} outputs from ${inF} inputs need [${o}, ${inF}]`, spanOf(site, 3));
  const hasBias = (bias as { v: boolean }).v;
  const inputs = [t, w];
  if (hasBias) inputs.push(el.weight("linear", "bias", [o], { trainable: true, init: biasInit(inF) }, site.span));
  return el.emit1("linear", inputs, { bias: hasBias }, site.span);
});

builtin("matmul", "a:tensor b:tensor", ([a, b], site, el) => el.emit1("matmul", [a as TensorValue, b as TensorValue], {}, site.span));

for (const op of ["add", "sub", "mul", "div", "pow", "maximum", "minimum", ...compareOps]) {
  builtin(op, "a b", ([a, b], site, el) => {
    const t = [a!, b!].find((v) => v.k === "tensor") as TensorValue | undefined;
    if (!t) throw error(`${op}: at least one operand must be a tensor, found ${describe(a!)} and ${describe(b!)}`, site.span);
    const dtype = t.type.dtype;
    return el.emit1(op, [el.asTensor(a!, dtype, spanOf(site, 0)), el.asTensor(b!, dtype, spanOf(site, 1))], {}, site.span);
  });
}

/** Unary ops that are also plain math on numbers (with the registry's semantics). */
const numeric = new Set<UnaryOp>(["exp", "log", "sqrt", "abs", "neg", "tanh"]);

/** A unary op's attribute as a built-in's parameter: "slope:float=0.01". */
function attrParam(name: string, spec: AttrSpec): string {
  const d = spec.default;
  // A float default keeps its point ("1.0"): the literal's type is the parameter's.
  const text = typeof d === "string" ? JSON.stringify(d) : typeof d === "number" && spec.kind === "float" && Number.isInteger(d) ? d.toFixed(1) : String(d);
  const dflt = d === undefined ? "" : `=${text}`;
  return `${name}:${spec.kind}${dflt}`;
}

// Every unary op is a built-in of the same name, its attributes (and defaults) from the registry.
for (const op of unaryOps) {
  const schema = Object.entries(getOp(op).attrs);
  builtin(op, ["x", ...schema.map(([name, spec]) => attrParam(name, spec))].join(" "), ([x, ...rest], site, el) => {
    if (numeric.has(op) && (x!.k === "int" || x!.k === "float")) {
      const r = unaryScalar(op, x!.v, {});
      if (!Number.isFinite(r)) throw error(`${op}(${show(x!)}) is not a finite number`, site.span);
      return float(r);
    }
    const t = tensorOf(x!, `${op}: the input`, spanOf(site, 0));
    const attrs: Attrs = {};
    schema.forEach(([name, spec], i) => {
      const v = rest[i]!.k === "string" ? (rest[i] as { v: string }).v : num(rest[i]!);
      if (spec.values && !spec.values.includes(v as string)) throw error(`${op}: ${name} must be ${spec.values.map((s) => JSON.stringify(s)).join(" or ")}, found ${JSON.stringify(v)}`, site.span);
      attrs[name] = v;
    });
    return el.emit1(op, [t], attrs, site.span);
  });
}

builtin("prelu", "x:tensor num_parameters:int=1", ([x, n], site, el) => {
  const w = el.weight("prelu", "weight", [num(n!)], { trainable: true, init: { kind: "const", value: 0.25 } }, site.span);
  return el.emit1("prelu", [x as TensorValue, w], {}, site.span);
});

builtin("softmax", "x:tensor axis:int=-1", ([x, axis], site, el) => el.emit1("softmax", [x as TensorValue], { axis: num(axis!) }, site.span));

function pool(op: "maxpool" | "avgpool", extra: string): void {
  builtin(op, `x:tensor kernel stride=none pad=0 dilation=1 ceil_mode:bool=false ${extra}`, ([x, kernel, stride, pad, dilation, ceil, cip], site, el) => {
    const k = pair(kernel!, `${op}: kernel`, spanOf(site, 1));
    const s = stride!.k === "none" ? k : pair(stride!, `${op}: stride`, spanOf(site, 2));
    const d = pair(dilation!, `${op}: dilation`, spanOf(site, 4));
    if (op === "avgpool" && d.some((v) => v !== 1)) throw error("avgpool: dilation is not supported", spanOf(site, 4));
    const attrs: Attrs = { kernel: k, stride: s, pads: pads(op, pad!, k, d, s, spanOf(site, 3)), dilation: d, ceil_mode: (ceil as { v: boolean }).v };
    if (op === "avgpool") attrs.count_include_pad = (cip as { v: boolean }).v;
    return el.emit1(op, [x as TensorValue], attrs, site.span);
  });
}
pool("maxpool", "");
pool("avgpool", "count_include_pad:bool=true");

builtin("global_avgpool", "x:tensor", ([x], site, el) => el.emit1("global_avgpool", [x as TensorValue], {}, site.span));

/** A scale factor or an (fh, fw) pair of them, each positive. */
function factors(v: Value, span: Span): [number, number] {
  const one = (u: Value) => (u.k === "int" || u.k === "float") && u.v > 0 && Number.isFinite(u.v);
  if (one(v)) return [num(v), num(v)];
  if ((v.k === "list" || v.k === "tuple") && v.items.length === 2 && v.items.every(one)) return [num(v.items[0]!), num(v.items[1]!)];
  throw error(`resize: scale must be a positive number or a pair (fh, fw) of them, found ${show(v)}`, span);
}

// F.interpolate: nearest is floor(x * in / out) (ONNX asymmetric + floor); bilinear with
// align_corners=false is ONNX half_pixel, which is what PyTorch computes for every size
// (pytorch_half_pixel differs where an output axis has length 1: there PyTorch's kernel reads
// in / 2 - 0.5, half_pixel's value, not 0). `coordinate=` names an ONNX transform instead,
// `nearest=` an ONNX rounding (default round_prefer_floor, ONNX's, once `coordinate` is given).
builtin("resize", "x:tensor size=none scale=none mode:string=\"nearest\" align_corners:bool=false coordinate=none nearest=none", ([x, size, scale, mode, ac, coord, nearest], site, el) => {
  const t = x as TensorValue;
  const m = (mode as { v: string }).v;
  const alignCorners = (ac as { v: boolean }).v;
  if (m !== "nearest" && m !== "bilinear") throw error(`resize: mode must be "nearest" or "bilinear", found ${JSON.stringify(m)}`, spanOf(site, 3));
  if (t.type.shape.length !== 4) throw error(`resize: input must be 4-D [N, C, H, W], got ${show(t)}`, spanOf(site, 0));
  if ((size!.k === "none") === (scale!.k === "none")) throw error("resize: give exactly one of size=(h, w) and scale=f or (fh, fw)", site.span);
  const choice = (v: Value, what: string, values: readonly string[], at: number): string | undefined => {
    if (v.k === "none") return undefined;
    if (v.k !== "string" || !values.includes(v.v)) throw error(`resize: ${what} must be ${values.map((s) => JSON.stringify(s)).join(", ")}, found ${show(v)}`, spanOf(site, at));
    return v.v;
  };
  const coordinate = choice(coord!, "coordinate", RESIZE_COORDINATES, 5);
  const rounding = choice(nearest!, "nearest", RESIZE_NEAREST, 6);
  if (alignCorners && m === "nearest") throw error("resize: align_corners applies to bilinear only (as in F.interpolate)", spanOf(site, 4));
  if (alignCorners && coordinate !== undefined) throw error("resize: give align_corners=true or coordinate=, not both", spanOf(site, 5));
  if (rounding !== undefined && m !== "nearest") throw error("resize: nearest= applies to mode=\"nearest\" only", spanOf(site, 6));
  const [n, c, h, w] = t.type.shape as [number, number, number, number];
  const attrs: Attrs = { mode: m === "bilinear" ? "linear" : "nearest" };
  if (scale!.k !== "none") {
    const [fh, fw] = factors(scale!, spanOf(site, 2));
    const [oh, ow] = [Math.floor(h * fh), Math.floor(w * fw)];
    if (oh < 1 || ow < 1) throw error(`resize: scale ${show(scale!)} makes the ${h}x${w} input ${oh}x${ow}`, spanOf(site, 2));
    attrs.sizes = [n, c, oh, ow];
    attrs.scales = [1, 1, fh, fw];
  } else attrs.sizes = [n, c, ...pair(size!, "resize: size", spanOf(site, 1))];
  attrs.coordinate = coordinate ?? (m === "nearest" ? "asymmetric" : alignCorners ? "align_corners" : "half_pixel");
  if (m === "nearest") attrs.nearest = rounding ?? (coordinate === undefined ? "floor" : "round_prefer_floor");
  return el.emit1("resize", [t], attrs, site.span);
});

// amax (numpy's name): `max` is the compile-time variadic max.
for (const [name, op] of [["mean", "reduce_mean"], ["sum", "reduce_sum"], ["amax", "reduce_max"]] as const) {
  builtin(name, "x:tensor axes keepdim:bool=false", ([x, axes, keepdim], site, el) => {
    const list = ints(axes!, `${name}: axes`, spanOf(site, 1));
    // An empty list reduces nothing to numpy and everything to ONNX: neither is assumed.
    if (list.length === 0) {
      const rank = (x as TensorValue).type.shape.length;
      const every = rank === 0 ? "a scalar has none" : `to reduce every axis, list them all: [${[...Array(rank).keys()].join(", ")}]`;
      throw error(`${name}: axes is empty; ${every}`, spanOf(site, 1));
    }
    return el.emit1(op, [x as TensorValue], { axes: list, keepdim: (keepdim as { v: boolean }).v }, site.span, name);
  });
}

function reshape(el: Elaborator, x: TensorValue, shape: number[], site: CallSite, name = "reshape"): TensorValue {
  const known = shape.filter((d) => d !== -1);
  const holes = shape.length - known.length;
  if (holes > 1 || known.some((d) => d < 1)) throw error(`${name}: shape [${shape}] may hold one -1 and otherwise positive dims`, site.span);
  const total = numel(x.type.shape);
  const rest = numel(known);
  if (holes === 1) {
    if (total % rest !== 0) throw error(`${name}: cannot reshape ${show(x)} (${total} elements) to [${shape}]`, site.span);
    shape = shape.map((d) => (d === -1 ? total / rest : d));
  }
  return el.emit1("reshape", [x], { shape }, site.span, name);
}

builtin("reshape", "x:tensor shape", ([x, shape], site, el) => reshape(el, x as TensorValue, ints(shape!, "reshape: shape", spanOf(site, 1)), site));
builtin("flatten", "x:tensor start:int=1", ([x, start], site, el) => {
  const s = (x as TensorValue).type.shape;
  const a = num(start!) < 0 ? num(start!) + s.length : num(start!);
  if (a < 0 || a >= s.length) throw error(`flatten: start ${num(start!)} is out of range for ${show(x!)}`, site.span);
  return reshape(el, x as TensorValue, [...s.slice(0, a), numel(s.slice(a))], site, "flatten");
});
builtin("transpose", "x:tensor perm", ([x, perm], site, el) => el.emit1("transpose", [x as TensorValue], { perm: ints(perm!, "transpose: perm", spanOf(site, 1)) }, site.span));
builtin("concat", "xs:list axis:int", ([xs, axis], site, el) => {
  const items = (xs as { items: Value[] }).items.map((v) => tensorOf(v, "concat: every item", spanOf(site, 0)));
  if (items.length === 0) throw error("concat: needs at least one tensor", site.span);
  return el.emit1("concat", items, { axis: num(axis!) }, site.span);
});
builtin("split", "x:tensor parts axis:int=0", ([x, parts, axis], site, el) => {
  const t = x as TensorValue;
  const r = t.type.shape.length;
  const a = num(axis!) < 0 ? num(axis!) + r : num(axis!);
  const dimSize = t.type.shape[a];
  if (dimSize === undefined) throw error(`split: axis ${num(axis!)} is out of range for ${show(t)}`, site.span);
  let sizes: number[];
  if (parts!.k === "int") {
    if (parts!.v < 1 || dimSize % parts!.v !== 0) throw error(`split: dimension ${a} of size ${dimSize} does not split into ${parts!.v} equal parts`, site.span);
    sizes = Array(parts!.v).fill(dimSize / parts!.v);
  } else sizes = ints(parts!, "split: sizes", spanOf(site, 1));
  return tuple(el.emit("split", [t], { axis: a, sizes }, site.span));
});
/** slice's start or end: an int, or none for the whole axis in the step's direction. */
function bound(v: Value, ifNone: number, what: string, span: Span): number {
  if (v.k === "none") return ifNone;
  if (v.k !== "int") throw error(`${what} must be an int or none, found ${describe(v)}`, span);
  return v.v;
}

/** Python's (and ONNX's) slicing: negative bounds count from the end, bounds clamp to the axis; it must select something. */
function sliceOf(el: Elaborator, t: TensorValue, axis: number, start: Value, end: Value, step: number, site: CallSite, name: string): TensorValue {
  const r = t.type.shape.length;
  const a = axis < 0 ? axis + r : axis;
  const n = t.type.shape[a];
  if (n === undefined) throw error(`${name}: axis ${axis} is out of range for ${show(t)}`, spanOf(site, 1));
  if (step === 0) throw error(`${name}: step cannot be 0`, spanOf(site, 4));
  const s = bound(start, step > 0 ? 0 : n - 1, `${name}: start`, spanOf(site, 2));
  // Below -n, an end stays before index 0 once normalised: a negative step runs to the start.
  const e = bound(end, step > 0 ? n : -n - 1, `${name}: end`, spanOf(site, 3));
  if (sliceRange(n, s, e, step).count === 0)
    throw error(`${name}: start ${show(start)}, end ${show(end)}${step === 1 ? "" : `, step ${step}`} select nothing of axis ${a} (size ${n})`, site.span);
  return el.emit1("slice", [t], { axis: a, start: s, end: e, ...(step === 1 ? {} : { step }) }, site.span, name);
}
builtin("slice", "x:tensor axis:int start end step:int=1", ([x, axis, start, end, step], site, el) => sliceOf(el, x as TensorValue, num(axis!), start!, end!, num(step!), site, "slice"));
builtin("select", "x:tensor axis:int index:int", ([x, axis, index], site, el) => {
  const t = x as TensorValue;
  const r = t.type.shape.length;
  const a = num(axis!) < 0 ? num(axis!) + r : num(axis!);
  const n = t.type.shape[a];
  if (n === undefined) throw error(`select: axis ${num(axis!)} is out of range for ${show(t)}`, spanOf(site, 1));
  const i = num(index!);
  if (i < -n || i >= n) throw error(`select: index ${i} is out of range for axis ${a} of size ${n}`, spanOf(site, 2));
  const s = sliceOf(el, t, a, int(i), int(i === -1 ? n : i + 1), 1, site, "select");
  return reshape(el, s, t.type.shape.filter((_, j) => j !== a), site, "select");
});

// pads in PyTorch's F.pad order, (left, right) pairs from the last axis backwards; the IR's are
// ONNX's, every axis' begin, then every axis' end.
builtin("pad", 'x:tensor pads mode:string="constant" value:float=0.0', ([x, pads, mode, value], site, el) => {
  const t = x as TensorValue;
  const r = t.type.shape.length;
  const p = ints(pads!, "pad: pads", spanOf(site, 1));
  if (p.length % 2 !== 0 || p.length > 2 * r)
    throw error(`pad: pads must be (before, after) pairs from the last axis backwards, at most ${r} pairs for ${show(t)}, found ${show(pads!)}`, spanOf(site, 1));
  const m = (mode as { v: string }).v;
  if (!(PAD_MODES as readonly string[]).includes(m)) throw error(`pad: mode must be "constant", "reflect" or "replicate", found ${JSON.stringify(m)}`, spanOf(site, 2));
  const v = num(value!);
  if (t.type.dtype !== "f32" && !(Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)) throw error(`pad: value ${v} is not a 32-bit integer, and ${show(t)} holds integers`, spanOf(site, 3));
  const onnx = Array<number>(2 * r).fill(0);
  for (let i = 0; i < p.length / 2; i++) [onnx[r - 1 - i], onnx[2 * r - 1 - i]] = [p[2 * i]!, p[2 * i + 1]!];
  try {
    padAxes(t.type.shape, onnx, m as PadMode);
  } catch (e) {
    if (e instanceof ShapeError) throw error(e.message, spanOf(site, 1));
    throw e;
  }
  return el.emit1("pad", [t], { pads: onnx, mode: m, value: v }, site.span);
});

// PyTorch's expand: dims line up from the right, -1 keeps x's, x's dims of 1 stretch, new dims lead.
for (const name of ["expand", "broadcast_to"]) {
  builtin(name, "x:tensor shape", ([x, shape], site, el) => {
    const t = x as TensorValue;
    const span = spanOf(site, 1);
    const s = ints(shape!, `${name}: shape`, span);
    const xs = t.type.shape;
    const lead = s.length - xs.length;
    if (lead < 0) throw error(`${name}: shape ${show(shape!)} has fewer dims than ${show(t)}`, span);
    const out = s.map((d, i) => {
      const xd = xs[i - lead];
      if (d === -1 && xd !== undefined) return xd;
      if (d < 1 || (xd !== undefined && xd !== 1 && xd !== d)) throw error(`${name}: cannot expand ${show(t)} to ${show(shape!)} (dim ${i}: ${xd ?? "new"} to ${d})`, span);
      return d;
    });
    return el.emit1("expand", [t], { shape: out }, site.span, name);
  });
}

// PyTorch's tile: fewer repeats than axes repeat the last axes; more treat x as having leading 1s.
builtin("tile", "x:tensor repeats", ([x, repeats], site, el) => {
  let t = x as TensorValue;
  const r = ints(repeats!, "tile: repeats", spanOf(site, 1));
  if (r.length === 0 || r.some((k) => k < 1)) throw error(`tile: repeats must be positive counts, found ${show(repeats!)}`, spanOf(site, 1));
  const rank = t.type.shape.length;
  const reps = [...Array<number>(Math.max(0, rank - r.length)).fill(1), ...r];
  if (reps.length > rank) t = el.emit1("reshape", [t], { shape: [...Array<number>(reps.length - rank).fill(1), ...t.type.shape] }, site.span, "tile");
  return el.emit1("tile", [t], { repeats: reps }, site.span);
});

/** Slices of x along `axis` at `ids` (negative ones from the end): numpy's take, ONNX's Gather (not torch.gather). */
function gatherOf(el: Elaborator, x: TensorValue, ids: Value, axis: number, site: CallSite, at: { ids: number; axis: number }, name: string): TensorValue {
  const r = x.type.shape.length;
  if (r === 0 || axis < -r || axis >= r) throw error(`${name}: axis ${axis} is out of range for ${show(x)}`, spanOf(site, at.axis));
  const d = x.type.shape[axis < 0 ? axis + r : axis]!;
  const span = spanOf(site, at.ids);
  let t: TensorValue;
  // A list of ints is an i32 constant, checked here.
  if (ids.k === "list" || ids.k === "tuple") {
    const xs = ints(ids, `${name}: ids`, span);
    if (xs.length === 0) throw error(`${name}: ids is empty`, span);
    const bad = xs.find((i) => i < -d || i >= d);
    if (bad !== undefined) throw error(`${name}: id ${bad} is outside [-${d}, ${d}) for axis ${axis} of ${show(x)}`, span);
    t = el.constant([xs.length], Int32Array.from(xs), "i32");
  } else {
    t = tensorOf(ids, `${name}: ids`, span);
    if (t.type.dtype !== "i32" && t.type.dtype !== "i64") throw error(`${name}: ids must be an integer tensor (i32 or i64), found ${show(t)}`, span);
  }
  if (name === "index_select" && t.type.shape.length !== 1) throw error(`index_select: ids must be 1-D, found ${show(t)}`, span);
  return el.emit1("gather", [x, t], { axis }, site.span, name);
}
builtin("gather", "x:tensor ids axis:int=0", ([x, ids, axis], site, el) => gatherOf(el, x as TensorValue, ids!, num(axis!), site, { ids: 1, axis: 2 }, "gather"));
builtin("index_select", "x:tensor axis:int ids", ([x, axis, ids], site, el) => gatherOf(el, x as TensorValue, ids!, num(axis!), site, { ids: 2, axis: 1 }, "index_select"));

// PyTorch's embedding rejects negative ids (ONNX's Gather would read from the end).
builtin("embedding", "ids:tensor num:int dim:int", ([ids, n, d], site, el) => {
  const table = el.weight("embedding", "weight", [num(n!), num(d!)], { trainable: true, init: { kind: "normal", std: 1 } }, site.span);
  return el.emit1("gather", [table, ids as TensorValue], { negative_ids: "error" }, site.span, "embedding");
});

builtin("cast", "x:tensor dtype:string", ([x, dtype], site, el) => {
  const to = (dtype as { v: string }).v;
  if (!["f32", "i32", "i64"].includes(to)) throw error(`cast: unknown dtype ${JSON.stringify(to)}; expected "f32", "i32" or "i64"`, spanOf(site, 1));
  return el.emit1("cast", [x as TensorValue], { to: to as DType }, site.span);
});
builtin("where", "cond:tensor a b", ([cond, a, b], site, el) => {
  // The branches' dtype: a tensor branch's; for two numbers, i32 if both are ints, else f32.
  const t = [a!, b!].find((v) => v.k === "tensor") as TensorValue | undefined;
  const dtype = t ? t.type.dtype : a!.k === "int" && b!.k === "int" ? "i32" : "f32";
  return el.emit1("where", [cond as TensorValue, el.asTensor(a!, dtype, spanOf(site, 1)), el.asTensor(b!, dtype, spanOf(site, 2))], {}, site.span);
});
builtin("logical_not", "x:tensor", ([x], site, el) => el.emit1("logical_not", [x as TensorValue], {}, site.span));

// ---- constant tensors -----------------------------------------------------------------------------

const CONSTANT_DTYPES = ["f32", "i32", "i64"];

function constantDtype(v: Value, op: string, span: Span): DType {
  const d = (v as { v: string }).v;
  if (!CONSTANT_DTYPES.includes(d)) throw error(`${op}: dtype must be "f32", "i32" or "i64", found ${show(v)}`, span);
  return d as DType;
}

/** A constant tensor of `shape` holding `values`, each checked against `dtype` (an error at `span`). */
function constantTensor(el: Elaborator, op: string, shape: number[], values: ArrayLike<number>, dtype: DType, span: Span): TensorValue {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === "f32" && !Number.isFinite(Math.fround(v))) throw error(`${op}: ${v} is beyond the range of f32`, span);
    if (dtype !== "f32" && (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31))
      throw error(`${op}: ${v} is not a 32-bit integer, which an ${dtype} constant must hold`, span);
  }
  return el.constant(shape, dtype === "f32" ? Float32Array.from(values) : Int32Array.from(values), dtype);
}

/** A constant's shape: non-negative dims, a size a tensor may have; its elements are charged to the budget. */
function constantShape(el: Elaborator, op: string, v: Value, dtype: DType, site: CallSite): number[] {
  const dims = ints(v, `${op}: shape`, spanOf(site, 0));
  if (dims.some((d) => d < 1)) throw error(`${op}: dimensions must be positive, found [${dims.join(", ")}]`, spanOf(site, 0));
  const tooLarge = tensorSizeProblem({ dtype, shape: dims });
  if (tooLarge) throw error(`${op}: ${tooLarge}`, spanOf(site, 0));
  el.step(site.span, numel(dims));
  return dims;
}

builtin("full", 'shape value dtype:string="f32"', ([shape, value, dtype], site, el) => {
  const d = constantDtype(dtype!, "full", spanOf(site, 2));
  if (value!.k !== "int" && value!.k !== "float") throw error(`full: value must be a number, found ${describe(value!)}`, spanOf(site, 1));
  const dims = constantShape(el, "full", shape!, d, site);
  return constantTensor(el, "full", dims, new Array<number>(numel(dims)).fill(value!.v), d, spanOf(site, 1));
});
for (const [name, fill] of [["zeros", 0], ["ones", 1]] as const) {
  builtin(name, 'shape dtype:string="f32"', ([shape, dtype], site, el) => {
    const d = constantDtype(dtype!, name, spanOf(site, 1));
    const dims = constantShape(el, name, shape!, d, site);
    return constantTensor(el, name, dims, new Array<number>(numel(dims)).fill(fill), d, site.span);
  });
}

/** The shape and row-major elements of nested lists of numbers; ragged or non-numeric nesting is an error at `span`. */
function nested(v: Value, span: Span): { shape: number[]; values: number[] } {
  if (v.k === "int" || v.k === "float") return { shape: [], values: [v.v] };
  if (v.k !== "list" && v.k !== "tuple") throw error(`tensor: expected numbers in nested lists, found ${describe(v)}`, span);
  if (v.items.length === 0) throw error("tensor: an empty list has no elements (dimensions must be positive)", span);
  const parts = v.items.map((item) => nested(item, span));
  const first = parts[0]!.shape;
  parts.forEach((p, i) => {
    if (p.shape.join() !== first.join())
      throw error(`tensor: ragged nested lists: item ${i} has shape [${p.shape.join(", ")}], item 0 has [${first.join(", ")}]`, span);
  });
  return { shape: [parts.length, ...first], values: parts.flatMap((p) => p.values) };
}

builtin("tensor", 'data dtype:string="f32"', ([data, dtype], site, el) => {
  const d = constantDtype(dtype!, "tensor", spanOf(site, 1));
  const { shape, values } = nested(data!, spanOf(site, 0));
  el.step(site.span, values.length);
  return constantTensor(el, "tensor", shape, values, d, spanOf(site, 0));
});

builtin("iota", "n:int", ([n], site, el) => {
  const k = num(n!);
  if (k < 1 || k > 1 << 24) throw error(`iota: length must be in 1..${1 << 24}, found ${k}`, spanOf(site, 0));
  el.step(site.span, k);
  return el.constant([k], Int32Array.from({ length: k }, (_, i) => i), "i32");
});
builtin("dropout", "x:tensor p:float=0.1", ([x, p], site, el) => {
  if (num(p!) < 0 || num(p!) >= 1) throw error(`dropout: p must be in [0, 1), found ${num(p!)}`, spanOf(site, 1));
  // The identity at inference; elaborated for training, a node the training graph gives a mask.
  return el.training && num(p!) > 0 ? el.emit1("dropout", [x as TensorValue], { p: num(p!) }, site.span) : x!;
});

// The default is timm's trunc_normal_(std=0.02) for class tokens and position embeddings (its
// cut at +-2 is 100 standard deviations out, so it is a plain normal), so a model run without a
// checkpoint never has an all-zero learned token.
builtin("parameter", 'shape init:string="normal" std:float=0.02', ([shape, init, std], site, el) => {
  const initName = (init as { v: string }).v;
  const inits: Record<string, InitKind> = { zeros: { kind: "zeros" }, ones: { kind: "ones" }, normal: { kind: "normal", std: num(std!) } };
  const kind = inits[initName];
  if (!kind) throw error(`parameter: init must be "normal" (the default), "zeros" or "ones", found ${show(init!)}`, spanOf(site, 1));
  // A parameter left at its default has the call's span.
  if (site.argSpans[2] !== site.span && initName !== "normal") throw error(`parameter: std applies only to init="normal", not init=${show(init!)}`, spanOf(site, 2));
  if (!(num(std!) >= 0 && Number.isFinite(num(std!)))) throw error(`parameter: std must be a finite number >= 0, found ${num(std!)}`, spanOf(site, 2));
  const dims = ints(shape!, "parameter: shape", spanOf(site, 0));
  if (dims.some((d) => d < 1)) throw error(`parameter: dimensions must be positive, found [${dims.join(", ")}]`, spanOf(site, 0));
  return el.weight("parameter", undefined, dims, { trainable: true, init: kind }, site.span);
});
builtin("param", "name:string", ([name], site, el) => el.weightByName((name as { v: string }).v, spanOf(site, 0)));

/** The global scope: every built-in as a callable value. */
export function builtinScope(el: Elaborator): Env {
  const env = new Env();
  for (const [name, { params, impl }] of table)
    env.set(name, {
      k: "fn",
      fn: {
        name,
        call: (site, args, kwargs) => {
          const { values, spans } = bindArgs(name, params, site, args, kwargs);
          return impl(values, { span: site.span, argSpans: spans }, el);
        },
      },
    });
  for (const [name, impl] of variadic) {
    env.set(name, {
      k: "fn",
      fn: {
        name,
        call: (site, args, kwargs) => {
          if (kwargs.size > 0) throw error(`${name} takes no keyword arguments`, site.span);
          return impl(args, site);
        },
      },
    });
  }
  return env;
}
