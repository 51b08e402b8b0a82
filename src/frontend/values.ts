// Compile-time values of the .nn language. Only tensors reach the IR; the rest exists while
// the model is being elaborated.
import type { Span } from "../../grammar/index.js";
import { formatType, type TensorType } from "../ir/graph.js";

export interface KwArg {
  value: Value;
  span: Span;
}

/** Everything a callable needs to know about the call it serves. */
export interface CallSite {
  span: Span;
  /** Span of each positional argument, for precise errors. */
  argSpans: Span[];
}

export interface Callable {
  name: string;
  call(site: CallSite, args: Value[], kwargs: Map<string, KwArg>): Value;
}

export type Value =
  | { k: "int"; v: number }
  | { k: "float"; v: number }
  | { k: "bool"; v: boolean }
  | { k: "string"; v: string }
  | { k: "none" }
  | { k: "list"; items: Value[] }
  | { k: "tuple"; items: Value[] }
  | { k: "tensor"; id: number; type: TensorType }
  | { k: "fn"; fn: Callable }
  /** The result of an expression that already reported an error: absorbs everything it meets. */
  | { k: "poison" };

export type TensorValue = Extract<Value, { k: "tensor" }>;

export const NONE: Value = { k: "none" };
export const POISON: Value = { k: "poison" };
export const int = (v: number): Value => ({ k: "int", v });
export const float = (v: number): Value => ({ k: "float", v });
export const bool = (v: boolean): Value => ({ k: "bool", v });
export const str = (v: string): Value => ({ k: "string", v });
export const list = (items: Value[]): Value => ({ k: "list", items });
export const tuple = (items: Value[]): Value => ({ k: "tuple", items });

const kindNames: Record<Value["k"], string> = {
  int: "an int", float: "a float", bool: "a bool", string: "a string", none: "none", list: "a list", tuple: "a tuple",
  tensor: "a tensor", fn: "a block", poison: "an erroneous value",
};

/** "a tensor f32[1, 64, 56, 56]", "the int 3": what a message says was found. */
export function describe(v: Value): string {
  switch (v.k) {
    case "tensor":
      return `a tensor ${formatType(v.type)}`;
    case "int":
    case "float":
    case "bool":
      return `the ${v.k} ${show(v)}`;
    case "string":
      return `the string ${show(v)}`;
    case "fn":
      return `the block \`${v.fn.name}\``;
    default:
      return kindNames[v.k];
  }
}

export function show(v: Value): string {
  switch (v.k) {
    case "int":
      return String(v.v);
    case "float":
      return Number.isInteger(v.v) ? v.v.toFixed(1) : String(v.v);
    case "bool":
      return String(v.v);
    case "string":
      return JSON.stringify(v.v);
    case "none":
      return "none";
    case "list":
      return `[${v.items.map(show).join(", ")}]`;
    case "tuple":
      return v.items.length === 1 ? `(${show(v.items[0]!)},)` : `(${v.items.map(show).join(", ")})`;
    case "tensor":
      return formatType(v.type);
    case "fn":
      return v.fn.name;
    case "poison":
      return "<error>";
  }
}

export function equal(a: Value, b: Value): boolean {
  if ((a.k === "int" || a.k === "float") && (b.k === "int" || b.k === "float")) return a.v === b.v;
  if (a.k !== b.k) return false;
  switch (a.k) {
    case "bool":
    case "string":
      return a.v === (b as typeof a).v;
    case "none":
      return true;
    case "list":
    case "tuple": {
      const bi = (b as typeof a).items;
      return a.items.length === bi.length && a.items.every((x, i) => equal(x, bi[i]!));
    }
    case "tensor":
      return a.id === (b as typeof a).id;
    case "fn":
      return a.fn === (b as typeof a).fn;
    default:
      return false;
  }
}
