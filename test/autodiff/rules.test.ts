// Every core op's gradient rule against central finite differences in float64 on the
// interpreter (check.ts states the tolerance), over random shapes and attributes from a fixed
// fast-check seed (test/setup.ts). Inputs keep 1e-2 away from kinks, where a difference
// quotient straddles two slopes; the kinks themselves are checked in nonsmooth.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gradients, NotDifferentiable } from "../../src/autodiff/index.js";
import { gradRules } from "../../src/autodiff/rules.js";
import { emptyGraph, numel, type Attrs } from "../../src/ir/graph.js";
import { binaryOps, isUnsupported, opNames, unaryOps, type OpName } from "../../src/ir/ops.js";
import { addConstant } from "../../src/ir/rewrite.js";
import { RESIZE_COORDINATES, RESIZE_MODES, RESIZE_NEAREST } from "../../src/ir/resize.js";
import { PAD_MODES, padAxes, sliceRange, type PadMode } from "../../src/ir/shape.js";
import { checkGradient, node, values, type GradCase } from "./check.js";

const RUNS = 12;
const dim = (max: number) => fc.integer({ min: 1, max });
const shapeOf = (rank: [number, number], max = 4) => fc.integer({ min: rank[0], max: rank[1] }).chain((r) => fc.array(dim(max), { minLength: r, maxLength: r }));
const seed = fc.integer({ min: 1, max: 1 << 30 });

const input = (shape: number[], s: number, range?: [number, number], avoid?: number[]) => ({ shape, data: values(s, numel(shape), range, avoid) });

/** Where each unary op's derivative jumps, and its domain. */
const unaryDomain: Partial<Record<string, { range?: [number, number]; avoid?: number[]; attrs?: Attrs }>> = {
  relu: { avoid: [0] }, relu6: { range: [-2, 8], avoid: [0, 6] }, selu: { avoid: [0] }, abs: { avoid: [0] },
  hard_sigmoid: { range: [-5, 5], avoid: [-3, -2.5, 2.5, 3] }, hard_swish: { range: [-5, 5], avoid: [-3, 3] },
  log: { range: [0.1, 3] }, sqrt: { range: [0.1, 3] }, clip: { avoid: [-0.5, 1], attrs: { min: -0.5, max: 1 } },
  leaky_relu: { avoid: [0], attrs: { slope: 0.2 } }, elu: { avoid: [0], attrs: { alpha: 0.7 } },
};

const property = (arb: fc.Arbitrary<GradCase>) => () => fc.assert(fc.property(arb, (c) => void checkGradient(c)), { numRuns: RUNS });

describe("unary ops", () => {
  it.each(unaryOps)("%s", (op) => {
    const dom = unaryDomain[op] ?? {};
    const attrsChoices: Attrs[] =
      op === "gelu" ? [{ approximate: "none" }, { approximate: "tanh" }]
      : op === "hard_sigmoid" ? [{ alpha: 1 / 6, beta: 0.5 }, { alpha: 0.2, beta: 0.5 }] // PyTorch's, ONNX's (kinks at ±3, ±2.5)
      : [dom.attrs ?? {}];
    property(fc.record({ shape: shapeOf([0, 3]), s: seed, attrs: fc.constantFrom(...attrsChoices) }).map(({ shape, s, attrs }) => ({
      inputs: [input(shape, s, dom.range, dom.avoid)], attrs, what: `${op} [${shape}] ${JSON.stringify(attrs)}`,
      build: (g, [x], a) => node(g, op, [x!], a),
    })))();
  });
});

/** Shapes a and b that broadcast: b drops leading axes of a and sets some to 1 (or the other way round). */
const broadcastPairs = (rank: [number, number]) => shapeOf(rank).chain((a) =>
  fc.record({ drop: fc.integer({ min: 0, max: a.length }), ones: fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }), swap: fc.boolean() }).map(({ drop, ones, swap }) => {
    const b = a.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
    return swap ? [b, a] : [a, b];
  }),
);
const broadcastPair = broadcastPairs([1, 3]);

describe("binary ops", () => {
  it.each(binaryOps)("%s", (op) => {
    const ranges: [number, number][] = op === "pow" ? [[0.5, 2], [-2, 2]] : op === "div" ? [[-2, 2], [0.5, 2]] : [[-2, 2], [-2, 2]];
    property(fc.record({ shapes: broadcastPair, s: seed }).map(({ shapes: [a, b], s }) => ({
      inputs: [input(a!, s, ranges[0]), input(b!, s + 1, ranges[1])], what: `${op} [${a}] [${b}]`,
      build: (g, [x, y]) => node(g, op, [x!, y!]),
    })))();
  });
});

/** A bool-valued op of two operands read back as f32: its inputs get no gradient (ties are improbable with random values). */
const predicate = (op: OpName) =>
  fc.record({ shape: shapeOf([0, 3]), s: seed }).map(({ shape, s }): GradCase => ({
    inputs: [input(shape, s), input(shape, s + 1)], what: `${op} [${shape}]`,
    build: (g, [a, b]) => {
      const bools = op === "logical_not" ? node(g, op, node(g, "greater", [a!, b!])) : node(g, op, [a!, b!]);
      return node(g, "cast", bools, { to: "f32" });
    },
  }));

/** The non-elementwise core ops, each a generator of cases. */
const cases: Partial<Record<OpName, fc.Arbitrary<GradCase>>> = {
  ...Object.fromEntries((["less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_not"] as const).map((op) => [op, predicate(op)])),
  // The step counter away from an integer, so a difference quotient never moves its truncation: no gradient, a zero difference.
  random_uniform: fc.record({ shape: shapeOf([1, 3]), step: fc.integer({ min: 0, max: 1000 }), s: seed }).map(({ shape, step, s }) => ({
    inputs: [{ shape: [], data: Float64Array.of(step + 0.5) }], what: `random_uniform [${shape}] at step ${step + 0.5}`,
    build: (g, [counter]) => node(g, "random_uniform", [counter!], { shape, seed: s }),
  })),
  // The condition from an input kept away from 0, so a difference quotient never flips it.
  where: fc.record({ shape: shapeOf([0, 3]), scalarB: fc.boolean(), s: seed }).map(({ shape, scalarB, s }) => ({
    inputs: [input(shape, s, [-2, 2], [0]), input(shape, s + 1), input(scalarB ? [1] : shape, s + 2)], what: `where [${shape}] b ${scalarB ? "[1]" : "same"}`,
    build: (g, [p, a, b]) => node(g, "where", [node(g, "greater", [p!, addConstant(g, [], Float32Array.of(0))])[0]!, a!, b!]),
  })),
  prelu: fc.record({ shape: shapeOf([2, 4]), perChannel: fc.boolean(), s: seed }).map(({ shape, perChannel, s }) => ({
    inputs: [input(shape, s, [-2, 2], [0]), input([perChannel ? shape[1]! : 1], s + 1)], what: `prelu [${shape}] ${perChannel}`,
    build: (g, [x, sl]) => node(g, "prelu", [x!, sl!]),
  })),
  cast: fc.record({ shape: shapeOf([1, 3]), s: seed }).map(({ shape, s }) => ({
    inputs: [input(shape, s)], what: `cast [${shape}]`, build: (g, [x]) => node(g, "cast", [x!], { to: "f32" }),
  })),
  conv2d: fc
    .record({ n: dim(2), g: dim(2), cg: dim(2), kg: dim(2), kh: dim(3), kw: dim(3), sh: dim(2), sw: dim(2), dh: dim(2), dw: dim(2), pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }), eh: fc.integer({ min: 0, max: 3 }), ew: fc.integer({ min: 0, max: 3 }), bias: fc.boolean(), s: seed })
    .map(({ n, g: groups, cg, kg, kh, kw, sh, sw, dh, dw, pads, eh, ew, bias, s }) => {
      const h = Math.max(1, dh * (kh - 1) + 1 - pads[0]! - pads[2]!) + eh;
      const w = Math.max(1, dw * (kw - 1) + 1 - pads[1]! - pads[3]!) + ew;
      const ins = [input([n, groups * cg, h, w], s), input([groups * kg, cg, kh, kw], s + 1), ...(bias ? [input([groups * kg], s + 2)] : [])];
      const attrs = { stride: [sh, sw], pads, dilation: [dh, dw], groups, ...(bias ? { bias: true } : {}) };
      return { inputs: ins, attrs, what: `conv2d x [${ins[0]!.shape}] w [${ins[1]!.shape}] ${JSON.stringify(attrs)}`, build: (g, xs, a) => node(g, "conv2d", xs, a) };
    }),
  conv_transpose2d: fc
    .record({ n: dim(2), g: dim(2), cg: dim(2), kg: dim(2), kh: dim(3), kw: dim(3), sh: dim(3), sw: dim(2), dh: dim(2), dw: dim(2), pads: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }), h: dim(3), w: dim(3), extra: fc.tuple(fc.nat(2), fc.nat(2)), bias: fc.boolean(), s: seed })
    .map(({ n, g: groups, cg, kg, kh, kw, sh, sw, dh, dw, pads, h, w, extra, bias, s }) => {
      // output_padding below the stride or the dilation; pads that leave an output.
      const output_padding = extra.map((p, i) => Math.min(p, Math.max([sh, sw][i]!, [dh, dw][i]!) - 1));
      const ins = [input([n, groups * cg, h, w], s), input([groups * cg, kg, kh, kw], s + 1), ...(bias ? [input([groups * kg], s + 2)] : [])];
      const attrs = { stride: [sh, sw], pads, dilation: [dh, dw], output_padding, groups, ...(bias ? { bias: true } : {}) };
      return { inputs: ins, attrs, what: `conv_transpose2d x [${ins[0]!.shape}] w [${ins[1]!.shape}] ${JSON.stringify(attrs)}`, build: (g, xs, a) => node(g, "conv_transpose2d", xs, a) } satisfies GradCase;
    })
    .filter((c) => {
      const a = c.attrs as { stride: number[]; pads: number[]; dilation: number[]; output_padding: number[] };
      const [, , h, w] = c.inputs[0]!.shape as [number, number, number, number];
      const [, , kh, kw] = c.inputs[1]!.shape as [number, number, number, number];
      const out = (size: number, i: number, k: number) => (size - 1) * a.stride[i]! + a.dilation[i]! * (k - 1) + a.output_padding[i]! + 1 - a.pads[i]! - a.pads[i + 2]!;
      return out(h, 0, kh) >= 1 && out(w, 1, kw) >= 1;
    }),
  resize: fc
    .record({ n: dim(2), c: dim(2), h: dim(4), w: dim(4), oh: dim(7), ow: dim(7), mode: fc.constantFrom(...RESIZE_MODES), coordinate: fc.constantFrom(...RESIZE_COORDINATES), nearest: fc.constantFrom(...RESIZE_NEAREST), s: seed })
    .map(({ n, c, h, w, oh, ow, mode, coordinate, nearest, s }) => {
      const attrs = { sizes: [n, c, oh, ow], mode, coordinate, ...(mode === "nearest" ? { nearest } : {}) };
      return { inputs: [input([n, c, h, w], s)], attrs, what: `resize [${n}, ${c}, ${h}, ${w}] ${JSON.stringify(attrs)}`, build: (g, [x], a) => node(g, "resize", [x!], a) } satisfies GradCase;
    }),
  ...Object.fromEntries((["maxpool", "avgpool"] as const).map((op) => [op, fc
    .record({ n: dim(2), c: dim(2), kh: dim(3), kw: dim(3), sh: dim(3), sw: dim(3), dh: dim(2), dw: dim(2), pads: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }), ceil: fc.boolean(), cip: fc.boolean(), eh: fc.integer({ min: 0, max: 4 }), ew: fc.integer({ min: 0, max: 4 }), s: seed })
    .map(({ n, c, kh, kw, sh, sw, dh, dw, pads, ceil, cip, eh, ew, s }) => {
      const [pt, pl, pb, pr] = pads.map((p, i) => Math.min(p, Math.floor((i % 2 === 0 ? kh : kw) / 2)));
      if (op === "avgpool") dh = dw = 1;
      const h = Math.max(1, dh * (kh - 1) + 1 - pt! - pb!) + eh;
      const w = Math.max(1, dw * (kw - 1) + 1 - pl! - pr!) + ew;
      const attrs = { kernel: [kh, kw], stride: [sh, sw], pads: [pt!, pl!, pb!, pr!], ceil_mode: ceil, ...(op === "maxpool" ? { dilation: [dh, dw] } : { count_include_pad: cip }) };
      return { inputs: [input([n, c, h, w], s)], attrs, what: `${op} [${n}, ${c}, ${h}, ${w}] ${JSON.stringify(attrs)}`, build: (g, [x], a) => node(g, op, [x!], a) } satisfies GradCase;
    })])),
  global_avgpool: fc.record({ shape: fc.tuple(dim(2), dim(3), dim(4), dim(4)), s: seed }).map(({ shape, s }) => ({
    inputs: [input([...shape], s)], what: `global_avgpool [${shape}]`, build: (g, [x]) => node(g, "global_avgpool", [x!]),
  })),
  batchnorm: fc.record({ shape: shapeOf([2, 4]), s: seed }).map(({ shape, s }) => {
    const c = [shape[1]!];
    return {
      inputs: [input(shape, s), input(c, s + 1), input(c, s + 2), input(c, s + 3), input(c, s + 4, [0.2, 2])], attrs: { eps: 1e-5 }, what: `batchnorm [${shape}]`,
      build: (g, xs, a) => node(g, "batchnorm", xs, a),
    };
  }),
  layernorm: fc.record({ shape: shapeOf([1, 3], 5), s: seed }).map(({ shape, s }) => {
    const d = [shape[shape.length - 1]!];
    return { inputs: [input(shape, s), input(d, s + 1), input(d, s + 2)], attrs: { eps: 1e-5 }, what: `layernorm [${shape}]`, build: (g, xs, a) => node(g, "layernorm", xs, a) };
  }),
  linear: fc.record({ shape: shapeOf([1, 3]), out: dim(4), bias: fc.boolean(), s: seed }).map(({ shape, out, bias, s }) => ({
    inputs: [input(shape, s), input([out, shape[shape.length - 1]!], s + 1), ...(bias ? [input([out], s + 2)] : [])], attrs: (bias ? { bias: true } : {}) as Attrs,
    what: `linear [${shape}] out ${out} bias ${bias}`, build: (g, xs, a) => node(g, "linear", xs, a),
  })),
  matmul: fc.record({ batch: broadcastPairs([0, 2]), m: dim(4), k: dim(4), n: dim(4), s: seed }).map(({ batch: [ba, bb], m, k, n, s }) => ({
    inputs: [input([...ba!, m, k], s), input([...bb!, k, n], s + 1)], what: `matmul [${ba}, ${m}, ${k}] [${bb}, ${k}, ${n}]`,
    build: (g, [a, b]) => node(g, "matmul", [a!, b!]),
  })),
  softmax: fc.record({ shape: shapeOf([1, 3]), s: seed }).chain(({ shape, s }) => fc.integer({ min: -shape.length, max: shape.length - 1 }).map((axis) => ({
    inputs: [input(shape, s)], attrs: { axis }, what: `softmax [${shape}] axis ${axis}`, build: (g, [x], a) => node(g, "softmax", [x!], a),
  }))),
  ...Object.fromEntries((["reduce_sum", "reduce_mean", "reduce_max"] as const).map((op) => [op,
    fc.record({ shape: shapeOf([1, 3]), keepdim: fc.boolean(), s: seed }).chain(({ shape, keepdim, s }) => fc.subarray([...shape.keys()], { minLength: 1 }).map((axes) => ({
      inputs: [input(shape, s)], attrs: { axes, keepdim }, what: `${op} [${shape}] ${JSON.stringify(axes)} ${keepdim}`, build: (g, [x], a) => node(g, op, [x!], a),
    } satisfies GradCase)))])),
  reshape: fc.record({ shape: shapeOf([1, 3]), s: seed }).map(({ shape, s }) => ({
    inputs: [input(shape, s)], attrs: { shape: [numel(shape)] }, what: `reshape [${shape}]`, build: (g, [x], a) => node(g, "reshape", [x!], a),
  })),
  transpose: fc.record({ shape: shapeOf([1, 4]), s: seed }).chain(({ shape, s }) => fc.shuffledSubarray([...shape.keys()], { minLength: shape.length, maxLength: shape.length }).map((perm) => ({
    inputs: [input(shape, s)], attrs: { perm }, what: `transpose [${shape}] ${perm}`, build: (g, [x], a) => node(g, "transpose", [x!], a),
  }))),
  concat: fc.record({ shape: shapeOf([1, 3]), sizes: fc.array(dim(3), { minLength: 1, maxLength: 3 }), s: seed }).chain(({ shape, sizes, s }) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => {
    const shapes = sizes.map((k) => shape.map((d, i) => (i === axis ? k : d)));
    return { inputs: shapes.map((sh, i) => input(sh, s + i)), attrs: { axis }, what: `concat ${JSON.stringify(shapes)} axis ${axis}`, build: (g, xs, a) => node(g, "concat", xs, a) };
  })),
  split: fc.record({ shape: shapeOf([1, 3]), sizes: fc.array(dim(3), { minLength: 2, maxLength: 3 }), read: fc.integer({ min: 0, max: 2 }), s: seed }).chain(({ shape, sizes, read, s }) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => {
    const x = shape.map((d, i) => (i === axis ? sizes.reduce((p, q) => p + q) : d));
    // The loss reads some of the pieces: the others have no gradient.
    return { inputs: [input(x, s)], attrs: { axis, sizes }, what: `split [${x}] ${sizes} axis ${axis} read ${read}`, build: (g, [v], a) => node(g, "split", [v!], a).filter((_, i) => i === read % sizes.length || read === 2) };
  })),
  slice: fc.record({ shape: shapeOf([1, 3], 7), s: seed, step: fc.constantFrom(1, 2, 3, -1, -2), a: fc.integer({ min: -8, max: 8 }), b: fc.integer({ min: -8, max: 8 }) })
    .chain(({ shape, s, step, a, b }) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({ shape, s, step, a, b, axis })))
    .filter(({ shape, step, a, b, axis }) => sliceRange(shape[axis]!, a, b, step).count > 0)
    .map(({ shape, s, step, a, b, axis }) => ({
      inputs: [input(shape, s)], attrs: { axis, start: a, end: b, step }, what: `slice [${shape}] axis ${axis} ${a}:${b}:${step}`, build: (g, [x], at) => node(g, "slice", [x!], at),
    })),
  gather: fc.record({ shape: shapeOf([1, 3]), ids: shapeOf([0, 2], 3), s: seed }).chain(({ shape, ids, s }) => fc.integer({ min: 0, max: shape.length - 1 }).map((axis) => ({
    inputs: [input(shape, s)], attrs: { axis }, what: `gather [${shape}] ids [${ids}] axis ${axis}`,
    build: (g, [x], a) => {
      const d = shape[axis]!;
      // Ids in [-d, d): negative ones count from the end; repeats sum their gradients.
      const data = Int32Array.from(values(s + 9, numel(ids), [-d, d]), Math.floor);
      return node(g, "gather", [x!, addConstant(g, ids, data)], a);
    },
  }))),
  pad: fc.record({ shape: shapeOf([1, 3]), mode: fc.constantFrom(...PAD_MODES), s: seed }).chain(({ shape, mode, s }) =>
    fc.tuple(...shape.flatMap((d) => [fc.integer({ min: -Math.floor((d - 1) / 2), max: 2 }), fc.integer({ min: -Math.floor((d - 1) / 2), max: 2 })])).map((p) => {
      const pads = [...p.filter((_, i) => i % 2 === 0), ...p.filter((_, i) => i % 2 === 1)];
      return { inputs: [input(shape, s)], attrs: { pads, mode, value: 0.5 }, what: `pad [${shape}] ${pads} ${mode}`, build: (g, [x], a) => node(g, "pad", [x!], a) } satisfies GradCase;
    })).filter((c) => {
      try {
        padAxes(c.inputs[0]!.shape, c.attrs.pads as number[], c.attrs.mode as PadMode);
        return true;
      } catch {
        return false; // a reflect pad as long as the axis
      }
    }),
  expand: broadcastPair.chain(([a, b]) => seed.map((s) => ({
    inputs: [input(b!, s)], attrs: { shape: a! }, what: `expand [${b}] to [${a}]`, build: (g, [x], at) => node(g, "expand", [x!], at),
  }))),
  tile: fc.record({ shape: shapeOf([1, 3], 3), s: seed }).chain(({ shape, s }) => fc.array(dim(3), { minLength: shape.length, maxLength: shape.length }).map((repeats) => ({
    inputs: [input(shape, s)], attrs: { repeats }, what: `tile [${shape}] ${repeats}`, build: (g, [x], a) => node(g, "tile", [x!], a),
  }))),
};

describe("other core ops", () => {
  it.each(Object.keys(cases))("%s", (op) => property(cases[op as OpName]!)());
});

it("every core op with a rule has cases here", () => {
  const covered = new Set<string>([...unaryOps, ...binaryOps, ...Object.keys(cases)]);
  const missing = opNames.filter((op) => !isUnsupported(gradRules[op]) && !covered.has(op));
  if (missing.length) throw new Error(`no gradient cases for ${missing.join(", ")}`);
});

describe("fused ops and fused forms, through their decompositions", () => {
  const c = (what: string, shapes: number[][], build: GradCase["build"], attrs: Attrs = {}): GradCase => ({ what, inputs: shapes.map((s, i) => input(s, 40 + i)), build, attrs });
  it.each([
    c("attention with a mask", [[1, 2, 3, 4], [1, 2, 5, 4], [1, 2, 5, 3], [1, 1, 3, 5]], (g, xs) => node(g, "attention", xs, { scale: 0.5 })),
    c("fused_elementwise tanh(a * b) - a", [[2, 3], [3]], (g, xs) => node(g, "fused_elementwise", xs, { program: [{ op: "mul", args: [0, 1] }, { op: "tanh", args: [2] }, { op: "sub", args: [3, 0] }] })),
    c("linear + bias + residual + gelu", [[2, 3], [4, 3], [4], [2, 4]], (g, xs) => node(g, "linear", xs, { bias: true, residual: true, act: "gelu", approximate: "tanh" })),
    c("NHWC conv2d + bias + elu", [[1, 5, 4, 2], [3, 2, 3, 3], [3]], (g, xs) => node(g, "conv2d", xs, { stride: [1, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1, bias: true, act: "elu", alpha: 0.5, layout: "NHWC" })),
    c("NHWC maxpool", [[1, 4, 5, 2]], (g, xs) => node(g, "maxpool", xs, { kernel: [2, 2], stride: [2, 1], pads: [0, 0, 0, 0], layout: "NHWC" })),
  ])("$what", (gc) => void checkGradient(gc));

  it("gradients() rejects a node left in a fused form, naming it", () => {
    const g = emptyGraph("fused");
    g.values.push({ id: 0, type: { dtype: "f32", shape: [2, 3] }, kind: "input" });
    g.inputs.push({ name: "x", value: 0 });
    const w = addConstant(g, [4, 3], new Float32Array(12));
    const [y] = node(g, "linear", [0, w], { act: "relu" });
    const [s] = node(g, "reduce_sum", [y!], { axes: [0, 1] });
    expect(() => gradients(g, s!, [0])).toThrow(new NotDifferentiable("gradients: linear is in a fused form; run toCoreForm first"));
  });
});
