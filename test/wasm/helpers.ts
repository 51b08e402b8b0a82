// Shared pieces of the wasm kernel tests: .nn model -> bound graph, both builds run in Node,
// compared with the interpreter.
import { setFlagsFromString } from "node:v8";
import fc from "fast-check";
import { expect } from "vitest";
import { buildWasm, type PortLayout, type WasmBuild } from "../../codegen/wasm/module.js";
import { elaborate, modelWeights, optimise } from "../../src/driver.js";
import { numel, type Graph } from "../../src/ir/graph.js";
import { interpret, type TensorData } from "../../src/interp/index.js";
import { dim as baseDim, rng } from "../support/source.js";
import { placeWeights } from "./place-weights.js";

// Node 20 compiles relaxed SIMD only behind this flag; it must be set before the first compile.
setFlagsFromString("--experimental-wasm-relaxed-simd");

/** A single-model .nn source -> graph with seeded weights bound as constants (optionally run through passes). */
export function model(body: string, seed = 0, passes: readonly string[] = []): Graph {
  const { graph } = elaborate({ path: "t.nn", text: `model m() {\n${body}\n}\n` });
  return optimise(graph, modelWeights(graph, { seed }).data, passes).graph;
}

/** Uniform f32 inputs in [lo, hi) and integer inputs in [0, intHigh). */
export function inputsFor(g: Graph, seed: number, range: [number, number] = [-3, 3], intHigh = 10): Record<string, TensorData> {
  const rand = rng(seed);
  const out: Record<string, TensorData> = {};
  for (const p of g.inputs) {
    const t = g.values[p.value]!.type;
    const n = numel(t.shape);
    if (t.dtype === "f32") out[p.name] = Float32Array.from({ length: n }, () => range[0] + (range[1] - range[0]) * rand());
    else {
      const ints = Array.from({ length: n }, () => Math.floor(rand() * intHigh));
      out[p.name] = t.dtype === "i64" ? BigInt64Array.from(ints, BigInt) : Int32Array.from(ints);
    }
  }
  return out;
}

/** Instantiates a build, runs it once and returns its outputs by name. */
export async function runBuild(b: WasmBuild, inputs: Record<string, TensorData>): Promise<Record<string, Float32Array | Int32Array>> {
  const { instance } = await WebAssembly.instantiate(b.wasm as Uint8Array<ArrayBuffer>);
  const mem = instance.exports.memory as WebAssembly.Memory;
  expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(b.memoryBytes);
  placeWeights(instance, b);
  const arr = (p: PortLayout) => (p.dtype === "f32" ? new Float32Array(mem.buffer, p.offset, numel(p.shape)) : new Int32Array(mem.buffer, p.offset, numel(p.shape)));
  for (const p of b.inputs) {
    const d = inputs[p.name]!;
    arr(p).set(d instanceof BigInt64Array ? Int32Array.from(d, Number) : d);
  }
  (instance.exports.run as () => void)();
  return Object.fromEntries(b.outputs.map((p) => [p.name, arr(p).slice()]));
}

export interface Tolerance {
  /** |got - want| <= rel * |want| + abs */
  rel: number;
  abs: number;
}

/** Builds both variants, checks they share one weights blob, and compares each with the interpreter. */
export async function checkModel(g: Graph, inputs: Record<string, TensorData>, tol: Tolerance, what = ""): Promise<void> {
  const want = interpret(g, new Map(), inputs);
  const builds = [false, true].map((relaxed) => buildWasm(g, { relaxed }));
  expect(Buffer.compare(builds[0]!.weights, builds[1]!.weights), "weights blob differs between builds").toBe(0);
  for (const [i, b] of builds.entries()) {
    const got = await runBuild(b, inputs);
    for (const [name, w] of Object.entries(want)) {
      const ref = w instanceof BigInt64Array ? Int32Array.from(w, Number) : w;
      const out = got[name]!;
      expect(out.length).toBe(ref.length);
      for (let k = 0; k < ref.length; k++) {
        const [a, e] = [out[k]!, ref[k]!];
        const ok = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= tol.rel * Math.abs(e) + tol.abs;
        if (!ok) expect.fail(`${i ? "relaxed" : "baseline"} ${name}[${k}]: got ${a}, want ${e} ${what}`);
      }
    }
  }
}

export { f32 } from "../support/source.js";
export const dim = (max = 9) => baseDim(max);

/** A fast-check property over generated cases, each checked on both builds. */
export async function property<T>(arb: fc.Arbitrary<T>, check: (c: T, seed: number) => Promise<void>, runs: number): Promise<void> {
  await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 0, max: 1 << 30 }), check), { numRuns: runs });
}
