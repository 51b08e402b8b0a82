// What every graphc command provides, and diagnostics output shared by them.
import { renderDiagnostic, type ElaborateResult } from "../frontend/index.js";

export interface Command {
  summary: string;
  usage: string;
  /** Returns the exit code: 0 success, 1 an error in the model or its data, 2 bad usage. */
  run(argv: string[]): number | Promise<number>;
}

/** Prints diagnostics to stderr; true when any is an error. */
export function reportDiagnostics(r: ElaborateResult): boolean {
  for (const d of r.diagnostics) process.stderr.write(renderDiagnostic(d, r.sources) + "\n\n");
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  if (errors > 0) process.stderr.write(`${errors} error${errors === 1 ? "" : "s"}\n`);
  return errors > 0;
}
