// What every graphc command provides, and diagnostics output shared by them.
import { renderDiagnostic, type ElaborateResult } from "../frontend/index.js";

export interface Command {
  summary: string;
  usage: string;
  /** Returns the exit code: 0 success, 1 an error in the model or its data, 2 bad usage. */
  run(argv: string[]): number | Promise<number>;
}

/** Prints rendered diagnostics to stderr, then how many of them are errors. */
export function writeDiagnostics(rendered: readonly string[], errors: number): void {
  for (const d of rendered) process.stderr.write(d + "\n\n");
  if (errors > 0) process.stderr.write(`${errors} error${errors === 1 ? "" : "s"}\n`);
}

/** Prints diagnostics to stderr; true when any is an error. */
export function reportDiagnostics(r: ElaborateResult): boolean {
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  writeDiagnostics(r.diagnostics.map((d) => renderDiagnostic(d, r.sources)), errors);
  return errors > 0;
}
