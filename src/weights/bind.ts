// Matching a loaded checkpoint against the weights a graph declares.

import type { Graph, Weight } from "../ir/graph.js";
import { initWeights } from "./init.js";
import { type TensorData, fail, kindOf, shapeStr } from "./tensor.js";

export interface LoadedTensor {
  shape: number[];
  data: TensorData;
}

/** Prefix rewrites `[old, new]`, applied in order, each to the result of the one before. */
export type Renames = readonly (readonly [string, string])[];

export interface BindOptions {
  /** Weights a checkpoint may lack (see `unreadBuffers`): missing ones take their default. */
  optional?: ReadonlySet<string>;
  /** Missing optional weights and tensors the graph does not declare are errors, not defaults and warnings. */
  strict?: boolean;
  /** Tensors the graph does not declare are warnings even when `strict`. */
  allowUnexpected?: boolean;
  /** Checkpoint names are rewritten by these before matching. */
  rename?: Renames;
  /** File name for messages. */
  file?: string;
}

export interface BoundWeights {
  data: Map<string, TensorData>;
  warnings: string[];
}

const LIST_LIMIT = 10;

/** A checkpoint tensor whose data is read only when bound: a tensor the graph does not use costs nothing. */
export interface TensorSource {
  shape: readonly number[];
  read(): TensorData;
}

/**
 * Buffers inference never reads (BatchNorm's `num_batches_tracked`): non-trainable weights no
 * node and no output reads. Checkpoints converted from other frameworks have none.
 */
export function unreadBuffers(graph: Graph): Set<string> {
  const read = new Set([...graph.nodes.flatMap((n) => n.inputs), ...graph.outputs.map((p) => p.value)]);
  return new Set(graph.weights.filter((w) => !w.trainable && !read.has(w.value)).map((w) => w.name));
}

/** `bindCheckpoint` for tensors already in memory. */
export function matchCheckpoint(
  expected: readonly Weight[],
  file: ReadonlyMap<string, LoadedTensor>,
  options: BindOptions = {},
): BoundWeights {
  const sources = new Map([...file].map(([name, t]): [string, TensorSource] => [name, { shape: t.shape, read: () => t.data }]));
  return bindCheckpoint(expected, sources, options);
}

/**
 * Checks that `file` (its names rewritten by `options.rename`) holds the expected weights with
 * equal shapes and compatible dtypes: f32 weights need float data (F16/BF16/F64 were widened or
 * narrowed on reading), i32 weights I32, i64 buffers (num_batches_tracked) I64 or I32, widened
 * losslessly. Missing optional weights take their default and extra tensors are a warning, both
 * errors when `strict`. Every name and shape is checked before any data is read.
 */
export function bindCheckpoint(
  expected: readonly Weight[],
  checkpoint: ReadonlyMap<string, TensorSource>,
  options: BindOptions = {},
): BoundWeights {
  const fileName = options.file ?? "<checkpoint>";
  const warnings: string[] = [];
  const { file, originals } = renamed(checkpoint, options.rename ?? [], fileName);

  const absent = expected.filter((w) => !file.has(w.name));
  const takesDefault = (w: Weight) => !options.strict && options.optional?.has(w.name) === true;
  const defaulted = absent.filter(takesDefault);
  const missing = absent.filter((w) => !takesDefault(w)).map((w) => w.name);
  if (missing.length > 0) fail("missing_weights", fileName, `missing ${missing.length} weight(s): ${list(missing)}`);

  const names = new Set(expected.map((w) => w.name));
  const unexpected = [...file.keys()].filter((n) => !names.has(n)).map((n) => originals.get(n)!);
  if (unexpected.length > 0) {
    const detail = `${unexpected.length} tensor(s) not in the graph: ${list(unexpected)}`;
    if (options.strict && !options.allowUnexpected) fail("unexpected_tensors", fileName, detail);
    warnings.push(`${fileName}: ignoring ${detail}`);
  }

  const data: Map<string, TensorData> = initWeights(defaulted);
  const present = expected.filter((w) => file.has(w.name));
  for (const w of present) {
    const found = file.get(w.name)!.shape;
    const want = w.type.shape;
    if (found.length !== want.length || found.some((d, i) => d !== want[i])) {
      fail("shape_mismatch", fileName, `expected shape ${shapeStr(want)}, found ${shapeStr(found)}`, w.name);
    }
  }

  for (const w of present) {
    const t = file.get(w.name)!.read();
    const found = kindOf(t);
    if (w.type.dtype === found) {
      data.set(w.name, t);
    } else if (w.type.dtype === "i64" && t instanceof Int32Array) {
      data.set(w.name, BigInt64Array.from(t, BigInt));
    } else {
      fail("dtype_mismatch", fileName, `expected ${w.type.dtype}, found ${found} data`, w.name);
    }
  }
  return { data, warnings };
}

/** `name` after each rule of `rename` in turn. */
export function renamedName(name: string, rename: Renames): string {
  return rename.reduce((n, [from, to]) => (n.startsWith(from) ? to + n.slice(from.length) : n), name);
}

/** `file` under its renamed names, and each new name's original; two tensors renamed to one name are an error. */
function renamed(file: ReadonlyMap<string, TensorSource>, rename: Renames, fileName: string): { file: Map<string, TensorSource>; originals: Map<string, string> } {
  const out = new Map<string, TensorSource>();
  const originals = new Map<string, string>();
  for (const [original, source] of file) {
    const name = renamedName(original, rename);
    const other = originals.get(name);
    if (other !== undefined) fail("rename_collision", fileName, `tensors "${other}" and "${original}" are both named "${name}" after renaming`);
    out.set(name, source);
    originals.set(name, original);
  }
  return { file: out, originals };
}

function list(names: string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(", ");
  return names.length > LIST_LIMIT ? `${shown}, ... (${names.length - LIST_LIMIT} more)` : shown;
}
