// Diagnostics: located errors rendered like rustc's, with the source line and a caret under
// the span. A user mistake always ends here, never in a stack trace.
import type { Span } from "../../grammar/index.js";

export interface Note {
  message: string;
  span?: Span;
}

export interface Diagnostic {
  severity: "error" | "warning";
  message: string;
  span?: Span;
  notes: Note[];
}

/** Thrown inside the frontend to abandon the current statement; caught and recorded. */
export class DiagnosticError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

/** JavaScript's stack overflow: a program nested too deeply, reported like any user error. */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && e.message.includes("call stack");
}

export function error(message: string, span?: Span, notes: Note[] = []): DiagnosticError {
  return new DiagnosticError({ severity: "error", message, ...(span ? { span } : {}), notes });
}

/** Source texts by file name, for rendering. */
export type SourceMap = ReadonlyMap<string, string>;

export function location(span: Span): string {
  return `${span.file}:${span.line}:${span.col}`;
}

export function renderDiagnostic(d: Diagnostic, sources: SourceMap): string {
  const out = [`${d.severity}: ${d.message}`];
  if (d.span) out.push(...renderSnippet(d.span, sources));
  for (const n of d.notes) out.push(n.span ? `  = note: ${n.message} (${location(n.span)})` : `  = note: ${n.message}`);
  return out.join("\n");
}

/** Longer source lines are shown as a window around the span (in characters). */
const MAX_LINE = 160;

// Terminal columns a character takes (a simple wcwidth): East Asian wide and fullwidth
// characters and emoji take two, combining marks and zero-width characters none.
const WIDE = /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]|\p{Emoji_Presentation}/u;
const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200B-\u200F\u2060\uFEFF]/u;

function displayWidth(chars: readonly string[]): number {
  let w = 0;
  for (const c of chars) w += ZERO_WIDTH.test(c) ? 0 : WIDE.test(c) ? 2 : 1;
  return w;
}

const isLowSurrogate = (text: string, i: number) => (text.charCodeAt(i) & 0xfc00) === 0xdc00;

function renderSnippet(span: Span, sources: SourceMap): string[] {
  const text = sources.get(span.file);
  const header = `  --> ${location(span)}`;
  if (text === undefined) return [header];
  const lineStart = text.lastIndexOf("\n", span.start - 1) + 1;
  let lineEnd = text.indexOf("\n", lineStart);
  if (lineEnd < 0) lineEnd = text.length;
  // The part of the line any window can show (a long line is not split into characters whole),
  // widened where it would split a character.
  let from16 = Math.max(lineStart, span.start - 2 * MAX_LINE);
  if (from16 > lineStart && isLowSurrogate(text, from16)) from16++;
  let to16 = Math.min(lineEnd, span.start + 2 * MAX_LINE);
  if (to16 < lineEnd && isLowSurrogate(text, to16)) to16++;
  // Characters (code points), so that a window never splits one and the caret counts them.
  const chars = [...text.slice(from16, to16).replace(/\t/g, " ")];
  const col = [...text.slice(from16, span.start)].length;
  const end = col + [...text.slice(span.start, Math.max(span.start, Math.min(span.end, to16)))].length;
  const from = chars.length > MAX_LINE ? Math.max(0, Math.min(col - MAX_LINE / 4, chars.length - MAX_LINE)) : 0;
  const to = Math.min(chars.length, from + MAX_LINE);
  const before = from > 0 || from16 > lineStart ? "..." : "";
  const line = `${before}${chars.slice(from, to).join("")}${to < chars.length || to16 < lineEnd ? "..." : ""}`;
  const gutter = " ".repeat(String(span.line).length);
  return [
    header,
    `${gutter} |`,
    `${span.line} | ${line}`,
    `${gutter} | ${" ".repeat(before.length + displayWidth(chars.slice(from, col)))}${"^".repeat(Math.max(1, displayWidth(chars.slice(col, Math.min(end, to)))))}`,
  ];
}
