// Matching a loaded checkpoint against the weights a graph declares.

import type { Weight } from "../ir/graph.js";
import { type TensorData, fail, kindOf, shapeStr } from "./tensor.js";

export interface LoadedTensor {
  shape: number[];
  data: TensorData;
}

export interface BindOptions {
  /** Tensors the graph does not declare become warnings instead of an error. */
  allowUnexpected?: boolean;
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
 * Checks that `file` holds exactly the expected weights with equal shapes and compatible dtypes:
 * f32 weights need float data (F16/BF16/F64 were widened or narrowed on reading), i32 weights I32,
 * i64 buffers (num_batches_tracked) I64 or I32, widened losslessly. Every name and shape is
 * checked before any data is read.
 */
export function bindCheckpoint(
  expected: readonly Weight[],
  file: ReadonlyMap<string, TensorSource>,
  options: BindOptions = {},
): BoundWeights {
  const fileName = options.file ?? "<checkpoint>";
  const warnings: string[] = [];

  const missing = expected.filter((w) => !file.has(w.name)).map((w) => w.name);
  if (missing.length > 0) fail("missing_weights", fileName, `missing ${missing.length} weight(s): ${list(missing)}`);

  const names = new Set(expected.map((w) => w.name));
  const unexpected = [...file.keys()].filter((n) => !names.has(n));
  if (unexpected.length > 0) {
    const detail = `${unexpected.length} tensor(s) not in the graph: ${list(unexpected)}`;
    if (!options.allowUnexpected) fail("unexpected_tensors", fileName, detail);
    warnings.push(`${fileName}: ignoring ${detail}`);
  }

  for (const w of expected) {
    const found = file.get(w.name)!.shape;
    const want = w.type.shape;
    if (found.length !== want.length || found.some((d, i) => d !== want[i])) {
      fail("shape_mismatch", fileName, `expected shape ${shapeStr(want)}, found ${shapeStr(found)}`, w.name);
    }
  }

  const data = new Map<string, TensorData>();
  for (const w of expected) {
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

function list(names: string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(", ");
  return names.length > LIST_LIMIT ? `${shown}, ... (${names.length - LIST_LIMIT} more)` : shown;
}
