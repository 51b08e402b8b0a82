// Errors every layer may throw and the driver maps to exit codes.

/** A mistake on the command line or in API options (exit code 2), not in the model. */
export class UsageError extends Error {}

/**
 * The machine, not the model or the caller, stopped the work (exit code 1): no space left on a
 * device, an I/O error, memory that ran out (Binaryen's included).
 */
export class EnvironmentError extends Error {
  override readonly name = "EnvironmentError";
}

/** A failed system call (Node's errors with an errno code and a syscall), or Node refusing a file over its 2 GiB read limit. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { dest?: string } {
  const { code, syscall } = (e ?? {}) as NodeJS.ErrnoException;
  return e instanceof Error && typeof code === "string" && (typeof syscall === "string" || code === "ERR_FS_FILE_TOO_LARGE");
}

/** "no such file or directory (ENOENT)": what a system error says, without Node's syscall and path. */
export function systemErrorReason(e: NodeJS.ErrnoException): string {
  // Node's message is "CODE: what happened, syscall 'path'".
  const reason = /^\w+: ([^,]+)/.exec(e.message)?.[1] ?? e.message;
  return `${reason}${reason.includes(e.code!) ? "" : ` (${e.code})`}`;
}
