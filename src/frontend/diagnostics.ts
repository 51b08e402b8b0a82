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

/** Longer source lines are shown as a window around the span. */
const MAX_LINE = 160;

function renderSnippet(span: Span, sources: SourceMap): string[] {
  const text = sources.get(span.file);
  const header = `  --> ${location(span)}`;
  if (text === undefined) return [header];
  const lineStart = text.lastIndexOf("\n", span.start - 1) + 1;
  let lineEnd = text.indexOf("\n", lineStart);
  if (lineEnd < 0) lineEnd = text.length;
  let line = text.slice(lineStart, lineEnd).replace(/\r$/, "").replace(/\t/g, " ");
  let col = span.start - lineStart;
  if (line.length > MAX_LINE) {
    const from = Math.max(0, Math.min(col - MAX_LINE / 4, line.length - MAX_LINE));
    line = `${from > 0 ? "..." : ""}${line.slice(from, from + MAX_LINE)}${from + MAX_LINE < line.length ? "..." : ""}`;
    col += (from > 0 ? 3 : 0) - from;
  }
  const width = Math.max(1, Math.min(span.end - span.start, line.length - col));
  const gutter = " ".repeat(String(span.line).length);
  return [
    header,
    `${gutter} |`,
    `${span.line} | ${line}`,
    `${gutter} | ${" ".repeat(col)}${"^".repeat(width)}`,
  ];
}
