// Shared pieces of the ONNX tests: deterministic data, running an exported model in
// onnxruntime, and the ort-vs-interpreter tolerance check.
import * as ort from "onnxruntime-node";
import { expect } from "vitest";
import { modelWeights } from "../../src/driver.js";
import { interpret } from "../../src/interp/index.js";
import { importOnnx } from "../../src/onnx/import.js";
import { elaborateSource, type ElaborateOptions } from "../../src/frontend/index.js";
import { numel, type Graph } from "../../src/ir/graph.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { rng } from "../support/source.js";

export { rng } from "../support/source.js";

/** N(0, 1) samples (Box–Muller). */
export function normals(n: number, rand: () => number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * std;
    const th = 2 * Math.PI * rand();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

export interface InputOptions {
  /** Integer inputs are drawn from [0, intHigh) (default: ids < 100, masks 0/1). */
  intHigh?: number;
}

/**
 * Deterministic inputs for `g`: N(0, 1) floats; integer inputs named like masks get 1s with a
 * zeroed tail (valid attention masks), token types 0/1, other ids in [0, 100) (below any
 * vocabulary of the zoo).
 */
export function inputsFor(g: Graph, seed: number, opts: InputOptions = {}): Record<string, TensorData> {
  const rand = rng(seed);
  const out: Record<string, TensorData> = {};
  for (const p of g.inputs) {
    const t = g.values[p.value]!.type;
    const n = numel(t.shape);
    if (t.dtype === "f32") {
      out[p.name] = normals(n, rand);
      continue;
    }
    let ints: number[];
    const last = t.shape[t.shape.length - 1] ?? 1;
    if (/mask/.test(p.name)) ints = Array.from({ length: n }, (_, i) => (i % last < last - Math.floor(last / 4) ? 1 : 0));
    else if (/type/.test(p.name)) ints = Array.from({ length: n }, () => (rand() < 0.5 ? 0 : 1));
    else {
      const hi = opts.intHigh ?? 100;
      ints = Array.from({ length: n }, () => Math.floor(rand() * hi));
    }
    out[p.name] = t.dtype === "i64" ? BigInt64Array.from(ints, (v) => BigInt(v)) : Int32Array.from(ints);
  }
  return out;
}

/** Random weights for op tests: N(0, 0.5) floats, running variances in [0.5, 1.5), i64 zeros. */
export function randomWeights(g: Graph, seed: number): Map<string, TensorData> {
  const rand = rng(seed ^ 0x5eed);
  const m = new Map<string, TensorData>();
  for (const w of g.weights) {
    const n = numel(w.type.shape);
    if (w.type.dtype === "i64") m.set(w.name, new BigInt64Array(n));
    else if (w.name.endsWith("running_var")) m.set(w.name, Float32Array.from({ length: n }, () => 0.5 + rand()));
    else m.set(w.name, normals(n, rand, 0.5));
  }
  return m;
}

export function elaborate(text: string, opts: ElaborateOptions = {}): Graph {
  const r = elaborateSource(text, "t.nn", opts);
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length || !r.graph) throw new Error(`elaboration failed:\n${errors.map((d) => d.message).join("\n")}\n--- source ---\n${text}`);
  return r.graph;
}

const ortType = { f32: "float32", i32: "int32", i64: "int64", bool: "bool" } as const;

export async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "basic", logSeverityLevel: 3 });
}

export interface OrtOutput {
  dims: readonly number[];
  data: Float32Array | Int32Array | BigInt64Array;
}

/** Runs an exported model in onnxruntime with the graph's inputs. */
export async function runOrt(bytes: Uint8Array, g: Graph, inputs: Record<string, TensorData>): Promise<Record<string, OrtOutput>> {
  const s = await session(bytes);
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const p of g.inputs) {
      const t = g.values[p.value]!.type;
      feeds[p.name] = new ort.Tensor(ortType[t.dtype], inputs[p.name]!, t.shape);
    }
    const res = await s.run(feeds);
    const out: Record<string, OrtOutput> = {};
    for (const [name, t] of Object.entries(res)) out[name] = { dims: t.dims, data: t.data as OrtOutput["data"] };
    return out;
  } finally {
    await s.release();
  }
}

/** max |a - b| and max |a| over finite-or-not arrays; NaN in either counts as a mismatch (Infinity). */
export function maxDiff(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): { diff: number; scale: number; at: number } {
  let diff = 0;
  let scale = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]!);
    const y = Number(b[i]!);
    const d = Number.isNaN(x) && Number.isNaN(y) ? 0 : Number.isNaN(x) || Number.isNaN(y) ? Infinity : x === y ? 0 : Math.abs(x - y);
    if (d > diff) {
      diff = d;
      at = i;
    }
    if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
  }
  return { diff, scale, at };
}

/** Checks every output of `g`: the declared shape, and max |ort − ref| ≤ rtol·max|ort| + atol. */
export function expectClose(g: Graph, got: Record<string, OrtOutput>, ref: Record<string, TensorData>, what: string, rtol = 1e-4, atol = 1e-5): void {
  for (const p of g.outputs) {
    const t = g.values[p.value]!.type;
    const o = got[p.name];
    expect(o, `${what}: ort output ${p.name}`).toBeDefined();
    expect([...o!.dims], `${what}: shape of ${p.name}`).toEqual(t.shape);
    const r = ref[p.name]!;
    expect(r.length, `${what}: interpreter length of ${p.name}`).toBe(o!.data.length);
    const { diff, scale, at } = maxDiff(o!.data, r);
    const tol = rtol * scale + atol;
    if (!(diff <= tol))
      expect.fail(`${what}: output ${p.name} [${t.shape}] differs by ${diff} (tolerance ${tol}) at flat index ${at}: ort ${o!.data[at]} vs interpreter ${r[at]}`);
  }
}

/** A graph input for checkImport: f32 data, or int64 (ids, masks). */
export interface ImportInput {
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/**
 * Imports `bytes` and checks each output's shape and values on the interpreter against
 * onnxruntime on the same inputs: max |ort − graphc| ≤ 1e-4·max|ort| + 1e-5 (both f32, summing
 * in different orders). Returns the import and the elaborated graph and weights.
 */
export async function checkImport(bytes: Uint8Array, inputs: Record<string, ImportInput>, shapes?: Record<string, number[]>) {
  const s = await session(bytes);
  let want: ort.InferenceSession.OnnxValueMapType;
  try {
    want = await s.run(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new ort.Tensor(v.data instanceof Float32Array ? "float32" : "int64", v.data, v.dims)])));
  } finally {
    await s.release();
  }
  const imported = importOnnx(bytes, "t.onnx", shapes ? { shapes } : {});
  const g = elaborate(imported.source);
  const weights = modelWeights(g, { weights: imported.weights }).data;
  const got = interpret(g, weights, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k.replace(/[^A-Za-z0-9_]/g, "_"), v.data])));
  const wanted = Object.values(want);
  g.outputs.forEach((p, k) => {
    const w = wanted[k]!;
    expect(g.values[p.value]!.type.shape, `shape of ${p.name}`).toEqual([...w.dims]);
    const { diff, scale, at } = maxDiff(w.data as Float32Array, got[p.name]!);
    if (!(diff <= 1e-4 * scale + 1e-5)) expect.fail(`${p.name}: differs by ${diff} at ${at}: ort ${(w.data as Float32Array)[at]} vs graphc ${got[p.name]![at]}\n${imported.source}`);
  });
  return { imported, g, weights };
}
