// Threads: every kernel family gives the same bits on 1, 2, 3 and 4 threads (1 runs the build with
// its own memory, more the shared-memory build with workers), on random shapes with odd sizes and
// fewer rows than threads. Exact: a thread's share is whole outputs, each computed by the same code.
// Thread 1 is also checked against the interpreter (rel 1e-4, abs 1e-4: f32 dot products of up to
// a few hundred terms and Winograd's transforms).
import { availableParallelism } from "node:os";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildModule, loadParts } from "../../codegen/module/index.js";
import { buildWasm } from "../../codegen/wasm/module.js";
import { PROFILE_PHASE } from "../../codegen/wasm/threads.js";
import { trainingForward } from "../../src/autodiff/index.js";
import { elaborate, optimise } from "../../src/driver.js";
import type { Graph, TensorData } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { dims, f32, poolCase } from "../support/source.js";
import { inputsFor, model } from "./helpers.js";

const THREADS = [1, 2, 3, 4];
const RUNS = { numRuns: 4 };

type Output = Float32Array | Int32Array | Uint8Array;
const bitsOf = (v: Output) => Array.from(v instanceof Uint8Array ? v : new Uint32Array(v.buffer, v.byteOffset, v.length));

async function sameOnEveryThreadCount(body: string, seed = 0): Promise<void> {
  const g = model(body, seed, defaultPipeline);
  await sameGraphOnEveryThreadCount(g, inputsFor(g, seed + 1));
}

async function sameGraphOnEveryThreadCount(g: Graph, inputs: Record<string, TensorData>): Promise<void> {
  const { parts } = buildModule(g, { relaxedSimd: "on" });
  const outputs: Record<string, Output>[] = [];
  for (const threads of THREADS) {
    const m = await loadParts(parts, { threads });
    expect(m.threads).toBe(threads);
    outputs.push(await m.run(inputs));
    m.dispose();
  }
  const want = interpret(g, new Map(), inputs);
  for (const p of g.outputs) {
    const got = outputs[0]![p.name]!;
    const ref = want[p.name]!;
    got.forEach((v, i) => expect(Math.abs(v - Number(ref[i])), `${p.name}[${i}]`).toBeLessThanOrEqual(1e-4 * Math.abs(Number(ref[i])) + 1e-4));
    THREADS.forEach((t, k) => expect(bitsOf(outputs[k]![p.name]!), `${p.name} on ${t} threads`).toEqual(bitsOf(got)));
  }
}

const n = (min: number, max: number) => fc.integer({ min, max });
const check = (arb: fc.Arbitrary<string>) => fc.assert(fc.asyncProperty(arb, (body) => sameOnEveryThreadCount(body)), RUNS);

/** A training forward with two dropouts (the graph elaborated for training, its masks drawn at `step`), through the pipeline. */
function dropoutForward(shape: number[], seed: number): Graph {
  const { graph } = elaborate({ path: "t.nn", text: `model m() {\n${f32("x", shape)}\n  output y = dropout(x, p=0.5)\n  output z = dropout(x * 2.0, p=0.2)\n}\n` }, { training: true });
  return optimise(trainingForward(graph, { seed }).graph, new Map(), defaultPipeline).graph;
}

describe("wasm threads: bit-identical outputs on 1 to 4 threads", () => {
  it("gemm: linear (row tiles or column panels), matmul with a run-time B, batched", () =>
    check(
      fc.record({ m: n(1, 20), k: n(1, 40), o: n(1, 70), b: n(2, 5), act: fc.constantFrom("relu", "gelu", "sigmoid") }).map(
        ({ m, k, o, b, act }) => `${f32("x", [m, k])}\n${f32("p", [b, m, k])}\n${f32("q", [b, k, o])}\n${f32("r", [k, o])}
  output y = ${act}(fc: linear(x, ${o}))
  output z = matmul(p, q)
  output u = matmul(x, r)`,
      ),
    ));

  it("conv2d: 1x1 (direct GEMM), im2col chunks, groups, depthwise, Winograd F(2x2) and F(4x4)", () =>
    check(
      fc.record({ c: n(1, 6), h: n(1, 17), w: n(1, 17), k: n(1, 9), wide: n(16, 20), big: fc.boolean() }).map(({ c, h, w, k, wide, big }) => {
        const s = big ? 14 + (h % 4) : 3 + (h % 6);
        return `${f32("x", [1, c, h, w])}\n${f32("v", [1, wide, s, s])}
  output a = relu(c1: conv2d(x, ${k}, 1))
  output b = c2: conv2d(x, ${k}, 3, stride=2, pad=1)
  output d = c3: conv2d(x, ${2 * c}, 3, pad=1, groups=${c})
  output e = c4: conv2d(x, ${c}, 3, pad=1, groups=${c})
  output f = relu(c5: conv2d(v, ${wide}, 3, pad=1))`;
      }),
    ));

  it("conv2d over several chunks: Winograd F(4x4) tiles (48, 48, 32), im2col rows (4 x 108 + 18: whole chunks per thread on 2, every thread on each chunk on 3 and 4)", () =>
    sameOnEveryThreadCount(`${f32("v", [2, 64, 30, 30])}
  output a = relu(c1: conv2d(v, 64, 3, pad=1))
  output b = c2: conv2d(v, 24, 3, stride=2, pad=1)`));

  it("pools: maxpool, avgpool, global_avgpool", () =>
    check(fc.tuple(poolCase("maxpool", 9), poolCase("avgpool", 9)).map(([mx, av]) => `${mx.replace("output y", "output y1")}\n${av.replace(/\bx\b/g, "w").replace("output y", "output y2")}\n  output y3 = global_avgpool(w)`)));

  it("elementwise (vector ranges and the scalar tail), broadcasting, movement copies, gather", () =>
    check(
      fc.record({ a: n(1, 5), b: n(1, 9), c: n(1, 13) }).map(({ a, b, c }) => `${f32("x", [a, b, c])}\n${f32("s", [1, b, 1])}\n  input ids: i32[${a}, ${b}]
  output g = e: embedding(ids, 12, ${c})
  output y = gelu(x) * s + 1.0
  output t = transpose(x, [2, 0, 1])
  output k = concat([x, tanh(x)], 1)
  output l = slice(x, 2, 0, ${c}, step=2)
  output p = pad(x, (1, 2), value=0.5)`),
    ));

  it("rows: softmax (both axes), layernorm, reductions (one over all but the last axis splits its lanes)", () =>
    check(
      fc.record({ a: n(1, 6), b: n(1, 9), c: n(1, 19) }).map(({ a, b, c }) => `${f32("x", [a, b, c])}
  output s = softmax(x, axis=-1)
  output t = softmax(x, axis=1)
  output l = ln: layernorm(x)
  output m = mean(x, 1)
  output q = sum(x, [0, 2])
  output u = sum(x, [0, 1])
  output r = amax(x, 2)`),
    ));

  it("random_uniform (dropout's masks): each thread draws its share of the elements", () =>
    fc.assert(
      fc.asyncProperty(fc.record({ shape: fc.array(n(1, 40), { minLength: 1, maxLength: 3 }), seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }), step: n(1, 1000) }), async ({ shape, seed, step }) => {
        const g = dropoutForward(shape, seed);
        await sameGraphOnEveryThreadCount(g, { ...inputsFor(g, 1), step: Float32Array.of(step) });
      }),
      RUNS,
    ));

  it("attention heads", () =>
    check(
      fc.record({ b: n(1, 2), h: n(1, 3), s: n(1, 9), d: n(1, 5) }).map(({ b, h, s, d }) => {
        const e = h * d;
        const heads = (name: string, perm: string) => `transpose(reshape(w${name}: linear(x, ${e}), [${b}, ${s}, ${h}, ${d}]), ${perm})`;
        return `${f32("x", [b, s, e])}
  q = ${heads("q", "[0, 2, 1, 3]")}
  k = ${heads("k", "[0, 2, 3, 1]")}
  v = ${heads("v", "[0, 2, 1, 3]")}
  p = softmax(matmul(q, k) / ${Math.sqrt(d)}, axis=-1)
  output y = reshape(transpose(matmul(p, v), [0, 2, 1, 3]), ${dims([b, s, e])})`;
      }),
    ));
});

describe("wasm threads: options, dispose, a worker that traps", () => {
  const g = model(`${f32("x", [3, 37])}\n  output y = relu(fc: linear(x, 29))`, 0, defaultPipeline);
  const { parts } = buildModule(g, { relaxedSimd: "on" });

  it("defaults to min(4, the cores), checks threads, and runs no more after dispose()", async () => {
    const m = await loadParts(parts);
    expect(m.threads).toBe(Math.min(4, availableParallelism()));
    const x = inputsFor(g, 1).x as Float32Array;
    const y = await m.run({ x });
    m.dispose();
    m.dispose(); // a second time is nothing
    await expect(m.run({ x })).rejects.toThrow(/this model was disposed \(dispose\(\) was called\); load it again to run it/);
    const again = await loadParts(parts, { threads: 16 });
    expect(bitsOf((await again.run({ x })).y!)).toEqual(bitsOf(y.y!));
    again.dispose();
    await expect(loadParts(parts, { threads: 0 })).rejects.toThrow(RangeError);
    await expect(loadParts(parts, { threads: 17 })).rejects.toThrow(/threads must lie in \[1, 16\], got 17/);
    await expect(loadParts(parts, { threads: 2.5 })).rejects.toThrow(/threads must be an integer, got 2.5/);
    await expect(loadParts(parts, { threads: "2" as never })).rejects.toThrow(TypeError);
    // A misspelt option is refused, not ignored.
    await expect(loadParts(parts, { thread: 2 } as never)).rejects.toThrow(/unknown load\(\) option "thread" \(options: wasm, relaxedWasm, weights, simd, onProgress, threads\)/);
  });

  it("a profiling build marks each call of run (its barrier, the kernel) and each barrier, and names the calls' nodes", async () => {
    const build = buildWasm(g, { relaxed: true, profile: true });
    expect(build.profiled).toEqual([{ fn: expect.any(String), parallel: true, node: 0 }]);
    expect(buildWasm(g, { relaxed: true }).profiled).toBeUndefined();
    const marks: [number, number][] = [];
    const { instance } = await WebAssembly.instantiate(build.wasm as Uint8Array<ArrayBuffer>, { profile: { mark: (call: number, phase: number) => marks.push([call, phase]) } });
    (instance.exports.run as () => void)();
    const { segment, kernel, done, barrier, barrierDone } = PROFILE_PHASE;
    expect(marks).toEqual([[0, segment], [-1, barrier], [-1, barrierDone], [0, kernel], [0, done], [1, segment], [-1, barrier], [-1, barrierDone], [1, kernel]]);
  });

  it("reports a trap in a worker's share (integer division by zero), and refuses to run again", async () => {
    const ints = model(`  input a: i32[64]\n  input b: i32[64]\n  output q = a / b`, 0, defaultPipeline);
    const m = await loadParts(buildModule(ints, { relaxedSimd: "on" }).parts, { threads: 2 });
    const a = Int32Array.from({ length: 64 }, (_, i) => i);
    // Zero only in the second half: thread 1's share.
    const b = Int32Array.from({ length: 64 }, (_, i) => (i === 60 ? 0 : 1));
    await expect(m.run({ a, b })).rejects.toThrow(/a worker thread trapped/);
    await expect(m.run({ a, b: new Int32Array(64).fill(1) })).rejects.toThrow(/a thread trapped in an earlier run, which leaves the threads out of step: load the model again/);
    m.dispose();
  });

  it("reports a trap in thread 0's share as on one thread, and refuses to run again", async () => {
    const ints = model(`  input a: i32[64]
  input b: i32[64]
  output q = a / b`, 0, defaultPipeline);
    const m = await loadParts(buildModule(ints, { relaxedSimd: "on" }).parts, { threads: 2 });
    const a = Int32Array.from({ length: 64 }, (_, i) => i);
    await expect(m.run({ a, b: Int32Array.from({ length: 64 }, (_, i) => (i === 3 ? 0 : 1)) })).rejects.toThrow(/an integer division inside the model divides by zero/);
    await expect(m.run({ a, b: new Int32Array(64).fill(1) })).rejects.toThrow(/load the model again/);
    m.dispose();
  });
});
