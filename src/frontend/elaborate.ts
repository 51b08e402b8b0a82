// Runs a .nn program at compile time and records the tensor operations it performs as an IR
// graph. Errors become diagnostics; the statement that failed binds its names to POISON so
// one mistake is reported once, and elaboration goes on to find the next.
import { typeNames } from "../../grammar/index.js";
import type * as A from "../../grammar/index.js";
import { emptyGraph, type Attrs, type DType, type Graph, type InitKind, type TensorType, type Weight } from "../ir/graph.js";
import { ShapeError } from "../ir/ops.js";
import { addNode, tensorSizeProblem } from "../ir/rewrite.js";
import { TO_NCHW } from "../ir/shape.js";
import { DiagnosticError, error, isStackOverflow, location, type Diagnostic, type Note } from "./diagnostics.js";
import { bindArgs, checkType, closest, Env, type ParamSpec, type ParamType } from "./scope.js";
import {
  bool, describe, equal, float, int, NONE, POISON, show, str,
  type CallSite, type Callable, type KwArg, type TensorValue, type Value,
} from "./values.js";

const MAX_STEPS = 20_000_000;
/** Steps charged for each tensor added to the graph: at most 200,000 of them. */
const TENSOR_COST = 100;
const MAX_CALL_DEPTH = 200;
/** The longest string, list or tuple `+` makes. */
const MAX_LENGTH = 1_000_000;
const MAX_ERRORS = 50;

type Wrap = (f: () => Value) => Value;
type SeqInput = { value: Value; span: A.Span };

/** Aborts elaboration entirely (step budget exhausted, too many errors). */
class Abort extends Error {}

interface Frame {
  name: string;
  decl?: A.BlockDecl;
  span: A.Span;
}

interface WeightRecord {
  weight: Weight;
  span: A.Span;
}

export interface WeightOptions {
  trainable: boolean;
  init: InitKind;
  dtype?: DType;
}

/** One .nn file's top-level names. */
export interface Module {
  file: string;
  env: Env;
  ast: A.FileAst;
}

export class Elaborator {
  readonly graph: Graph;
  readonly diagnostics: Diagnostic[] = [];
  private readonly path: string[] = [];
  private sharedDepth = 0;
  private readonly weights = new Map<string, WeightRecord>();
  private readonly frames: Frame[] = [];
  private steps = 0;
  private readonly scalarConsts = new Map<string, TensorValue>();
  private readonly seenErrors = new Set<string>();

  /** `training`: each dropout() is a dropout node for the training graph to give a mask (ElaborateOptions.training). */
  constructor(name: string, readonly training = false) {
    this.graph = emptyGraph(name);
  }

  // ---- diagnostics -------------------------------------------------------------------------

  report(e: DiagnosticError): void {
    const d = e.diagnostic;
    const key = `${d.message}@${d.span ? location(d.span) : ""}`;
    if (this.seenErrors.has(key)) return;
    this.seenErrors.add(key);
    const notes: Note[] = [...d.notes];
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i]!;
      notes.push({ message: `in \`${f.name}\`, called here`, span: f.span });
    }
    this.diagnostics.push({ ...d, notes });
    if (this.diagnostics.filter((x) => x.severity === "error").length >= MAX_ERRORS) throw new Abort();
  }

  /** Runs `f`; a user error is reported and turns into POISON. */
  guard(f: () => Value): Value {
    try {
      return f();
    } catch (e) {
      if (e instanceof DiagnosticError) {
        this.report(e);
        return POISON;
      }
      throw e;
    }
  }

  /** Charges `cost` steps of work, done at `span`, to the budget that bounds elaboration. */
  step(span: A.Span, cost = 1): void {
    this.steps += cost;
    if (this.steps > MAX_STEPS) {
      this.report(error(`elaboration exceeded its budget of ${MAX_STEPS} steps (a tensor costs ${TENSOR_COST}); is a loop too long?`, span));
      throw new Abort();
    }
  }

  // ---- the graph -----------------------------------------------------------------------------

  private newValue(type: TensorType, kind: "input" | "weight" | "const"): TensorValue {
    const id = this.graph.values.length;
    this.graph.values.push({ id, type, kind });
    return { k: "tensor", id, type };
  }

  /** Adds a node; its output types come from the op's shape inference (as every graph builder's do: rewrite.addNode). */
  emit(op: string, inputs: TensorValue[], attrs: Attrs, span: A.Span, opName = op): TensorValue[] {
    let outs: number[];
    try {
      outs = addNode(this.graph, op, inputs.map((i) => i.id), attrs, this.path.join("."), { file: span.file, line: span.line, col: span.col });
    } catch (e) {
      if (e instanceof ShapeError) {
        const msg = e.message.startsWith(`${op}: `)
          ? opName + e.message.slice(op.length)
          : /^[a-z_0-9]+: /.test(e.message) ? e.message : `${opName}: ${e.message}`;
        throw error(msg, span);
      }
      throw e;
    }
    this.step(span, TENSOR_COST * outs.length);
    return outs.map((id) => ({ k: "tensor", id, type: this.graph.values[id]!.type }));
  }

  emit1(op: string, inputs: TensorValue[], attrs: Attrs, span: A.Span, opName = op): TensorValue {
    return this.emit(op, inputs, attrs, span, opName)[0]!;
  }

  input(name: string, type: TensorType, span: A.Span): TensorValue {
    if (this.graph.inputs.some((i) => i.name === name)) throw error(`input \`${name}\` is declared twice`, span);
    const tooLarge = tensorSizeProblem(type);
    if (tooLarge) throw error(`input \`${name}\`: ${tooLarge}`, span);
    const v = this.newValue(type, "input");
    this.graph.inputs.push({ name, value: v.id });
    return v;
  }

  output(name: string, v: TensorValue, span: A.Span): void {
    if (this.graph.outputs.some((o) => o.name === name)) throw error(`output \`${name}\` is declared twice`, span);
    this.graph.outputs.push({ name, value: v.id });
  }

  scalar(value: number, dtype: DType): TensorValue {
    const key = `${dtype}:${value}`;
    let v = this.scalarConsts.get(key);
    if (!v) {
      v = this.constant([], dtype === "f32" ? Float32Array.of(value) : Int32Array.of(value), dtype);
      this.scalarConsts.set(key, v);
    }
    return v;
  }

  constant(shape: number[], data: Float32Array | Int32Array, dtype: DType): TensorValue {
    const v = this.newValue({ dtype, shape }, "const");
    this.graph.constants.push({ value: v.id, data });
    return v;
  }

  /** Creates (or, under `shared`, reuses) the weight named by the label path [+ suffix]. */
  weight(op: string, suffix: string | undefined, shape: number[], opts: WeightOptions, span: A.Span): TensorValue {
    if (this.path.length === 0) throw error(`\`${op}\` owns weights, so it needs a label: \`name: ${op}(...)\``, span);
    const name = suffix ? `${this.path.join(".")}.${suffix}` : this.path.join(".");
    // safetensors keeps its header's metadata under this key: no checkpoint could hold the weight.
    if (name === "__metadata__") throw error("`__metadata__` is reserved by safetensors and cannot name a weight; choose another label", span);
    if (shape.some((d) => d < 1)) throw error(`\`${op}\` would make weight \`${name}\` of shape [${shape.join(", ")}]; dimensions must be positive`, span);
    const type: TensorType = { dtype: opts.dtype ?? "f32", shape };
    const tooLarge = tensorSizeProblem(type);
    if (tooLarge) throw error(`\`${op}\` would make weight \`${name}\`: ${tooLarge}`, span);
    const prior = this.weights.get(name);
    if (this.sharedDepth > 0) {
      if (!prior) throw error(`\`shared\` reuses weights created earlier under the same label, but there is no weight \`${name}\` yet`, span);
      if (prior.weight.type.shape.join() !== shape.join())
        throw error(`shared weight \`${name}\` has shape [${prior.weight.type.shape.join(", ")}] but this use needs [${shape.join(", ")}]`, span, [{ message: "first created here", span: prior.span }]);
      return { k: "tensor", id: prior.weight.value, type: prior.weight.type };
    }
    this.step(span, TENSOR_COST);
    if (prior) throw error(`weight \`${name}\` is already defined; give this \`${op}\` its own label, or write \`shared\` before the label to reuse the weights`, span, [{ message: "first defined here", span: prior.span }]);
    const v = this.newValue(type, "weight");
    const w: Weight = { name, value: v.id, type, trainable: opts.trainable, init: opts.init };
    this.graph.weights.push(w);
    this.weights.set(name, { weight: w, span });
    return v;
  }

  /** An existing weight by its full name (weight tying). */
  weightByName(name: string, span: A.Span): TensorValue {
    const rec = this.weights.get(name);
    if (!rec) {
      const near = closest(name, this.weights.keys());
      throw error(`no weight named \`${name}\` has been created${near ? `; did you mean \`${near}\`?` : ""}`, span);
    }
    return { k: "tensor", id: rec.weight.value, type: rec.weight.type };
  }

  private withLabel<T>(segments: string[], shared: boolean, f: () => T): T {
    this.path.push(...segments);
    if (shared) this.sharedDepth++;
    try {
      return f();
    } finally {
      this.path.length -= segments.length;
      if (shared) this.sharedDepth--;
    }
  }

  // ---- statements ------------------------------------------------------------------------------

  /** Runs statements; returns the value of a `return`, if one ran. */
  execBody(stmts: A.Stmt[], env: Env, inModel: boolean): Value | undefined {
    for (const s of stmts) {
      const r = this.execStmt(s, env, inModel);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  private execStmt(s: A.Stmt, env: Env, inModel: boolean): Value | undefined {
    try {
      return this.execStmtUnguarded(s, env, inModel);
    } catch (e) {
      if (isStackOverflow(e)) this.report(error("this statement nests too deeply to elaborate", s.span));
      else if (e instanceof DiagnosticError) this.report(e);
      else throw e;
      return s.kind === "assert" ? POISON : poison(s, env); // a failed assert ends its block
    }
  }

  private execStmtUnguarded(s: A.Stmt, env: Env, inModel: boolean): Value | undefined {
    this.step(s.span);
    switch (s.kind) {
      case "assign": {
        const v = this.eval(s.value, env);
        if (s.targets.length === 1) {
          env.set(s.targets[0]!.name, v, { what: "a local", span: s.targets[0]!.span });
          return undefined;
        }
        this.destructure({ kind: "tuple", items: s.targets.map((t) => ({ kind: "name", name: t.name, span: t.span })), span: s.span }, v, env, s.value.span);
        return undefined;
      }
      case "return":
        if (inModel) throw error("a model has no `return`; declare results with `output NAME = ...`", s.span);
        return this.eval(s.value, env);
      case "input": {
        if (!inModel) throw error("`input` declares a model input and is only allowed in a `model`", s.span);
        const dtype = s.dtype as DType;
        if (!["f32", "i32", "i64"].includes(s.dtype)) throw error(`unknown input type \`${s.dtype}\`; expected f32, i32 or i64`, s.dtypeSpan);
        const dims = s.dims.map((d) => this.eval(d, env));
        if (dims.some((d) => d.k === "poison")) return poison(s, env);
        const declared = dims.map((d, i) => {
          if (d.k !== "int" || d.v < 1) throw error(`a dimension must be a positive int, found ${describe(d)}`, s.dims[i]!.span);
          return d.v;
        });
        const shape = this.inputShapes.get(s.name) ?? declared;
        if (shape.length !== declared.length)
          throw error(`--shape ${s.name}=${shape.join("x")} has rank ${shape.length} but \`${s.name}\` is declared with rank ${declared.length}`, s.span);
        this.usedShapes.add(s.name);
        const layout = s.layout?.name ?? "nchw";
        if (layout !== "nchw" && layout !== "nhwc") throw error(`unknown input layout \`${layout}\`; expected nchw (the default) or nhwc`, s.layout!.span);
        if (layout === "nhwc" && shape.length !== 4) throw error(`an nhwc input has 4 dimensions [N, H, W, C], \`${s.name}\` has ${shape.length}`, s.layout!.span);
        const value = this.input(s.name, { dtype, shape }, s.span);
        // The body sees NCHW; the layout pass cancels this transpose against its own one to NHWC.
        const seen = layout === "nhwc" ? this.emit1("transpose", [value], { perm: [...TO_NCHW] }, s.span) : value;
        env.set(s.name, seen, { what: "a model input", span: s.span });
        return undefined;
      }
      case "output": {
        if (!inModel) throw error("`output` declares a model output and is only allowed in a `model`", s.span);
        const v = this.eval(s.value, env);
        if (v.k === "poison") return poison(s, env);
        if (v.k !== "tensor") throw error(`output \`${s.name}\` must be a tensor, found ${describe(v)}`, s.value.span);
        this.output(s.name, v, s.span);
        env.set(s.name, v, { what: "a model output", span: s.span });
        return undefined;
      }
      case "for": {
        const it = this.eval(s.iterable, env);
        if (it.k === "poison") return poison(s, env);
        if (it.k !== "list" && it.k !== "tuple") throw error(`\`for\` iterates a list or tuple, found ${describe(it)}`, s.iterable.span);
        for (const item of it.items) {
          this.destructure(s.pattern, item, env, s.iterable.span);
          const r = this.execBody(s.body, env, inModel);
          if (r !== undefined) return r;
        }
        return undefined;
      }
      case "if": {
        const c = this.eval(s.cond, env);
        if (c.k === "poison") return poison(s, env);
        if (c.k !== "bool") throw error(`a condition must be a bool, found ${describe(c)}`, s.cond.span);
        if (c.v) return this.execBody(s.then, env, inModel);
        return s.else ? this.execBody(s.else, env, inModel) : undefined;
      }
      case "assert": {
        const c = this.eval(s.cond, env);
        if (c.k === "poison") return undefined;
        if (c.k !== "bool") throw error(`an assertion must be a bool, found ${describe(c)}`, s.cond.span);
        if (!c.v) {
          const m = s.message ? this.eval(s.message, env) : undefined;
          throw error(m === undefined ? "assertion failed" : `assertion failed: ${m.k === "string" ? m.v : show(m)}`, s.cond.span);
        }
        return undefined;
      }
    }
  }

  private destructure(p: A.Pattern, v: Value, env: Env, span: A.Span): void {
    if (p.kind === "name") {
      env.set(p.name, v, { what: "a local", span: p.span });
      return;
    }
    if (v.k === "poison") {
      for (const item of p.items) this.destructure(item, POISON, env, span);
      return;
    }
    if ((v.k !== "tuple" && v.k !== "list") || v.items.length !== p.items.length) {
      const found = v.k === "tuple" || v.k === "list" ? `${describe(v)} of ${v.items.length} item${v.items.length === 1 ? "" : "s"}` : describe(v);
      throw error(`cannot unpack ${found} into ${p.items.length} names`, span);
    }
    p.items.forEach((item, i) => this.destructure(item, v.items[i]!, env, span));
  }

  // ---- expressions -----------------------------------------------------------------------------

  eval(e: A.Expr, env: Env): Value {
    this.step(e.span);
    switch (e.kind) {
      case "int":
        if (!Number.isSafeInteger(e.value)) throw error(`integer too large (the largest is ${Number.MAX_SAFE_INTEGER})`, e.span);
        return int(e.value);
      case "float":
        if (!Number.isFinite(e.value)) throw error("number too large", e.span);
        return float(e.value);
      case "string":
        return str(e.value);
      case "bool":
        return bool(e.value);
      case "none":
        return NONE;
      case "name": {
        const v = env.lookup(e.name);
        if (v === undefined) {
          const near = closest(e.name, env.names());
          throw error(`unknown name \`${e.name}\``, e.span, near ? [{ message: `did you mean \`${near}\`?` }] : []);
        }
        return v;
      }
      case "list":
      case "tuple": {
        const items = e.items.map((i) => this.eval(i, env));
        return items.some((v) => v.k === "poison") ? POISON : { k: e.kind, items };
      }
      case "unary":
        return this.unary(e.op, this.eval(e.operand, env), e);
      case "binary":
        return this.binary(e, env);
      case "index":
        return this.index(this.eval(e.target, env), this.eval(e.index, env), e);
      case "if": {
        const c = this.eval(e.cond, env);
        if (c.k === "poison") return POISON;
        if (c.k !== "bool") throw error(`a condition must be a bool, found ${describe(c)}`, e.cond.span);
        return this.eval(c.v ? e.then : e.else, env);
      }
      case "lambda":
        return { k: "fn", fn: this.lambda(e, env) };
      case "label":
        return this.labelled(e, env);
      case "seq":
        return { k: "fn", fn: this.seq(e, env) };
      case "call":
        return this.call(e, env);
    }
  }

  /**
   * `label: body`. When the body is a call, its arguments are evaluated outside the label and
   * only the call runs inside it, so `bn1: batchnorm(conv1: conv2d(x, ...))` names `conv1.weight`
   * and `bn1.weight`, not `bn1.conv1.weight`. `input` is the tensor a `seq` feeds to its item.
   */
  private labelled(e: Extract<A.Expr, { kind: "label" }>, env: Env, input?: SeqInput, outer: Wrap = (f) => f()): Value {
    let poisoned = false;
    // A string part may be a dotted path (`{"blocks.3"}`): it adds segments, so each segment is
    // split at the dots its parts brought (text and int parts have none).
    const segments = e.path.flatMap((seg) =>
      seg.parts
        .map((p) => {
          if (p.kind === "text") return p.text;
          const v = this.eval(p.expr, env);
          if (v.k === "int" && v.v >= 0) return String(v.v);
          if (v.k === "string" && /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(v.v)) return v.v;
          if (v.k === "poison") {
            poisoned = true;
            return "";
          }
          throw error(`a label part must be a non-negative int, a name or a dotted path of names and ints ("blocks.3"), found ${describe(v)}`, p.expr.span);
        })
        .join("")
        .split("."),
    );
    if (poisoned) return POISON;
    const wrap: Wrap = (f) => outer(() => this.withLabel(segments, e.shared, f));
    return this.applyWrapped(e.body, env, wrap, input);
  }

  /** Evaluates `body` (applied to `input` for a seq item) with only its call inside `wrap`. */
  private applyWrapped(body: A.Expr, env: Env, wrap: Wrap, input?: SeqInput): Value {
    if (body.kind === "label") return this.labelled(body, env, input, wrap);
    if (body.kind === "call") return this.call(body, env, input, wrap);
    if (!input) return wrap(() => this.eval(body, env));
    const f = this.eval(body, env);
    if (f.k === "poison") return POISON;
    if (f.k !== "fn") throw error(`a \`seq\` item must be a call or a block, found ${describe(f)}`, body.span);
    return wrap(() => this.invoke(f.fn, { span: body.span, argSpans: [input.span] }, [input.value], new Map()));
  }

  private unary(op: "-" | "!", v: Value, e: A.Expr): Value {
    if (v.k === "poison") return POISON;
    if (op === "!") {
      if (v.k === "tensor") return this.emit1("logical_not", [v], {}, e.span, "`!`");
      if (v.k !== "bool") throw error(`\`!\` needs a bool or a bool tensor, found ${describe(v)}`, e.span);
      return bool(!v.v);
    }
    if (v.k === "int") return int(-v.v);
    if (v.k === "float") return float(-v.v);
    if (v.k === "tensor") return this.emit1("neg", [v], {}, e.span);
    throw error(`\`-\` needs a number or a tensor, found ${describe(v)}`, e.span);
  }

  private binary(e: Extract<A.Expr, { kind: "binary" }>, env: Env): Value {
    const a = this.eval(e.left, env);
    if (e.op === "&&" || e.op === "||") {
      if (a.k === "poison") return POISON;
      if (a.k !== "bool") throw error(`\`${e.op}\` needs bools, found ${describe(a)}`, e.left.span);
      if (a.v === (e.op === "||")) return a;
      const b = this.eval(e.right, env);
      if (b.k !== "bool" && b.k !== "poison") throw error(`\`${e.op}\` needs bools, found ${describe(b)}`, e.right.span);
      return b;
    }
    const b = this.eval(e.right, env);
    if (a.k === "poison" || b.k === "poison") return POISON;
    return this.binaryValues(e.op, a, b, e.span);
  }

  binaryValues(op: A.BinaryOp, a: Value, b: Value, span: A.Span): Value {
    // Between tensors, or a tensor and a number, comparisons are elementwise (bool tensors);
    // otherwise values compare (`mask == none`).
    const operand = (v: Value) => v.k === "tensor" || v.k === "int" || v.k === "float";
    const elementwise = (a.k === "tensor" || b.k === "tensor") && operand(a) && operand(b);
    if (elementwise || ((a.k === "tensor" || b.k === "tensor") && op !== "==" && op !== "!=")) return this.tensorArith(op, a, b, span);
    if (op === "==") return bool(equal(a, b));
    if (op === "!=") return bool(!equal(a, b));
    const num = (v: Value) => v.k === "int" || v.k === "float";
    if (num(a) && num(b)) {
      const x = (a as { v: number }).v;
      const y = (b as { v: number }).v;
      const ints = a.k === "int" && b.k === "int";
      const wrap = (r: number) => {
        if (!ints) return float(r);
        if (!Number.isSafeInteger(r)) throw error(`integer overflow: ${show(a)} ${op} ${show(b)} is beyond ${Number.MAX_SAFE_INTEGER}`, span);
        return int(r);
      };
      switch (op) {
        case "+": return wrap(x + y);
        case "-": return wrap(x - y);
        case "*": return wrap(x * y);
        case "/":
        case "//":
        case "%":
          if (y === 0) throw error(`division by zero in \`${op}\``, span);
          return op === "/" ? float(x / y) : wrap(op === "//" ? Math.floor(x / y) : x - Math.floor(x / y) * y);
        case "**":
          return y >= 0 ? wrap(x ** y) : float(x ** y);
        case "<": return bool(x < y);
        case "<=": return bool(x <= y);
        case ">": return bool(x > y);
        case ">=": return bool(x >= y);
      }
    }
    if (op === "+" && a.k === b.k && (a.k === "string" || a.k === "list" || a.k === "tuple")) {
      const length = (v: Value) => (v.k === "string" ? v.v.length : (v as { items: Value[] }).items.length);
      const n = length(a) + length(b);
      if (n > MAX_LENGTH) throw error(`\`+\` would make a ${a.k} of length ${n}; the limit is ${MAX_LENGTH}`, span);
      this.step(span, n);
      if (a.k === "string") return str(a.v + (b as typeof a).v);
      return { k: a.k, items: [...a.items, ...(b as typeof a).items] };
    }
    if (a.k === "string" && b.k === "string" && ["<", "<=", ">", ">="].includes(op)) {
      const c = a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
      return bool(op === "<" ? c < 0 : op === "<=" ? c <= 0 : op === ">" ? c > 0 : c >= 0);
    }
    throw error(`\`${op}\` cannot combine ${describe(a)} and ${describe(b)}`, span);
  }

  private tensorArith(op: A.BinaryOp, a: Value, b: Value, span: A.Span): Value {
    const ops: Partial<Record<A.BinaryOp, string>> = {
      "+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow",
      "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal", "==": "equal", "!=": "not_equal",
    };
    const irOp = ops[op];
    if (!irOp) throw error(`\`${op}\` is not defined on tensors (found ${describe(a)} and ${describe(b)})`, span);
    const t = (a.k === "tensor" ? a : b) as TensorValue;
    return this.emit1(irOp, [this.asTensor(a, t.type.dtype, span), this.asTensor(b, t.type.dtype, span)], {}, span, `\`${op}\``);
  }

  /** A tensor, or a number made into a scalar constant of the given dtype. */
  asTensor(v: Value, dtype: DType, span: A.Span): TensorValue {
    if (v.k === "tensor") return v;
    if (v.k === "int" || v.k === "float") {
      if (dtype !== "f32" && !Number.isInteger(v.v)) throw error(`cannot combine the float ${show(v)} with an ${dtype} tensor; cast() the tensor first`, span);
      return this.scalar(v.v, dtype);
    }
    throw error(`expected a tensor or a number, found ${describe(v)}`, span);
  }

  private index(target: Value, idx: Value, e: A.Expr): Value {
    if (target.k === "poison" || idx.k === "poison") return POISON;
    if (target.k !== "list" && target.k !== "tuple") throw error(`only lists and tuples can be indexed, found ${describe(target)}`, e.span);
    if (idx.k !== "int") throw error(`an index must be an int, found ${describe(idx)}`, e.span);
    const n = target.items.length;
    const i = idx.v < 0 ? idx.v + n : idx.v;
    if (i < 0 || i >= n) throw error(`index ${idx.v} is out of range for ${target.k === "list" ? "a list" : "a tuple"} of length ${n}`, e.span);
    return target.items[i]!;
  }

  private call(e: Extract<A.Expr, { kind: "call" }>, env: Env, prepend?: SeqInput, wrap: Wrap = (f) => f()): Value {
    const callee = this.eval(e.callee, env);
    const args: Value[] = prepend ? [prepend.value] : [];
    const argSpans: A.Span[] = prepend ? [prepend.span] : [];
    const kwargs = new Map<string, KwArg>();
    for (const a of e.args) {
      const v = this.eval(a.value, env);
      if (a.name === undefined) {
        if (kwargs.size > 0) throw error("a positional argument cannot follow keyword arguments", a.span);
        args.push(v);
        argSpans.push(a.span);
      } else {
        if (kwargs.has(a.name)) throw error(`argument \`${a.name}\` is given twice`, a.span);
        kwargs.set(a.name, { value: v, span: a.span });
      }
    }
    if (callee.k === "poison") return POISON;
    if (callee.k !== "fn") throw error(`${describe(callee)} is not callable`, e.callee.span, e.callee.kind === "name" ? hidingNote(env, e.callee.name) : []);
    if (args.some((a) => a.k === "poison") || [...kwargs.values()].some((k) => k.value.k === "poison")) return POISON;
    return wrap(() => this.invoke(callee.fn, { span: e.span, argSpans }, args, kwargs));
  }

  invoke(fn: Callable, site: CallSite, args: Value[], kwargs: Map<string, KwArg>): Value {
    if (this.frames.length >= MAX_CALL_DEPTH) throw error(`calls nest deeper than ${MAX_CALL_DEPTH}; is a block calling itself through a lambda?`, site.span);
    return fn.call(site, args, kwargs);
  }

  /** Reports unknown parameter types (which then accept any value) and repeated parameter names. */
  checkParams(decl: A.BlockDecl): void {
    const seen = new Set<string>();
    for (const p of decl.params) {
      if (seen.has(p.name)) this.report(error(`\`${decl.name}\` has two parameters named \`${p.name}\``, p.span));
      seen.add(p.name);
      for (const t of p.type ? typeNamesIn(p.type) : []) {
        if (typeNames.includes(t.name as A.TypeName)) continue;
        const near = closest(t.name, typeNames);
        this.report(error(`unknown type \`${t.name}\`; the types are ${typeNames.join(", ")}`, t.span, near ? [{ message: `did you mean \`${near}\`?` }] : []));
      }
    }
  }

  /** A user block: parameters bound in a fresh scope over the block's module. */
  blockCallable(decl: A.BlockDecl, module: Env): Callable {
    const params: ParamSpec[] = decl.params.map((p) => ({
      name: p.name,
      ...(p.type ? { type: paramType(p.type) } : {}),
      ...(p.default ? { default: () => this.eval(p.default!, module) } : {}),
    }));
    return {
      name: decl.name,
      call: (site, args, kwargs) => {
        if (this.frames.some((f) => f.decl === decl))
          throw error(`\`${decl.name}\` calls itself; blocks cannot be recursive (the graph would be unbounded)`, site.span);
        const bound = bindArgs(decl.name, params, site, args, kwargs).values;
        const env = new Env(module);
        decl.params.forEach((p, i) => env.set(p.name, bound[i]!, { what: `a parameter of \`${decl.name}\``, span: p.span }));
        this.frames.push({ name: decl.name, decl, span: site.span });
        try {
          return this.execBody(decl.body, env, false) ?? NONE;
        } finally {
          this.frames.pop();
        }
      },
    };
  }

  private lambda(e: Extract<A.Expr, { kind: "lambda" }>, env: Env): Callable {
    const name = `lambda at ${location(e.span)}`;
    return {
      name,
      call: (site, args, kwargs) => {
        if (kwargs.size > 0) throw error("a lambda takes positional arguments only", [...kwargs.values()][0]!.span);
        if (args.length !== e.params.length)
          throw error(`this lambda takes ${e.params.length} argument${e.params.length === 1 ? "" : "s"} but ${args.length} were given`, site.span, [{ message: "lambda defined here", span: e.span }]);
        const local = new Env(env);
        e.params.forEach((p, i) => local.set(p.name, args[i]!, { what: "a lambda parameter", span: p.span }));
        this.frames.push({ name: "lambda", span: site.span });
        try {
          return this.eval(e.body, local);
        } finally {
          this.frames.pop();
        }
      },
    };
  }

  /** `seq { ... }`: applies its items in order; item i is labelled i unless it has a label. */
  private seq(e: Extract<A.Expr, { kind: "seq" }>, env: Env): Callable {
    return {
      name: "seq",
      call: (site, args, kwargs) => {
        if (args.length !== 1 || kwargs.size > 0) throw error(`a \`seq\` is applied to exactly one tensor, given ${args.length} arguments`, site.span);
        let x = args[0]!;
        e.items.forEach((item, i) => {
          if (x.k === "poison") return;
          const input = { value: x, span: site.argSpans[0] ?? site.span };
          const index: Wrap = (f) => this.withLabel([String(i)], false, f);
          x = this.guard(() => (item.kind === "label" ? this.labelled(item, env, input) : this.applyWrapped(item, env, index, input)));
        });
        return x;
      },
    };
  }

  // ---- models ----------------------------------------------------------------------------------

  private inputShapes = new Map<string, number[]>();
  private readonly usedShapes = new Set<string>();

  /** Elaborates a model with `--set` values and `--shape` overrides. */
  model(decl: A.BlockDecl, module: Env, set: Map<string, Value>, shapes: Map<string, number[]>): void {
    this.inputShapes = shapes;
    const env = new Env(module);
    try {
      for (const p of decl.params) {
        const given = set.get(p.name);
        const v = given ?? (p.default ? this.guard(() => this.eval(p.default!, module)) : undefined);
        if (v === undefined) {
          this.report(error(`model parameter \`${p.name}\` has no default; give it with --set ${p.name}=VALUE`, p.span));
          env.set(p.name, POISON);
          continue;
        }
        env.set(p.name, this.guard(() => checkType(v, p.type && paramType(p.type), `model parameter \`${p.name}\``, p.span)), { what: "a model parameter", span: p.span });
      }
      this.execBody(decl.body, env, true);
      if (this.graph.outputs.length === 0 && this.diagnostics.length === 0)
        this.report(error(`model \`${decl.name}\` has no outputs; declare one with \`output NAME = ...\``, decl.nameSpan));
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
    }
  }

  unusedShapes(): string[] {
    return [...this.inputShapes.keys()].filter((n) => !this.usedShapes.has(n));
  }
}

/** The names statements may bind, into `names`; true when they may `return`. */
function bindings(stmts: A.Stmt[], names: Set<string>): boolean {
  const addPattern = (p: A.Pattern): void => (p.kind === "name" ? void names.add(p.name) : p.items.forEach(addPattern));
  let returns = false;
  for (const s of stmts) {
    if (s.kind === "assign") s.targets.forEach((t) => names.add(t.name));
    else if (s.kind === "input" || s.kind === "output") names.add(s.name);
    else if (s.kind === "return") returns = true;
    else if (s.kind === "for") {
      addPattern(s.pattern);
      returns = bindings(s.body, names) || returns;
    } else if (s.kind === "if") returns = bindings([...s.then, ...(s.else ?? [])], names) || returns;
  }
  return returns;
}

/**
 * A statement that failed, or was skipped for an erroneous value, binds every name it might
 * have bound to POISON, and returns POISON if it might have returned: no later error stems
 * from it.
 */
function poison(s: A.Stmt, env: Env): Value | undefined {
  const names = new Set<string>();
  const returns = bindings([s], names);
  for (const n of names) env.set(n, POISON);
  return returns ? POISON : undefined;
}

/** "`dim` is a model parameter here; it hides the built-in `dim()`", at the binding. */
function hidingNote(env: Env, name: string): Note[] {
  const h = env.hiding(name);
  if (!h) return [];
  const what = h.origin ? `\`${name}\` is ${h.origin.what} here` : `\`${name}\` is bound here`;
  return [{ message: `${what}; it hides the ${h.builtin ? "built-in" : "block"} \`${name}()\``, span: h.origin?.span }];
}

function typeNamesIn(t: A.TypeExpr): Extract<A.TypeExpr, { kind: "name" }>[] {
  return t.kind === "name" ? [t] : (t.kind === "tuple" ? t.items : t.options).flatMap(typeNamesIn);
}

/** A declared type for the checks; an unknown name (reported by checkParams) accepts anything. */
function paramType(t: A.TypeExpr): ParamType {
  if (t.kind === "name") return { kind: "name", name: typeNames.includes(t.name as A.TypeName) ? (t.name as A.TypeName) : "any" };
  return t.kind === "tuple" ? { kind: "tuple", items: t.items.map(paramType) } : { kind: "union", options: t.options.map(paramType) };
}
