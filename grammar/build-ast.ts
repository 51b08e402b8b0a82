// CST -> AST. Runs only on a CST without syntax errors, so every child the grammar requires
// is present.
import type { CstElement, CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";
import { ESCAPES } from "./lexer.js";

type Children = Record<string, CstElement[] | undefined>;

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

export class AstBuilder {
  constructor(private readonly fileName: string) {}

  private spanOfToken(t: IToken): A.Span {
    return { file: this.fileName, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, line: t.startLine ?? 1, col: t.startColumn ?? 1 };
  }

  private span(n: CstNode): A.Span {
    const l = n.location!;
    return { file: this.fileName, start: l.startOffset, end: (l.endOffset ?? l.startOffset) + 1, line: l.startLine ?? 1, col: l.startColumn ?? 1 };
  }

  private joinSpans(a: A.Span, b: A.Span): A.Span {
    return { ...a, end: b.end };
  }

  /** All direct children in source order. */
  private ordered(n: CstNode): CstElement[] {
    const all = Object.values(n.children as Children).flatMap((c) => c ?? []);
    const offset = (e: CstElement) => (isToken(e) ? e.startOffset : e.location!.startOffset);
    return all.sort((a, b) => offset(a) - offset(b));
  }

  private nodes(n: CstNode, name: string): CstNode[] {
    return ((n.children as Children)[name] ?? []) as CstNode[];
  }

  private tokens(n: CstNode, name: string): IToken[] {
    return ((n.children as Children)[name] ?? []) as IToken[];
  }

  private one(n: CstNode, name: string): CstNode {
    return this.nodes(n, name)[0]!;
  }

  file(n: CstNode): A.FileAst {
    const out: A.FileAst = { file: this.fileName, imports: [], blocks: [], models: [] };
    for (const imp of this.nodes(n, "importDecl")) {
      const tok = this.tokens(imp, "String")[0]!;
      out.imports.push({ path: unquote(tok.image), span: this.spanOfToken(tok) });
    }
    for (const b of this.nodes(n, "blockDecl")) {
      const decl = this.blockDecl(b);
      (decl.kind === "model" ? out.models : out.blocks).push(decl);
    }
    return out;
  }

  private blockDecl(n: CstNode): A.BlockDecl {
    const name = this.tokens(n, "Identifier")[0]!;
    return {
      kind: this.tokens(n, "Model").length > 0 ? "model" : "block",
      name: name.image,
      nameSpan: this.spanOfToken(name),
      params: this.nodes(n, "param").map((p) => this.param(p)),
      body: this.body(this.one(n, "body")),
      span: this.span(n),
    };
  }

  private param(n: CstNode): A.Param {
    const name = this.tokens(n, "Identifier")[0]!;
    const type = this.nodes(n, "typeExpr")[0];
    const p: A.Param = { name: name.image, span: this.span(n) };
    if (type) p.type = this.typeExpr(type);
    const def = this.nodes(n, "expression")[0];
    if (def) p.default = this.expression(def);
    return p;
  }

  private typeExpr(n: CstNode): A.TypeExpr {
    const options = this.nodes(n, "typeAtom").map((a) => this.typeAtom(a));
    return options.length === 1 ? options[0]! : { kind: "union", options, span: this.span(n) };
  }

  private typeAtom(n: CstNode): A.TypeExpr {
    const word = this.tokens(n, "Word")[0];
    if (word) return { kind: "name", name: word.image, span: this.spanOfToken(word) };
    const items = this.nodes(n, "typeExpr").map((t) => this.typeExpr(t));
    return this.tokens(n, "Comma").length === 0 ? items[0]! : { kind: "tuple", items, span: this.span(n) };
  }

  private body(n: CstNode): A.Stmt[] {
    return this.nodes(n, "statement").map((s) => this.statement(s));
  }

  private statement(n: CstNode): A.Stmt {
    const inner = this.ordered(n).find((e) => !isToken(e)) as CstNode;
    const span = this.span(inner);
    switch (inner.name) {
      case "returnStmt":
        return { kind: "return", value: this.expression(this.one(inner, "expression")), span };
      case "inputStmt": {
        const ids = this.tokens(inner, "Identifier");
        const s: A.Stmt = {
          kind: "input",
          name: ids[0]!.image,
          dtype: ids[1]!.image,
          dtypeSpan: this.spanOfToken(ids[1]!),
          dims: this.nodes(inner, "expression").map((e) => this.expression(e)),
          span,
        };
        if (ids[2]) s.layout = { name: ids[2].image, span: this.spanOfToken(ids[2]) };
        return s;
      }
      case "outputStmt":
        return { kind: "output", name: this.tokens(inner, "Identifier")[0]!.image, value: this.expression(this.one(inner, "expression")), span };
      case "forStmt":
        return {
          kind: "for",
          pattern: this.pattern(this.one(inner, "pattern")),
          iterable: this.expression(this.one(inner, "expression")),
          body: this.body(this.one(inner, "body")),
          span,
        };
      case "ifStmt":
        return this.ifStmt(inner);
      case "assertStmt": {
        const es = this.nodes(inner, "expression");
        const s: A.Stmt = { kind: "assert", cond: this.expression(es[0]!), span };
        if (es[1]) s.message = this.expression(es[1]);
        return s;
      }
      default: {
        const targets = this.tokens(inner, "Identifier").map((t) => ({ name: t.image, span: this.spanOfToken(t) }));
        return { kind: "assign", targets, value: this.expression(this.one(inner, "expression")), span };
      }
    }
  }

  private ifStmt(n: CstNode): A.Stmt {
    const bodies = this.nodes(n, "body");
    const elseIf = this.nodes(n, "ifStmt")[0];
    const s: A.Stmt = { kind: "if", cond: this.expression(this.one(n, "expression")), then: this.body(bodies[0]!), span: this.span(n) };
    if (elseIf) s.else = [this.ifStmt(elseIf)];
    else if (bodies[1]) s.else = this.body(bodies[1]);
    return s;
  }

  private pattern(n: CstNode): A.Pattern {
    const atoms = this.nodes(n, "patternAtom").map((a) => this.patternAtom(a));
    return atoms.length === 1 ? atoms[0]! : { kind: "tuple", items: atoms, span: this.span(n) };
  }

  private patternAtom(n: CstNode): A.Pattern {
    const id = this.tokens(n, "Identifier")[0];
    if (id) return { kind: "name", name: id.image, span: this.spanOfToken(id) };
    const inner = this.pattern(this.one(n, "pattern"));
    return inner.kind === "tuple" ? { ...inner, span: this.span(n) } : { kind: "tuple", items: [inner], span: this.span(n) };
  }

  expression(n: CstNode): A.Expr {
    const inner = this.ordered(n)[0] as CstNode;
    switch (inner.name) {
      case "lambda":
        return this.lambda(inner);
      case "labelled":
        return this.labelled(inner);
      default:
        return this.binaryChain(inner);
    }
  }

  private lambda(n: CstNode): A.Expr {
    const params = this.tokens(n, "Identifier").map((t) => ({ name: t.image, span: this.spanOfToken(t) }));
    return { kind: "lambda", params, body: this.expression(this.one(n, "expression")), span: this.span(n) };
  }

  /** `labelled` (the body an expression) and `labelledPrimary` (the body a postfix expression). */
  private labelled(n: CstNode): A.Expr {
    const path = this.nodes(n, "labelSegment").map((seg) => ({
      parts: this.ordered(seg).filter((e) => !isToken(e) || e.tokenType.name !== "LCurly" && e.tokenType.name !== "RCurly").map((e): A.LabelPart =>
        isToken(e) ? { kind: "text", text: e.image } : { kind: "expr", expr: this.expression(e) }),
      span: this.span(seg),
    }));
    return {
      kind: "label",
      path,
      shared: this.tokens(n, "Shared").length > 0,
      body: n.name === "labelledPrimary" ? this.postfix(this.one(n, "postfix")) : this.expression(this.one(n, "expression")),
      span: this.span(n),
    };
  }

  /** orExpr, andExpr, cmpExpr, addExpr, mulExpr: operands interleaved with operator tokens. */
  private binaryChain(n: CstNode): A.Expr {
    if (n.name === "unary") return this.unary(n);
    const items = this.ordered(n);
    let left = this.binaryChain(items[0] as CstNode);
    for (let i = 1; i < items.length; i += 2) {
      const op = (items[i] as IToken).image as A.BinaryOp;
      const right = this.binaryChain(items[i + 1] as CstNode);
      left = { kind: "binary", op, left, right, span: this.joinSpans(left.span, right.span) };
    }
    return left;
  }

  private unary(n: CstNode): A.Expr {
    const operand = this.nodes(n, "unary")[0];
    if (operand) {
      const opTok = [...this.tokens(n, "Minus"), ...this.tokens(n, "Bang")][0]!;
      return { kind: "unary", op: opTok.image as "-" | "!", operand: this.unary(operand), span: this.span(n) };
    }
    const power = this.one(n, "power");
    const base = this.postfix(this.one(power, "postfix"));
    const exponent = this.nodes(power, "unary")[0];
    if (!exponent) return base;
    const right = this.unary(exponent);
    return { kind: "binary", op: "**", left: base, right, span: this.joinSpans(base.span, right.span) };
  }

  private postfix(n: CstNode): A.Expr {
    const [head, ...suffixes] = this.ordered(n) as CstNode[];
    let e = this.primary(head!);
    for (const s of suffixes) {
      const span = this.joinSpans(e.span, this.span(s));
      if (s.name === "callSuffix") {
        e = { kind: "call", callee: e, args: this.nodes(s, "argument").map((a) => this.argument(a)), span };
      } else {
        e = { kind: "index", target: e, index: this.expression(this.one(s, "expression")), span };
      }
    }
    return e;
  }

  private argument(n: CstNode): A.Arg {
    const name = this.tokens(n, "Identifier")[0];
    const a: A.Arg = { value: this.expression(this.one(n, "expression")), span: this.span(n) };
    if (name) a.name = name.image;
    return a;
  }

  private primary(n: CstNode): A.Expr {
    const e = this.ordered(n)[0]!;
    if (!isToken(e)) {
      const span = this.span(e);
      const exprs = this.nodes(e, "expression").map((x) => this.expression(x));
      switch (e.name) {
        case "parenOrTuple":
          return exprs.length === 1 && this.tokens(e, "Comma").length === 0 ? exprs[0]! : { kind: "tuple", items: exprs, span };
        case "listLit":
          return { kind: "list", items: exprs, span };
        case "seqExpr":
          return { kind: "seq", items: exprs, span };
        case "labelledPrimary":
          return this.labelled(e);
        default: // ifExpr
          return this.ifExpr(e);
      }
    }
    const span = this.spanOfToken(e);
    switch (e.tokenType.name) {
      case "Integer":
        return { kind: "int", value: Number(e.image), span };
      case "Float":
        return { kind: "float", value: Number(e.image), span };
      case "String":
        return { kind: "string", value: unquote(e.image), span };
      case "True":
        return { kind: "bool", value: true, span };
      case "False":
        return { kind: "bool", value: false, span };
      case "None":
        return { kind: "none", span };
      default:
        return { kind: "name", name: e.image, span };
    }
  }

  private ifExpr(n: CstNode): A.Expr {
    const es = this.nodes(n, "expression").map((x) => this.expression(x));
    const nested = this.nodes(n, "ifExpr")[0];
    return { kind: "if", cond: es[0]!, then: es[1]!, else: nested ? this.ifExpr(nested) : es[2]!, span: this.span(n) };
  }
}

/** A string literal's value (parseSource has rejected unknown escapes). A loop: a replace() callback per escape is slow on long runs of them. */
function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  const parts: string[] = [];
  let from = 0;
  for (let i = body.indexOf("\\"); i >= 0; i = body.indexOf("\\", from)) {
    parts.push(body.slice(from, i), ESCAPES[body[i + 1]!]!);
    from = i + 2;
  }
  parts.push(body.slice(from));
  return parts.join("");
}
