// Where the commands write. Output paths are checked before any long work (a bad one is a usage
// error naming it), and every file is written atomically: to a temporary file in the same folder,
// then renamed into place, so a command that fails part-way leaves the files that were there.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { TargetFile } from "../../codegen/target.js";
import { UsageError } from "../base/errors.js";
import { fileError } from "../driver.js";

let temporaries = 0;
const temporaryName = (name: string) => `.${name}.graphc-${process.pid}-${temporaries++}.tmp`;

/** What is at `path`, or undefined when nothing is. */
function statOf(path: string, flag: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw fileError(e, path, flag);
  }
}

/** Creates and removes a file in `dir`: the one test of writability that holds for root and /proc alike. */
function probe(dir: string, flag: string, target: string): void {
  const path = join(dir, temporaryName("probe"));
  try {
    closeSync(openSync(path, "wx"));
    unlinkSync(path);
  } catch (e) {
    throw fileError(e, dir, `${flag} ${target}: cannot write in`);
  }
}

/** The folder mkdir -p would create `dir` in: `dir`'s nearest existing ancestor, which must be a folder. */
function existingAncestor(dir: string, flag: string): string {
  for (let at = dir; ; at = dirname(at)) {
    const stats = statOf(at, flag);
    if (stats?.isDirectory()) return at;
    if (stats) throw new UsageError(`${flag} ${dir}: ${at === dir ? "is not a directory" : `${at} is not a directory`}`);
  }
}

/** Checks that `dir` is a folder graphc can write in, or can be made one (it is made when the files are written). */
export function checkOutputDir(dir: string, flag: string): void {
  if (dir === "") throw new UsageError(`${flag} needs a directory`);
  probe(existingAncestor(dir, flag), flag, dir);
}

/** Checks that `file` can be written: nothing or a regular file is there, in a folder graphc can write in. */
export function checkOutputFile(file: string, flag: string): void {
  if (file === "") throw new UsageError(`${flag} needs a file name`);
  const stats = statOf(file, flag);
  if (stats && !stats.isFile()) throw new UsageError(`${flag} ${file}: ${stats.isDirectory() ? "is a directory" : "is not a regular file"}`);
  const dir = dirname(file);
  const parent = statOf(dir, flag);
  if (!parent?.isDirectory()) throw new UsageError(`${flag} ${file}: ${parent ? `${dir} is not a directory` : `there is no directory ${dir}`}`);
  probe(dir, flag, file);
}

/**
 * Writes `files` into `dir` (made if needed): every one to a temporary file first, then each
 * renamed over its name, the first (the module that loads the others) last. Should a write fail,
 * the temporary files go and the old files stay.
 */
export function writeFiles(dir: string, files: readonly TargetFile[]): void {
  let path = dir;
  const written: [temporary: string, path: string][] = [];
  try {
    mkdirSync(dir, { recursive: true });
    for (const f of files) {
      path = join(dir, f.name);
      if (statOf(path, "cannot write")?.isDirectory()) throw new UsageError(`cannot write ${path}: a directory is in the way`);
      const temporary = join(dir, temporaryName(f.name));
      written.push([temporary, path]);
      writeFileSync(temporary, f.contents, { flag: "wx" });
    }
    for (const [temporary, final] of written.toReversed()) {
      path = final;
      renameSync(temporary, final);
    }
  } catch (e) {
    for (const [temporary] of written) rmSync(temporary, { force: true });
    throw fileError(e, path, "cannot write");
  }
}

/** Writes one file atomically (see writeFiles). */
export function writeFile(path: string, contents: Uint8Array | string): void {
  writeFiles(dirname(path), [{ name: basename(path), contents }]);
}
