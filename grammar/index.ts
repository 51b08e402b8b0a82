// Source text -> AST, or syntax errors with spans.
import type { CstNode, IParserErrorMessageProvider, IToken, TokenType } from "chevrotain";
import { BadString, ESCAPES, nnLexer, StringLit } from "./lexer.js";
import { NnParser } from "./parser.js";
import { AstBuilder } from "./build-ast.js";
import type { FileAst, Span } from "./ast.js";

export type * from "./ast.js";
export { typeNames } from "./ast.js";

export interface SyntaxError {
  message: string;
  span: Span;
  note?: { message: string; span: Span };
}

const tokenDisplay: Record<string, string> = {
  Identifier: "a name", Integer: "an integer", Float: "a number", String: "a string", EOF: "end of file",
  Arrow: "`=>`", EqEq: "`==`", NotEq: "`!=`", LessEq: "`<=`", GreaterEq: "`>=`", AndAnd: "`&&`", OrOr: "`||`", Pipe: "`|`",
  StarStar: "`**`", SlashSlash: "`//`", Less: "`<`", Greater: "`>`", Equals: "`=`", Bang: "`!`", Plus: "`+`",
  Minus: "`-`", Star: "`*`", Slash: "`/`", Percent: "`%`", Colon: "`:`", Semicolon: "`;`", Comma: "`,`", Dot: "`.`",
  LParen: "`(`", RParen: "`)`", LBracket: "`[`", RBracket: "`]`", LCurly: "`{`", RCurly: "`}`",
};

function display(t: TokenType): string {
  return tokenDisplay[t.name] ?? `\`${t.name.toLowerCase()}\``;
}

function found(t: IToken): string {
  if (t.tokenType.name === "EOF") return "end of file";
  return t.tokenType.name !== "Identifier" && /^[a-z]+$/.test(t.image) ? `the keyword \`${t.image}\`` : `\`${t.image}\``;
}

const ruleDisplay: Record<string, string> = {
  file: "`import`, `block` or `model`", statement: "a statement", expression: "an expression", primary: "an expression",
  unary: "an expression", argument: "an argument", pattern: "a name or `(`", patternAtom: "a name or `(`", param: "a parameter",
};

function alternatives(expected: TokenType[][][]): string {
  const firsts = [...new Set(expected.flatMap((alt) => alt.map((path) => path[0]).filter((t): t is TokenType => !!t)).map(display))];
  return firsts.length > 6 ? "" : firsts.join(", ");
}

/** The token each mismatch expected, for pointing at the bracket a missing one would close. */
const expectedAt = new WeakMap<IToken, TokenType>();

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual, ruleName }) => {
    expectedAt.set(actual, expected);
    const what = ruleName === "body" && expected.name === "RCurly" ? "a statement or `}`" : display(expected);
    const hint = expected.name === "LCurly" && actual.image === "=" ? " (`==` compares)" : "";
    return `expected ${what} but found ${found(actual)}${hint}`;
  },
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `expected \`import\`, \`block\` or \`model\` but found ${found(firstRedundant)}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, ruleName }) => {
    const alts = alternatives(expectedPathsPerAlt);
    return `expected ${ruleDisplay[ruleName] ?? alts ?? ruleName} but found ${found(actual[0]!)}`;
  },
  buildEarlyExitMessage: ({ actual, ruleName, expectedIterationPaths }) => {
    const alts = alternatives([expectedIterationPaths]);
    return `expected ${ruleDisplay[ruleName] ?? (alts || ruleName)} but found ${found(actual[0]!)}`;
  },
};

let parser: NnParser | undefined;

/**
 * Source text as the lexer and the diagnostics read it: no byte-order mark, and lines ending in
 * `\n` (Windows' `\r\n` and old Macs' bare `\r` included). Spans index into this text.
 */
export function normalizeSource(text: string): string {
  return text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
}

function unknownEscapes(t: IToken, file: string, columnOf: (offset: number) => number): SyntaxError[] {
  const found: SyntaxError[] = [];
  // A backslash and the character after it: the lexer ends a string at a backslash's newline.
  for (let i = t.image.indexOf("\\"); i >= 0; i = t.image.indexOf("\\", i + 2)) {
    const escape = String.fromCodePoint(t.image.codePointAt(i + 1)!);
    if (Object.hasOwn(ESCAPES, escape)) continue;
    const start = t.startOffset + i;
    found.push({
      message: `unknown escape \`${visible(`\\${escape}`)}\` in a string (the escapes are \\n, \\t, \\\\ and \\")`,
      span: { file, start, end: start + 1 + escape.length, line: t.startLine ?? 1, col: columnOf(start) },
    });
  }
  return found;
}

/** Syntax errors reported per file: past these, a file is more likely not .nn at all. */
const MAX_ERRORS = 50;

export function parseSource(text: string, file: string): { ast?: FileAst; errors: SyntaxError[] } {
  const errors: SyntaxError[] = [];
  const lexed = nnLexer.tokenize(text);
  const columnOf = columnCounter(text);
  const invalid = lexed.groups.invalid ?? [];
  const badEscapes: SyntaxError[] = [];
  // In text order, as columnOf wants; before parsing, since the syntax tree takes its columns from the tokens.
  for (const t of invalid.length ? [...lexed.tokens, ...invalid].sort((a, b) => a.startOffset - b.startOffset) : lexed.tokens) {
    t.startColumn = columnOf(t.startOffset);
    if (t.tokenType === StringLit) badEscapes.push(...unknownEscapes(t, file, columnOf));
  }
  const spanOf = (t: IToken): Span => ({ file, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, line: t.startLine ?? 1, col: t.startColumn ?? 1 });
  const tooDeep = (t: IToken): SyntaxError => ({ message: "nested too deeply to parse", span: spanOf(t) });
  for (const t of invalid) {
    const what = [...t.image].length === 1 ? "character" : "characters";
    errors.push({ message: t.tokenType === BadString ? "unterminated string" : `unexpected ${what} \`${visible(t.image)}\``, span: spanOf(t) });
  }
  for (const e of lexed.errors) {
    errors.push({ message: `unexpected character \`${text[e.offset] ?? ""}\``, span: { file, start: e.offset, end: e.offset + Math.max(1, e.length), line: e.line ?? 1, col: columnOf(e.offset) } });
  }
  errors.push(...badEscapes);
  parser ??= new NnParser(messages);
  parser.input = lexed.tokens;
  let cst: CstNode;
  try {
    cst = parser.file();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const at = parser.next();
    parser = undefined; // a stack overflow left it in an unknown state
    return { errors: [...errors, tooDeep(at.tokenType.name === "EOF" ? lexed.tokens[lexed.tokens.length - 1]! : at)] };
  }
  let lastLine = 0;
  for (const e of parser.errors) {
    const t = e.token;
    const eof = t.tokenType.name === "EOF" || Number.isNaN(t.startOffset);
    const start = eof ? Math.max(0, text.length - 1) : t.startOffset;
    const pos = eof ? { line: lineOf(text, start), col: columnOf(start) } : { line: t.startLine ?? 1, col: t.startColumn ?? 1 };
    // After an error the parser resumes at the next token that can start a statement, often
    // on the same line, or gives up at a token it cannot place and wants the end of the file:
    // errors there echo the first one. So do those just after an invalid token, which the
    // parser never saw.
    const echo =
      pos.line === lastLine ||
      (lastLine > 0 && (e.name === "NotAllInputParsedException" || expectedAt.get(t)?.name === "EOF")) ||
      invalid.some((i) => i.startOffset < start && pos.line - i.startLine! <= 1);
    lastLine = pos.line;
    if (echo) continue;
    const err: SyntaxError = { message: e.message, span: { file, start, end: eof ? start + 1 : (t.endOffset ?? start) + 1, ...pos } };
    const open = unclosed(lexed.tokens, eof ? lexed.tokens.length : lexed.tokens.indexOf(t), expectedAt.get(t));
    if (open) err.note = { message: `this \`${open.image}\` is not closed`, span: spanOf(open) };
    errors.push(err);
  }
  if (errors.length > 0) return { errors: errors.slice(0, MAX_ERRORS) };
  try {
    return { ast: new AstBuilder(file).file(cst), errors };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return { errors: [tooDeep(lexed.tokens[0]!)] };
  }
}

const openerOf: Record<string, string> = { RParen: "LParen", RBracket: "LBracket", RCurly: "LCurly" };

/**
 * The bracket open before tokens[end], when `closer` would close it and nothing in the file
 * does: the likely cause of the error there.
 */
function unclosed(tokens: IToken[], end: number, closer: TokenType | undefined): IToken | undefined {
  const opener = closer && openerOf[closer.name];
  if (!opener || end < 0) return undefined;
  const stack: IToken[] = [];
  let innermost: IToken | undefined;
  tokens.forEach((t, i) => {
    if (i === end) innermost = stack[stack.length - 1];
    const name = t.tokenType.name;
    if (name === "LParen" || name === "LBracket" || name === "LCurly") stack.push(t);
    else if (stack.length > 0 && openerOf[name] === stack[stack.length - 1]!.tokenType.name) stack.pop();
  });
  if (end === tokens.length) innermost = stack[stack.length - 1];
  return innermost?.tokenType.name === opener && stack.includes(innermost) ? innermost : undefined;
}

/** Invisible characters (a no-break space, a zero-width joiner, control codes) as `\u{...}`. */
function visible(s: string): string {
  return s.replace(/[^\p{L}\p{N}\p{P}\p{S}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * The 1-based column of an offset, counted in characters (code points: Chevrotain counts UTF-16
 * units, two for an emoji). Offsets asked in increasing order cost one pass over the text.
 */
function columnCounter(text: string): (offset: number) => number {
  let at = 0;
  let col = 1;
  return (offset) => {
    if (offset < at) {
      at = text.lastIndexOf("\n", offset - 1) + 1;
      col = 1;
    }
    for (; at < offset; at++) {
      const c = text.charCodeAt(at);
      if (c === 10) col = 1;
      else if (c < 0xd800 || c > 0xdbff) col++; // a high surrogate and its low one are one character
    }
    return col;
  };
}
