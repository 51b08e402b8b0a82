// Reading .nn source from disk, for the file a command names and for imports: regular files
// only, checked on the opened descriptor (so no other file can be swapped in between the check
// and the read, and a FIFO or a device is never read), at most MAX_SOURCE_BYTES, and UTF-8.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** The largest source file read: far above any real model (the zoo's largest, specs/lib/bert.nn, is 9 KB). */
export const MAX_SOURCE_BYTES = 16 * 2 ** 20;

/** The text, or why there is none: a phrase that follows the file's name ("is not a regular file"). */
export type SourceRead = { text: string } | { problem: string };

/**
 * Reads `path`. With `noFollow`, a symbolic link as its last component is refused (the caller
 * resolved the path and checked where it leads: nothing may replace it with a link since).
 */
export function readSourceFile(path: string, noFollow = false): SourceRead {
  let fd: number;
  try {
    // Non-blocking: opening a FIFO would otherwise wait for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    return { problem: fileProblem(e) };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: "is not a regular file" };
    const tooLarge = { problem: `is larger than ${MAX_SOURCE_BYTES / 2 ** 20} MiB, the most a source file may be` };
    if (stat.size > MAX_SOURCE_BYTES) return tooLarge;
    // fstat's size is a first guess only (procfs reports 0, a file may grow): read to the cap.
    let buffer = Buffer.alloc(Math.min(MAX_SOURCE_BYTES + 1, stat.size + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_SOURCE_BYTES) return tooLarge;
        const larger = Buffer.alloc(Math.min(MAX_SOURCE_BYTES + 1, 2 * length + 4096));
        buffer.copy(larger);
        buffer = larger;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return decodeUtf8(buffer.subarray(0, length));
  } catch (e) {
    return { problem: fileProblem(e) };
  } finally {
    closeSync(fd);
  }
}

/** A file system error as a phrase that follows the file's name. */
export function fileProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return "does not exist";
  if (code === "EACCES" || code === "EPERM") return "cannot be read (permission denied)";
  if (code === "ELOOP") return "is a symbolic link";
  return `cannot be read (${code ?? String(e)})`;
}

/** UTF-8 text (a byte-order mark dropped), or where it is not: such a file's bytes are never shown. */
function decodeUtf8(bytes: Uint8Array): SourceRead {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    // The longest prefix that decodes as a stream (a sequence cut short at its end is no error
    // there, so a longer prefix never decodes when a shorter one fails): a bisection.
    const decodes = (n: number) => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
        return true;
      } catch {
        return false;
      }
    };
    let lo = 0;
    for (let hi = bytes.length; lo < hi; ) {
      const mid = Math.ceil((lo + hi) / 2);
      if (decodes(mid)) lo = mid;
      else hi = mid - 1;
    }
    const before = new TextDecoder().decode(bytes.subarray(0, lo), { stream: true }); // whole characters only
    const line = before.split("\n").length;
    const col = [...before.slice(before.lastIndexOf("\n") + 1)].length + 1;
    return { problem: `is not UTF-8 text (an invalid byte at line ${line}, column ${col})` };
  }
}
