// The frontend's entry: .nn files -> an IR graph plus diagnostics.
import { realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { normalizeSource, parseSource, type FileAst, type Span } from "../../grammar/index.js";
import { UsageError } from "../base/errors.js";
import type { Graph } from "../ir/graph.js";
import { builtinScope } from "./builtins.js";
import { error, DiagnosticError, isStackOverflow, type Diagnostic } from "./diagnostics.js";
import { Elaborator } from "./elaborate.js";
import { PRELUDE, PRELUDE_FILE } from "./prelude.js";
import { Env } from "./scope.js";
import { fileProblem, readSourceFile } from "./source-file.js";
import { bool, float, int, POISON, str, type Value } from "./values.js";

export type { Diagnostic } from "./diagnostics.js";
export { renderDiagnostic } from "./diagnostics.js";

export interface ElaborateOptions {
  /** Model parameter values; strings are read as .nn literals ("0.5", "true", "224"). */
  set?: Record<string, string | number | boolean>;
  /** Input shape overrides, e.g. { image: [4, 3, 224, 224] }. */
  shapes?: Record<string, number[]>;
  /** Which model of the file; default: the last one. */
  model?: string;
  /**
   * Elaborate for training: each dropout() with p > 0 is a `dropout` node (the identity at
   * inference), which trainingForward replaces by a seeded mask in train mode; default: dropout()
   * is erased.
   */
  training?: boolean;
}

export interface ElaborateResult {
  graph?: Graph;
  diagnostics: Diagnostic[];
  /** Every source text read, by file name, for rendering diagnostics. */
  sources: Map<string, string>;
}

interface Loaded {
  ast?: FileAst;
  env: Env;
  state: "loading" | "done";
}

/** Whether `path` is `folder` or inside it (both absolute). */
function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** A file being loaded: its name (as diagnostics show it) and its real path. */
interface FileRef {
  file: string;
  real: string;
}

class Loader {
  readonly sources = new Map<string, string>();
  /** By real path: a file reached by two names is loaded once. */
  private readonly modules = new Map<string, Loaded>();
  /** Files being loaded, importer first. */
  private readonly loading: FileRef[] = [];
  readonly el: Elaborator;
  readonly globals: Env;
  /**
   * The folder imports must stay in: the top-level file's (for text without a file,
   * `<source>`, the working directory's), as written and with symbolic links resolved, so
   * that neither `..` nor a link leads out of it.
   */
  private readonly root: { shown: string; lexical: string; real: string };

  constructor(name: string, topLevelFile: string, training: boolean) {
    this.el = new Elaborator(name, training);
    this.globals = builtinScope(this.el);
    const folder = dirname(topLevelFile);
    this.root = { shown: topLevelFile === SOURCE_TEXT ? "the working directory" : `the folder of ${topLevelFile}`, lexical: resolve(folder), real: realpathOr(resolve(folder)) };
    const prelude = this.parse(PRELUDE, PRELUDE_FILE);
    for (const b of prelude?.blocks ?? []) this.globals.set(b.name, { k: "fn", fn: this.el.blockCallable(b, this.globals) });
  }

  private parse(raw: string, file: string): FileAst | undefined {
    const text = normalizeSource(raw);
    this.sources.set(file, text);
    const { ast, errors } = parseSource(text, file);
    for (const e of errors) this.el.diagnostics.push({ severity: "error", message: e.message, span: e.span, notes: e.note ? [e.note] : [] });
    return ast;
  }

  /** The file an import names and its text, or why it may not be imported. */
  private resolveImport(importer: string, path: string): (FileRef & { text: string }) | { problem: string } {
    if (!path.endsWith(".nn")) return { problem: "only .nn files can be imported" };
    if (isAbsolute(path)) return { problem: "import paths are relative to the importing file" };
    const file = join(dirname(importer), path);
    const outside = { problem: `imports must stay inside ${this.root.shown}` };
    // Checked as written first, so that a path outside tells nothing about what exists there.
    if (!isWithin(this.root.lexical, resolve(file))) return outside;
    let real: string;
    try {
      real = realpathSync(file);
    } catch (e) {
      return { problem: `${file} ${fileProblem(e)}` };
    }
    if (!isWithin(this.root.real, real)) return { problem: `${file} leads, through a symbolic link, outside ${this.root.shown}` };
    if (!real.endsWith(".nn")) return { problem: `${file} is a link to a file that is not .nn source` };
    const read = readSourceFile(real, true);
    return "text" in read ? { file, real, text: read.text } : { problem: `${file} ${read.problem}` };
  }

  /** Loads the top-level file (which need not exist when `text` stands for it). */
  loadModel(file: string, text: string): Loaded {
    return this.load({ file, real: realpathOr(resolve(file)) }, text);
  }

  private load(ref: FileRef, text: string, importedAt?: Span): Loaded {
    const { file, real } = ref;
    const known = this.modules.get(real);
    if (known) {
      if (known.state === "loading") {
        const cycle = [...this.loading.slice(this.loading.findIndex((f) => f.real === real)).map((f) => f.file), file];
        this.el.report(error(`import cycle: ${cycle.join(" imports ")}`, importedAt));
      }
      return known;
    }
    const mod: Loaded = { env: new Env(this.globals), state: "loading" };
    this.modules.set(real, mod);
    this.loading.push(ref);
    const ast = this.parse(text, file);
    if (ast) {
      mod.ast = ast;
      for (const d of [...ast.blocks, ...ast.models]) this.el.checkParams(d);
      /** Where each top-level name is defined: its block's name. */
      const origin = new Map<string, Span>();
      /** `at` is where this file defines the name: the block's name, or the import. */
      const define = (name: string, v: Value, decl: Span, at: Span) => {
        const first = origin.get(name);
        if (first) {
          this.el.report(error(`\`${name}\` is defined twice`, at, [{ message: "first defined here", span: first }]));
          mod.env.set(name, POISON); // which one a use meant is unknown
          return;
        }
        if (this.globals.lookup(name)) {
          this.el.report(error(`\`${name}\` is a built-in; choose another name`, at));
          return;
        }
        mod.env.set(name, v);
        origin.set(name, decl);
      };
      for (const imp of ast.imports) {
        const found = this.resolveImport(file, imp.path);
        if ("problem" in found) {
          this.el.report(error(`cannot import "${imp.path}": ${found.problem}`, imp.span));
          continue;
        }
        const dep = this.load(found, found.text, imp.span);
        for (const b of dep.ast?.blocks ?? []) define(b.name, dep.env.lookup(b.name) ?? POISON, b.nameSpan, imp.span);
      }
      for (const b of ast.blocks) define(b.name, { k: "fn", fn: this.el.blockCallable(b, mod.env) }, b.nameSpan, b.nameSpan);
    }
    this.loading.pop();
    mod.state = "done";
    return mod;
  }
}

function literal(v: string | number | boolean): Value {
  if (typeof v === "boolean") return bool(v);
  if (typeof v === "number") return Number.isInteger(v) ? int(v) : float(v);
  if (v === "true" || v === "false") return bool(v === "true");
  if (/^[+-]?\d+$/.test(v)) return int(Number(v));
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$/.test(v)) return float(Number(v));
  return str(v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);
}

/** The file name of .nn text given without one: it stands for a file in the working directory. */
export const SOURCE_TEXT = "<source>";

export function elaborateSource(text: string, file: string, opts: ElaborateOptions = {}): ElaborateResult {
  const loader = new Loader("model", file, opts.training === true);
  const el = loader.el;
  const mod = loader.loadModel(file, text);
  const result = (graph?: Graph): ElaborateResult => ({ ...(graph ? { graph } : {}), diagnostics: el.diagnostics, sources: loader.sources });
  if (!mod.ast) return result();
  const models = mod.ast.models;
  if (opts.model !== undefined && !models.some((m) => m.name === opts.model))
    throw new UsageError(`${file} has no model \`${opts.model}\`${models.length ? ` (it has: ${models.map((m) => m.name).join(", ")})` : ""}`);
  const decl = opts.model !== undefined ? models.find((m) => m.name === opts.model)! : models[models.length - 1];
  if (!decl) {
    el.report(error(`${file} defines no model`, { file, start: 0, end: 0, line: 1, col: 1 }, [{ message: "a file compiles its last `model NAME(...) { ... }`" }]));
    return result();
  }
  const set = new Map<string, Value>();
  for (const [name, v] of Object.entries(opts.set ?? {})) {
    if (!decl.params.some((p) => p.name === name))
      throw new UsageError(`model \`${decl.name}\` has no parameter \`${name}\` (its parameters: ${decl.params.map((p) => p.name).join(", ") || "none"})`);
    set.set(name, literal(v));
  }
  el.graph.name = decl.name;
  try {
    el.model(decl, mod.env, set, new Map(Object.entries(opts.shapes ?? {})));
  } catch (e) {
    if (isStackOverflow(e)) el.report(error(`model \`${decl.name}\` nests too deeply to elaborate`, decl.nameSpan));
    else if (e instanceof DiagnosticError) el.report(e);
    else throw e;
  }
  const failed = el.diagnostics.some((d) => d.severity === "error");
  const unused = el.unusedShapes();
  if (!failed && unused.length) throw new UsageError(`--shape names no input of \`${decl.name}\`: ${unused.join(", ")} (inputs: ${el.graph.inputs.map((i) => i.name).join(", ")})`);
  return result(failed ? undefined : el.graph);
}

export function elaborateFile(path: string, opts: ElaborateOptions = {}): ElaborateResult {
  const read = readSourceFile(path);
  if (!("text" in read)) throw new UsageError(`cannot read ${path}: it ${read.problem}`);
  return elaborateSource(read.text, path, opts);
}
