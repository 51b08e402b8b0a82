// The AST of a .nn file. Every node carries the span of source text it came from.

export interface Span {
  file: string;
  start: number; // offsets into the file text, end exclusive
  end: number;
  line: number; // 1-based
  col: number; // 1-based
}

export type TypeName = "tensor" | "int" | "float" | "bool" | "string" | "list" | "tuple" | "block" | "none" | "any";
export const typeNames: readonly TypeName[] = ["tensor", "int", "float", "bool", "string", "list", "tuple", "block", "none", "any"];

/**
 * A parameter's declared type: a name (checked by the frontend against typeNames), a tuple of
 * given element types `(int, int)`, or a union `int | (int, int)`.
 */
export type TypeExpr =
  | { kind: "name"; name: string; span: Span }
  | { kind: "tuple"; items: TypeExpr[]; span: Span }
  | { kind: "union"; options: TypeExpr[]; span: Span };

export interface Param {
  name: string;
  type?: TypeExpr;
  default?: Expr;
  span: Span;
}

export interface FileAst {
  file: string;
  imports: { path: string; span: Span }[];
  blocks: BlockDecl[];
  models: BlockDecl[];
}

export interface BlockDecl {
  kind: "block" | "model";
  name: string;
  nameSpan: Span;
  params: Param[];
  body: Stmt[];
  span: Span;
}

export type Pattern = { kind: "name"; name: string; span: Span } | { kind: "tuple"; items: Pattern[]; span: Span };

export type Stmt =
  | { kind: "assign"; targets: { name: string; span: Span }[]; value: Expr; span: Span }
  | { kind: "return"; value: Expr; span: Span }
  | { kind: "input"; name: string; dtype: string; dtypeSpan: Span; dims: Expr[]; layout?: { name: string; span: Span }; span: Span }
  | { kind: "output"; name: string; value: Expr; span: Span }
  | { kind: "for"; pattern: Pattern; iterable: Expr; body: Stmt[]; span: Span }
  | { kind: "if"; cond: Expr; then: Stmt[]; else?: Stmt[]; span: Span }
  | { kind: "assert"; cond: Expr; message?: Expr; span: Span };

/** One segment of a label path: concatenated identifier, integer and `{expr}` parts. */
export type LabelPart = { kind: "text"; text: string } | { kind: "expr"; expr: Expr };
export interface LabelSegment {
  parts: LabelPart[];
  span: Span;
}

export interface Arg {
  name?: string;
  value: Expr;
  span: Span;
}

export type BinaryOp = "||" | "&&" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*" | "/" | "//" | "%" | "**";

export type Expr =
  | { kind: "int"; value: number; span: Span }
  | { kind: "float"; value: number; span: Span }
  | { kind: "string"; value: string; span: Span }
  | { kind: "bool"; value: boolean; span: Span }
  | { kind: "none"; span: Span }
  | { kind: "name"; name: string; span: Span }
  | { kind: "list"; items: Expr[]; span: Span }
  | { kind: "tuple"; items: Expr[]; span: Span }
  | { kind: "unary"; op: "-" | "!"; operand: Expr; span: Span }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr; span: Span }
  | { kind: "call"; callee: Expr; args: Arg[]; span: Span }
  | { kind: "index"; target: Expr; index: Expr; span: Span }
  | { kind: "if"; cond: Expr; then: Expr; else: Expr; span: Span }
  | { kind: "lambda"; params: { name: string; span: Span }[]; body: Expr; span: Span }
  | { kind: "label"; path: LabelSegment[]; shared: boolean; body: Expr; span: Span }
  | { kind: "seq"; items: Expr[]; span: Span };
