// Names in scope, and binding call arguments to declared parameters (shared by user blocks
// and built-ins so both report argument mistakes the same way).
import type { Span, TypeName } from "../../grammar/index.js";
import { error } from "./diagnostics.js";
import { describe, float, show, type CallSite, type KwArg, type Value } from "./values.js";

/** Where a name was bound, for "it hides the built-in" notes: "a model parameter" at its span. */
export interface Origin {
  what: string;
  span: Span;
}

export class Env {
  private readonly vars = new Map<string, Value>();
  private readonly origins = new Map<string, Origin>();
  constructor(readonly parent?: Env) {}

  lookup(name: string): Value | undefined {
    return this.vars.get(name) ?? this.parent?.lookup(name);
  }

  set(name: string, v: Value, origin?: Origin): void {
    this.vars.set(name, v);
    if (origin) this.origins.set(name, origin);
    else this.origins.delete(name);
  }

  /**
   * When the binding of `name` seen from here hides a callable of an enclosing scope (a local
   * `dim` hiding the built-in `dim()`): where it was bound, and whether the hidden one is a
   * built-in (bound in the outermost scope) or a block.
   */
  hiding(name: string): { origin?: Origin; builtin: boolean } | undefined {
    let owner: Env | undefined = this;
    while (owner && !owner.vars.has(name)) owner = owner.parent;
    let outer = owner?.parent;
    while (outer && !outer.vars.has(name)) outer = outer.parent;
    if (!owner || !outer || outer.vars.get(name)!.k !== "fn") return undefined;
    return { origin: owner.origins.get(name), builtin: outer.parent === undefined };
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  /** Every name visible from here, for "did you mean" hints. */
  names(): string[] {
    return [...this.vars.keys(), ...(this.parent?.names() ?? [])];
  }
}

/** A declared type as the checks use it: names validated (an unknown one became `any`). */
export type ParamType = { kind: "name"; name: TypeName } | { kind: "tuple"; items: ParamType[] } | { kind: "union"; options: ParamType[] };

export interface ParamSpec {
  name: string;
  type?: ParamType;
  /** Absent: the argument is required. */
  default?: () => Value;
}

const typeLabel: Record<TypeName, string> = {
  tensor: "a tensor", int: "an int", float: "a number", bool: "a bool", string: "a string", list: "a list",
  tuple: "a tuple", block: "a block", none: "none", any: "any value",
};

/** `v` as a `type` (an int widened to a float, in tuples too); a union takes its first option that fits. */
export function checkType(v: Value, type: ParamType | undefined, what: string, span: Span): Value {
  if (!type) return v;
  const fitted = fit(v, type);
  if (fitted) return fitted;
  // Against a tuple type the elements matter, so a tuple or list found is shown whole.
  const found = type.kind !== "name" && (v.k === "tuple" || v.k === "list") ? `the ${v.k} ${show(v)}` : describe(v);
  throw error(`${what} must be ${typeLabelOf(type)}, found ${found}`, span);
}

/** `v` converted to `type`, or undefined when it does not fit; an error value (already reported) fits anything. */
function fit(v: Value, type: ParamType): Value | undefined {
  if (v.k === "poison") return v;
  switch (type.kind) {
    case "union":
      for (const option of type.options) {
        const f = fit(v, option);
        if (f) return f;
      }
      return undefined;
    case "tuple": {
      if (v.k !== "tuple" || v.items.length !== type.items.length) return undefined;
      const items = v.items.map((item, i) => fit(item, type.items[i]!));
      return items.every((i) => i !== undefined) ? { k: "tuple", items: items as Value[] } : undefined;
    }
    case "name": {
      const t = type.name;
      const ok =
        t === "any" || (t === "tensor" && v.k === "tensor") || (t === "int" && v.k === "int") || (t === "float" && (v.k === "float" || v.k === "int")) ||
        (t === "bool" && v.k === "bool") || (t === "string" && v.k === "string") || (t === "list" && v.k === "list") ||
        (t === "tuple" && v.k === "tuple") || (t === "block" && v.k === "fn") || (t === "none" && v.k === "none");
      if (!ok) return undefined;
      return t === "float" && v.k === "int" ? float(v.v) : v;
    }
  }
}

/** "an int", "a tuple (int, int)", "an int or a tuple (int, int)". */
function typeLabelOf(type: ParamType): string {
  if (type.kind === "name") return typeLabel[type.name];
  if (type.kind === "union") return type.options.map(typeLabelOf).join(" or ");
  return `a tuple ${typeSyntax(type)}`;
}

function typeSyntax(type: ParamType): string {
  if (type.kind === "name") return type.name;
  if (type.kind === "union") return type.options.map(typeSyntax).join(" | ");
  return type.items.length === 1 ? `(${typeSyntax(type.items[0]!)},)` : `(${type.items.map(typeSyntax).join(", ")})`;
}

/**
 * Positional then keyword arguments -> one value per parameter, in parameter order, and the
 * span of the argument each came from (the call's, for a default).
 */
export function bindArgs(callee: string, params: ParamSpec[], site: CallSite, args: Value[], kwargs: Map<string, KwArg>): { values: Value[]; spans: Span[] } {
  if (args.length > params.length) {
    const extra = site.argSpans[params.length] ?? site.span;
    throw error(`\`${callee}\` takes at most ${params.length} argument${params.length === 1 ? "" : "s"} but ${args.length} were given`, extra);
  }
  const values: Value[] = [];
  const spans: Span[] = [];
  params.forEach((p, i) => {
    const kw = kwargs.get(p.name);
    if (i < args.length && kw) throw error(`\`${callee}\`: argument \`${p.name}\` given both by position and by name`, kw.span);
    let v: Value;
    let span = site.span;
    if (i < args.length) {
      v = args[i]!;
      span = site.argSpans[i] ?? site.span;
    } else if (kw) {
      v = kw.value;
      span = kw.span;
    } else if (p.default) {
      v = p.default();
    } else {
      throw error(`\`${callee}\` is missing its argument \`${p.name}\``, site.span);
    }
    values.push(checkType(v, p.type, `argument \`${p.name}\` of \`${callee}\``, span));
    spans.push(span);
  });
  for (const [name, kw] of kwargs) {
    if (!params.some((p) => p.name === name)) {
      const known = params.map((p) => p.name).join(", ");
      throw error(`\`${callee}\` has no parameter \`${name}\` (its parameters: ${known || "none"})`, kw.span);
    }
  }
  return { values, spans };
}

/** The closest candidate within a small edit distance, for "did you mean" notes. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Edits (insert, delete, replace, swap two neighbours) turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
