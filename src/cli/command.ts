// What every graphc command provides, the one error boundary they run in, and diagnostics output
// shared by them.
import { UsageError } from "../base/errors.js";
import { CompileError, InternalError, namedError, show } from "../driver.js";
import { renderDiagnostic, type ElaborateResult } from "../frontend/index.js";
import type { Options } from "./args.js";

export interface Command {
  summary: string;
  /** The synopsis: the command, its operands, and the options that choose what it does. */
  usage: string;
  /** Every option it takes; `parse` reads them and `--help` lists them. */
  options: Options;
  /** Returns the exit code: 0 success, 1 an error in the model or its data, 2 bad usage; or throws (see execute). */
  run(argv: string[]): number | Promise<number>;
}

/** The exit code of a bug in graphc (sysexits' EX_SOFTWARE). */
export const INTERNAL_ERROR_EXIT = 70;

/**
 * Runs command `name`, printing what any failure means: a usage error (exit 2), the model's
 * diagnostics or a data or environment error naming its file (exit 1), each without a stack; only
 * a bug in graphc prints its stack (exit 70).
 */
export async function execute(name: string, command: Command, argv: string[]): Promise<number> {
  try {
    return await command.run(argv);
  } catch (thrown) {
    const e = namedError(thrown);
    if (e instanceof CompileError) {
      writeDiagnostics(e.diagnostics, e.diagnostics.length);
      return 1;
    }
    if (e instanceof InternalError) {
      process.stderr.write(`graphc ${name}: internal error (a bug in graphc, please report it)\n${thrown instanceof Error ? thrown.stack : show(thrown)}\n`);
      return INTERNAL_ERROR_EXIT;
    }
    process.stderr.write(`graphc ${name}: ${e.message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
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
