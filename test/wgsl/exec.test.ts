// WGSL kernels executed on SwiftShader (Dawn for Node) against the reference interpreter:
// fast-check properties per kernel family on small shapes (SwiftShader is a CPU and compiles
// each shader with LLVM: few runs), then small zoo models end to end.
//
// Tolerances, as |gpu - ref| <= atol + rtol |ref|: the interpreter accumulates in double, the
// GPU in float with another summation order, so a K-term dot product of O(1) values differs by
// ~sqrt(K) * 2^-24 relative to its magnitude; we allow 1e-5 of the output's largest magnitude
// plus 1e-4 relative. Transcendentals (SwiftShader's exp/log/tanh, our erf polynomial) are
// within ~1e-6 relative. Data movement must be exact. Whole models: 1e-4 of the largest output
// (observed: below 1e-5 for ResNet-18, MobileNetV2 and BERT-base).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyGraph, numel, type Graph, type TensorType } from "../../src/ir/graph.js";
import { addConstant, addNode } from "../../src/ir/rewrite.js";
import { unaryOps } from "../../src/ir/ops.js";
import { interpret, type TensorData } from "../../src/interp/index.js";
import { randomInputs } from "../../src/weights/calibrate.js";
import { closeness, compileForGpu, elaborate, swiftShaderDevice } from "./helpers.js";
import { loadModule, runOnGpu } from "./gpu.js";

let dev: Awaited<ReturnType<typeof swiftShaderDevice>>;
beforeAll(async () => void (dev = await swiftShaderDevice()));
afterAll(() => dev?.device.destroy());

/** Deterministic data in [-2, 2) (a small LCG: fast-check only draws the seed). */
function data(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2);
}

/** A graph with inputs x0.. of `ins` and the outputs `f` returns (named y0..). */
function build(ins: TensorType[], f: (g: Graph, xs: number[]) => number[]): Graph {
  const g = emptyGraph("prop");
  const xs = ins.map((type, id) => {
    g.values.push({ id, type, kind: "input" });
    g.inputs.push({ name: `x${id}`, value: id });
    return id;
  });
  f(g, xs).forEach((value, i) => g.outputs.push({ name: `y${i}`, value }));
  return g;
}

const konst = (g: Graph, shape: number[], seed: number) => addConstant(g, shape, data(numel(shape), seed));
const f32 = (...shape: number[]): TensorType => ({ dtype: "f32", shape });

/** Runs g on the GPU and the interpreter with seeded inputs; asserts every output is close. */
async function check(g: Graph, seed: number, tol = { atol: 1e-5, rtol: 1e-4 }, inputs?: Record<string, TensorData>) {
  const xs = inputs ?? Object.fromEntries(g.inputs.map((p, i) => [p.name, data(numel(g.values[p.value]!.type.shape), seed + i)]));
  const ref = interpret(g, new Map(), xs);
  const out = await runOnGpu(g, dev.device, xs);
  for (const [name, r] of Object.entries(ref)) {
    const scale = (r as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const { worst, at } = closeness(out[name] as Float32Array, r as Float32Array, tol.atol * Math.max(1, scale), tol.rtol);
    expect(worst, `${name}[${at}]: gpu ${(out[name] as Float32Array)[at]} vs ${(r as Float32Array)[at]}`).toBeLessThanOrEqual(1);
  }
}

const runs = { numRuns: 4, endOnFailure: true };
const seed = fc.integer({ min: 1, max: 2 ** 30 });
const act = fc.constantFrom(null, "relu", "prelu", "gelu", "hard_swish", "clip");

describe("kernel families vs the interpreter (SwiftShader)", () => {
  it("conv2d: groups, depthwise, dilation, asymmetric pads, fused epilogue", async () => {
    const conv = fc.record({
      n: fc.integer({ min: 1, max: 2 }), cg: fc.integer({ min: 1, max: 3 }), groups: fc.integer({ min: 1, max: 3 }), kg: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 4, max: 8 }), w: fc.integer({ min: 4, max: 8 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })), dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), bias: fc.boolean(), residual: fc.boolean(), act, seed,
    });
    await fc.assert(fc.asyncProperty(conv, async (c) => {
      const [C, K] = [c.cg * c.groups, c.kg * c.groups];
      const g = build([f32(c.n, C, c.h, c.w)], (g, [x]) => {
        const attrs = { stride: c.stride, pads: c.pads, dilation: c.dilation, groups: c.groups, bias: c.bias, residual: c.residual, act: c.act, min: -0.5, max: 0.5 };
        const plain = addNode(g, "conv2d", [x!, konst(g, [K, c.cg, c.kh, c.kw], c.seed)], { ...attrs, bias: false, residual: false, act: null })[0]!;
        const extra = [...(c.bias ? [konst(g, [K], c.seed + 1)] : []), ...(c.residual ? [plain] : []), ...(c.act === "prelu" ? [konst(g, [K], c.seed + 2)] : [])];
        return [addNode(g, "conv2d", [x!, konst(g, [K, c.cg, c.kh, c.kw], c.seed + 3), ...extra], attrs)[0]!];
      });
      await check(g, c.seed);
    }), { ...runs, numRuns: 6, examples: [[{ n: 1, cg: 1, groups: 3, kg: 1, h: 5, w: 6, kh: 3, kw: 3, stride: [2, 1], dilation: [2, 1], pads: [1, 0, 2, 1], bias: true, residual: false, act: "relu", seed: 7 }]] });
  });

  it("linear and batched, broadcast matmul with epilogues", async () => {
    const mm = fc.record({ m: fc.integer({ min: 1, max: 9 }), n: fc.integer({ min: 1, max: 9 }), k: fc.integer({ min: 1, max: 20 }), ba: fc.constantFrom([], [3], [1, 3], [2, 3]), bb: fc.constantFrom([], [3], [2, 1]), bias: fc.boolean(), act, seed });
    await fc.assert(fc.asyncProperty(mm, async (p) => {
      const g = build([f32(...p.ba, p.m, p.k), f32(...p.bb, p.k, p.n)], (g, [a, b]) => {
        const tail = (v: number) => [...(p.bias ? [konst(g, [p.n], p.seed)] : []), ...(p.act === "prelu" ? [konst(g, [1], p.seed + v)] : [])];
        const attrs = { bias: p.bias, act: p.act, min: -1, max: 1 };
        return [addNode(g, "matmul", [a!, b!, ...tail(1)], attrs)[0]!, addNode(g, "linear", [a!, konst(g, [p.n, p.k], p.seed + 2), ...tail(2)], attrs)[0]!];
      });
      await check(g, p.seed);
    }), runs);
  });

  it("tiled GEMMs (workgroup memory): linear, batched matmul, grouped conv", async () => {
    const g = build([f32(70, 1100), f32(2, 40, 1200), f32(2, 1200, 90), f32(1, 64, 21, 20)], (g, [x, a, b, img]) => [
      addNode(g, "linear", [x!, konst(g, [60, 1100], 1), konst(g, [60], 2)], { bias: true, act: "gelu" })[0]!,
      addNode(g, "matmul", [a!, b!], {})[0]!,
      addNode(g, "conv2d", [img!, konst(g, [96, 32, 3, 3], 3)], { stride: [1, 1], pads: [1, 0, 1, 2], dilation: [1, 2], groups: 2, act: "relu" })[0]!,
    ]);
    await check(g, 5);
  });

  it("attention with and without a mask", async () => {
    const at = fc.record({ b: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 3 }), sq: fc.integer({ min: 1, max: 9 }), sk: fc.integer({ min: 1, max: 9 }), d: fc.integer({ min: 1, max: 8 }), dv: fc.integer({ min: 1, max: 8 }), mask: fc.boolean(), seed });
    await fc.assert(fc.asyncProperty(at, async (p) => {
      const g = build([f32(p.b, p.h, p.sq, p.d), f32(p.b, p.h, p.sk, p.d), f32(p.b, p.h, p.sk, p.dv)], (g, [q, k, v]) => [
        addNode(g, "attention", [q!, k!, v!, ...(p.mask ? [konst(g, [p.b, 1, 1, p.sk], p.seed)] : [])], { scale: 0.7 })[0]!,
      ]);
      await check(g, p.seed);
    }), runs);
  });

  it("softmax, layernorm, reductions (sum, mean, max), global_avgpool", async () => {
    const shape = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 4 });
    await fc.assert(fc.asyncProperty(shape, fc.nat(3), fc.boolean(), seed, async (s, ax, keep, sd) => {
      const axis = ax % s.length;
      const g = build([f32(...s), f32(2, 3, s[0]!, s[1]!)], (g, [x, img]) => [
        addNode(g, "softmax", [x!], { axis: axis - s.length })[0]!,
        addNode(g, "layernorm", [x!, konst(g, [s[s.length - 1]!], sd), konst(g, [s[s.length - 1]!], sd + 1)], { eps: 1e-5 })[0]!,
        addNode(g, "reduce_sum", [x!], { axes: [axis], keepdim: keep })[0]!,
        addNode(g, "reduce_mean", [x!], { axes: [...new Set([0, axis])], keepdim: !keep })[0]!,
        addNode(g, "reduce_max", [x!], { axes: [...new Set([axis, s.length - 1])], keepdim: !keep })[0]!,
        addNode(g, "global_avgpool", [img!], {})[0]!,
      ]);
      await check(g, sd);
    }), runs);
  });

  it("max and average pools (ceil_mode, count_include_pad, dilation)", async () => {
    const pool = fc.record({ h: fc.integer({ min: 5, max: 9 }), k: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 3 }), ceil: fc.boolean(), inc: fc.boolean(), d: fc.integer({ min: 1, max: 2 }), seed });
    await fc.assert(fc.asyncProperty(pool, async (p) => {
      const pad = Math.floor(p.k / 2);
      const base = { kernel: [p.k, p.k + 1], stride: [p.s, 1], pads: [pad, 0, 0, pad], ceil_mode: p.ceil };
      const g = build([f32(1, 2, p.h, p.h + 2)], (g, [x]) => [
        addNode(g, "maxpool", [x!], { ...base, dilation: [p.d, 1] })[0]!,
        addNode(g, "avgpool", [x!], { ...base, dilation: [1, 1], count_include_pad: p.inc })[0]!,
      ]);
      await check(g, p.seed);
    }), runs);
  });

  it("every unary op, broadcast binaries, prelu, batchnorm, fused_elementwise", async () => {
    await fc.assert(fc.asyncProperty(seed, fc.constantFrom([3, 1], [1, 4], [4], [1]), async (sd, bshape) => {
      const attrs = { min: -1, max: 1.5, slope: 0.1, alpha: 1.2, approximate: "none" };
      const g = build([f32(2, 3, 4), f32(...bshape)], (g, [x, b]) => [
        ...unaryOps.map((op) => addNode(g, op, [op === "log" || op === "sqrt" ? addNode(g, "abs", [x!], {})[0]! : x!], attrs)[0]!),
        addNode(g, "gelu", [x!], { approximate: "tanh" })[0]!,
        ...["add", "sub", "mul", "div", "maximum", "minimum"].map((op) => addNode(g, op, [x!, b!], {})[0]!),
        addNode(g, "pow", [addNode(g, "abs", [x!], {})[0]!, konst(g, [1], sd)], {})[0]!,
        addNode(g, "pow", [x!, addConstant(g, [1], Float32Array.of(3))], {})[0]!,
        addNode(g, "prelu", [x!, konst(g, [3], sd)], {})[0]!,
        addNode(g, "batchnorm", [x!, konst(g, [3], sd), konst(g, [3], sd + 1), konst(g, [3], sd + 2), addNode(g, "abs", [konst(g, [3], sd + 3)], {})[0]!], { eps: 1e-5 })[0]!,
        addNode(g, "fused_elementwise", [x!, b!, konst(g, [1], sd)], { program: [{ op: "mul", args: [0, 1] }, { op: "sigmoid", args: [3] }, { op: "add", args: [4, 2] }, { op: "clip", args: [5], attrs: { min: 0, max: 0.9 } }] })[0]!,
      ]);
      await check(g, sd);
    }), { ...runs, numRuns: 2 });
  });

  it("data movement: transpose, concat, split, slice, gather, cast, reshape (exact)", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }), fc.nat(2), seed, async (s, axis, sd) => {
      const ids = Int32Array.from({ length: 6 }, (_, i) => (i * 7 + sd) % 5);
      const g = build([f32(...s), { dtype: "i32", shape: [2, 3] }], (g, [x, id]) => {
        const parts = addNode(g, "split", [x!], { axis, sizes: s[axis]! === 1 ? [1] : [1, s[axis]! - 1] });
        return [
          addNode(g, "transpose", [x!], { perm: [2, 0, 1] })[0]!,
          addNode(g, "concat", [x!, ...parts, x!], { axis })[0]!,
          ...parts,
          addNode(g, "slice", [x!], { axis, start: 0, end: 1 })[0]!,
          addNode(g, "gather", [konst(g, [5, 3], sd), id!], {})[0]!,
          addNode(g, "cast", [addNode(g, "cast", [addNode(g, "mul", [x!, konst(g, [1], 9)], {})[0]!], { to: "i32" })[0]!], { to: "f32" })[0]!,
          addNode(g, "reshape", [x!], { shape: [numel(s)] })[0]!,
        ];
      });
      await check(g, sd, { atol: 0, rtol: 0 }, { x0: data(numel(s), sd), x1: ids });
    }), runs);
  });
});

describe("generated module API", () => {
  it("describes its ports, escapes names and rejects bad inputs with clear errors", async () => {
    const g = build([f32(2, 3), { dtype: "i64", shape: [2] }], (g, [x, ids]) => [addNode(g, "relu", [x!], {})[0]!, addNode(g, "gather", [konst(g, [4, 3], 1), ids!], {})[0]!]);
    g.inputs[0]!.name = 'we"ird`${name}\\';
    const m = await loadModule(g, dev.device);
    try {
      expect(m.inputs.map((p) => [p.name, p.dtype, p.shape])).toEqual([[g.inputs[0]!.name, "f32", [2, 3]], ["x1", "i64", [2]]]);
      const x = data(6, 3);
      const out = await m.run({ [g.inputs[0]!.name]: x, x1: BigInt64Array.of(3n, 0n) });
      expect(Array.from(out.y0 as Float32Array)).toEqual(Array.from(x, (v) => Math.max(v, 0)));
      const ok = { [g.inputs[0]!.name]: x, x1: BigInt64Array.of(1n, 2n) };
      await expect(m.run({ ...ok, extra: x })).rejects.toThrow(/unknown input "extra"/);
      await expect(m.run({ x1: ok.x1 })).rejects.toThrow(/missing input/);
      await expect(m.run({ ...ok, x1: Int32Array.of(1, 2) })).rejects.toThrow(/must be a BigInt64Array \(i64\), got Int32Array/);
      await expect(m.run({ ...ok, [g.inputs[0]!.name]: x.subarray(1) })).rejects.toThrow(/has 5 elements; shape \[2,3\] needs 6/);
      await expect(m.run({ ...ok, x1: BigInt64Array.of(1n, 4n) })).rejects.toThrow(/x1"\[1\] = 4 is outside \[0, 4\)/);
    } finally {
      m.destroy();
    }
  });
});

describe("zoo models end to end vs the interpreter (SwiftShader)", () => {
  const models: [string, Parameters<typeof elaborate>[1]][] = [
    ["resnet18", { shapes: { image: [1, 3, 32, 32] } }],
    ["mobilenet_v2", { shapes: { image: [1, 3, 32, 32] } }],
    ["mobilenet_v3_small", { shapes: { image: [1, 3, 32, 32] } }],
    ["bert_base", { set: { seq: 8 } }],
  ];
  it.each(models)("%s", async (file, opts) => {
    const g = elaborate(`specs/${file}.nn`, opts);
    const { graph, data: weights } = compileForGpu(g, "seeded");
    const inputs = randomInputs(g, 3);
    const ref = interpret(g, weights, inputs);
    const out = await runOnGpu(graph, dev.device, inputs);
    for (const [name, r] of Object.entries(ref)) {
      const scale = (r as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const { worst, at } = closeness(out[name] as Float32Array, r as Float32Array, 1e-4 * scale, 0);
      expect(worst, `${name}[${at}]`).toBeLessThanOrEqual(1);
    }
  }, 240_000);
});
