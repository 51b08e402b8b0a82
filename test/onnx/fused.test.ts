// The IR forms that passes produce (fused conv2d/linear/matmul epilogues, channels-last
// layouts, fused_elementwise programs, attention), built directly as graphs: ONNX in
// onnxruntime vs the reference interpreter.
import fc from "fast-check";
import { describe, it } from "vitest";
import { emptyGraph, type Attrs, type DType, type Graph, type TensorType } from "../../src/ir/graph.js";
import { getOp } from "../../src/ir/ops.js";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { expectClose, inputsFor, randomWeights, runOrt } from "./helpers.js";

const SCALE = Number(process.env.GRAPHC_FC_SCALE ?? 1);

/** A tiny graph builder: values get their types from the op definitions. */
class G {
  readonly g: Graph = emptyGraph("fused");
  private value(type: TensorType, kind: "input" | "weight" | "node"): number {
    const id = this.g.values.length;
    this.g.values.push({ id, type, kind });
    return id;
  }
  input(name: string, shape: number[], dtype: DType = "f32"): number {
    const v = this.value({ dtype, shape }, "input");
    this.g.inputs.push({ name, value: v });
    return v;
  }
  weight(name: string, shape: number[]): number {
    const v = this.value({ dtype: "f32", shape }, "weight");
    this.g.weights.push({ name, value: v, type: { dtype: "f32", shape }, trainable: true, init: { kind: "zeros" } });
    return v;
  }
  node(op: string, inputs: number[], attrs: Attrs): number {
    const types = getOp(op).infer(inputs.map((i) => this.g.values[i]!.type), attrs);
    const outs = types.map((t) => this.value(t, "node"));
    const id = this.g.nodes.length;
    for (const o of outs) this.g.values[o]!.producer = id;
    this.g.nodes.push({ id, op, inputs, outputs: outs, attrs, path: "" });
    return outs[0]!;
  }
  output(v: number): Graph {
    this.g.outputs.push({ name: "y", value: v });
    return this.g;
  }
}

async function check(build: () => Graph, seed: number): Promise<void> {
  const g = build();
  const weights = randomWeights(g, seed);
  const inputs = inputsFor(g, seed);
  const what = `\n${JSON.stringify(g.nodes.map((n) => ({ op: n.op, attrs: n.attrs, in: n.inputs.map((i) => g.values[i]!.type.shape) })))}`;
  expectClose(g, await runOrt(exportOnnx(g, weights), g, inputs), interpret(g, weights, inputs), what);
}

function prop<T>(name: string, arb: fc.Arbitrary<T>, build: (v: T) => Graph, runs = 40): void {
  it(name, async () => {
    await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 0, max: 1 << 30 }), (v, seed) => check(() => build(v), seed)), { numRuns: Math.ceil(runs * SCALE) });
  }, 60_000);
}

const dim = (max = 4) => fc.integer({ min: 1, max });

/** A fused activation with its attributes (prelu: the slope count is picked by the caller). */
const act = fc.oneof(
  fc.constant<Attrs>({}),
  fc.constantFrom<Attrs>({ act: "relu" }, { act: "relu6" }, { act: "sigmoid" }, { act: "silu" }, { act: "hard_swish" }, { act: "gelu", approximate: "none" }, { act: "gelu", approximate: "tanh" }),
  fc.constant<Attrs>({ act: "clip", min: -0.5, max: 0.75 }),
  fc.constant<Attrs>({ act: "leaky_relu", slope: 0.1 }),
  fc.constant<Attrs>({ act: "elu", alpha: 0.7 }),
  fc.constant<Attrs>({ act: "prelu" }),
);

/** Inputs of an epilogue after [x, w]: bias, residual (output-shaped input), slopes. */
function epilogue(b: G, a: Attrs, channels: number, yShape: number[], perChannel: boolean): number[] {
  const extra: number[] = [];
  if (a.bias === true) extra.push(b.weight("bias", [channels]));
  if (a.residual === true) extra.push(b.input("residual", yShape));
  if (a.act === "prelu") extra.push(b.weight("slope", [perChannel ? channels : 1]));
  return extra;
}

describe("fused IR forms: onnxruntime vs interpreter", () => {
  prop(
    "conv2d with epilogue, NCHW and NHWC",
    fc.record({ n: dim(2), c: dim(3), k: dim(4), kh: dim(3), s: dim(2), h: fc.integer({ min: 3, max: 7 }), nhwc: fc.boolean(), bias: fc.boolean(), residual: fc.boolean(), act, per: fc.boolean() }),
    ({ n, c, k, kh, s, h, nhwc, bias, residual, act: a, per }) => {
      const b = new G();
      const x = b.input("x", nhwc ? [n, h, h, c] : [n, c, h, h]);
      const w = b.weight("w", [k, c, kh, kh]);
      const attrs: Attrs = { stride: [s, s], pads: [1, 0, 0, 1], dilation: [1, 1], groups: 1, bias, residual, ...a, ...(nhwc ? { layout: "NHWC" } : {}) };
      const oh = Math.floor((h + 1 - kh) / s) + 1;
      const yShape = nhwc ? [n, oh, oh, k] : [n, k, oh, oh];
      return b.output(b.node("conv2d", [x, w, ...epilogue(b, attrs, k, yShape, per)], attrs));
    },
  );

  prop(
    "linear and matmul with epilogue",
    fc.record({ lead: fc.array(dim(3), { maxLength: 2 }), i: dim(5), o: dim(5), mm: fc.boolean(), bias: fc.boolean(), residual: fc.boolean(), act, per: fc.boolean() }),
    ({ lead, i, o, mm, bias, residual, act: a, per }) => {
      const b = new G();
      const attrs: Attrs = { bias, residual, ...a };
      if (mm) {
        const m = lead[0] ?? 2;
        const x = b.input("a", [...lead, m, i]);
        const w = b.input("b", [i, o]);
        return b.output(b.node("matmul", [x, w, ...epilogue(b, attrs, o, [...lead, m, o], per)], attrs));
      }
      const x = b.input("x", [...lead, i]);
      const w = b.weight("w", [o, i]);
      return b.output(b.node("linear", [x, w, ...epilogue(b, attrs, o, [...lead, o], per)], attrs));
    },
  );

  prop(
    "channels-last pools, batchnorm and prelu",
    fc.record({ n: dim(2), c: dim(3), h: fc.integer({ min: 2, max: 6 }), op: fc.constantFrom("maxpool", "avgpool", "global_avgpool", "batchnorm", "prelu"), ceil: fc.boolean(), per: fc.boolean() }),
    ({ n, c, h, op, ceil, per }) => {
      const b = new G();
      const x = b.input("x", [n, h, h, c]);
      const layout = { layout: "NHWC" };
      if (op === "batchnorm") return b.output(b.node(op, [x, ...["g", "beta", "mean", "running_var"].map((s) => b.weight(s, [c]))], { eps: 1e-5, ...layout }));
      if (op === "prelu") return b.output(b.node(op, [x, b.weight("slope", [per ? c : 1])], layout));
      if (op === "global_avgpool") return b.output(b.node(op, [x], layout));
      const pool: Attrs = { kernel: [2, 2], stride: [2, 1], pads: [1, 0, 0, 1], dilation: [1, 1], ceil_mode: ceil, ...layout };
      if (op === "avgpool") pool.count_include_pad = per;
      return b.output(b.node(op, [x], pool));
    },
  );

  const unaryStep = fc.constantFrom<[string, Attrs]>(["relu", {}], ["sigmoid", {}], ["tanh", {}], ["neg", {}], ["abs", {}], ["relu6", {}], ["hard_sigmoid", { alpha: 0.2, beta: 0.5 }], ["silu", {}], ["gelu", { approximate: "tanh" }], ["leaky_relu", { slope: 0.2 }], ["clip", { min: -1, max: 1 }]);
  prop(
    "fused_elementwise programs",
    fc.record({
      shapes: fc.constantFrom<number[][]>([[2, 3], [3]], [[2, 1, 4], [3, 1]], [[5], [1]], [[1, 4], [3, 1]]),
      steps: fc.array(fc.oneof(unaryStep.map(([op, attrs]) => ({ op, attrs, arity: 1 })), fc.constantFrom("add", "sub", "mul", "maximum", "minimum").map((op) => ({ op, attrs: {}, arity: 2 }))), { minLength: 1, maxLength: 6 }),
      picks: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    }),
    ({ shapes, steps, picks }) => {
      const b = new G();
      const ins = shapes.map((s, k) => b.input(`x${k}`, s));
      // the first step combines both inputs, so the output has their broadcast shape
      const program: { op: string; args: number[]; attrs?: Attrs }[] = [{ op: "mul", args: [0, 1] }];
      steps.forEach((st, k) => {
        const regs = ins.length + k + 1;
        // each step reads the previous register (so all are used) and, if binary, another one
        const args = st.arity === 1 ? [regs - 1] : [regs - 1, picks[k]! % regs];
        program.push({ op: st.op, args, ...(Object.keys(st.attrs).length ? { attrs: st.attrs } : {}) });
      });
      return b.output(b.node("fused_elementwise", ins, { program }));
    },
  );

  prop(
    "attention",
    fc.record({ bh: fc.tuple(dim(2), dim(2)), sq: dim(4), sk: dim(4), d: dim(4), dv: dim(4), mask: fc.constantFrom("none", "full", "keys") }),
    ({ bh: [bb, h], sq, sk, d, dv, mask }) => {
      const b = new G();
      const q = b.input("q", [bb, h, sq, d]);
      const k = b.input("k", [bb, h, sk, d]);
      const v = b.input("v", [bb, h, sk, dv]);
      const ins = [q, k, v];
      if (mask === "full") ins.push(b.input("mask", [bb, h, sq, sk]));
      if (mask === "keys") ins.push(b.input("mask", [bb, 1, 1, sk]));
      return b.output(b.node("attention", ins, { scale: 1 / Math.sqrt(d) }));
    },
    20,
  );
});
