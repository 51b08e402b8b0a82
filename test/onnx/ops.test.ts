// One property per IR operator: random shapes and attributes -> a single-op .nn model -> ONNX
// in onnxruntime vs the reference interpreter on the same random weights and inputs.
import fc from "fast-check";
import { describe, it } from "vitest";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { dim as baseDim, dims, f32, poolCase as sharedPoolCase } from "../support/source.js";
import { elaborate, expectClose, inputsFor, randomWeights, runOrt, type InputOptions } from "./helpers.js";

interface Case {
  /** The model body: `input` and `output` statements. */
  body: string;
  inputs?: InputOptions;
  /** MaxPool: a window entirely in the padding gives -inf in PyTorch (and the interpreter) but
   *  the lowest finite float in onnxruntime; count those as equal. */
  lowestIsNegInf?: boolean;
}

const RUNS = 60;
/** GRAPHC_FC_SCALE=10 multiplies every property's run count (for a longer local hunt). */
const SCALE = Number(process.env.GRAPHC_FC_SCALE ?? 1);

async function check(c: Case, seed: number): Promise<void> {
  const src = `model m() {\n${c.body}\n}\n`;
  const g = elaborate(src);
  const weights = randomWeights(g, seed);
  const inputs = inputsFor(g, seed, c.inputs);
  const got = await runOrt(exportOnnx(g, weights), g, inputs);
  if (c.lowestIsNegInf)
    for (const o of Object.values(got)) if (o.data instanceof Float32Array) o.data.forEach((v, i, a) => v === -3.4028234663852886e38 && (a[i] = -Infinity));
  expectClose(g, got, interpret(g, weights, inputs), `\n${src}`);
}

function prop(name: string, arb: fc.Arbitrary<Case>, runs = RUNS): void {
  it(name, async () => {
    await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 0, max: 1 << 30 }), (c, seed) => check(c, seed)), { numRuns: Math.ceil(runs * SCALE) });
  }, 60_000);
}

const dim = (max = 4) => baseDim(max);
const shape = (minRank: number, maxRank: number, max = 4) => fc.array(dim(max), { minLength: minRank, maxLength: maxRank });
const num = (x: number) => (Number.isInteger(x) ? `${x}.0` : `${x}`);

/** Two shapes that broadcast: suffixes of one base shape with some dims set to 1. */
const broadcastPair = shape(1, 4).chain((base) =>
  fc.tuple(
    ...[0, 1].map(() =>
      fc.tuple(fc.integer({ min: 0, max: base.length - 1 }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length })).map(([drop, ones]) =>
        base.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
      ),
    ),
  ),
);

describe("operators: onnxruntime vs interpreter", () => {
  prop(
    "conv2d",
    fc
      .record({
        n: dim(2), g: dim(3), cg: dim(3), kg: dim(2), kh: dim(4), kw: dim(4), sh: dim(3), sw: dim(3), dh: dim(2), dw: dim(2),
        pads: fc.tuple(...Array.from({ length: 4 }, () => fc.integer({ min: 0, max: 2 }))), bias: fc.boolean(), eh: fc.integer({ min: 0, max: 5 }), ew: fc.integer({ min: 0, max: 5 }),
      })
      .map(({ n, g, cg, kg, kh, kw, sh, sw, dh, dw, pads: [pt, pl, pb, pr], bias, eh, ew }) => {
        const h = Math.max(1, dh * (kh - 1) + 1 - pt - pb) + eh;
        const w = Math.max(1, dw * (kw - 1) + 1 - pl - pr) + ew;
        return {
          body: `${f32("x", [n, g * cg, h, w])}\n  output y = c: conv2d(x, ${g * kg}, kernel=(${kh}, ${kw}), stride=(${sh}, ${sw}), pad=(${pt}, ${pl}, ${pb}, ${pr}), dilation=(${dh}, ${dw}), groups=${g}, bias=${bias})`,
        };
      }),
  );

  const poolCase = (op: "maxpool" | "avgpool") => sharedPoolCase(op, 3).map((body) => ({ body, lowestIsNegInf: op === "maxpool" }));
  prop("maxpool", poolCase("maxpool"), 150);
  prop("avgpool", poolCase("avgpool"), 150);

  prop("global_avgpool", shape(4, 4, 5).map((s) => ({ body: `${f32("x", s)}\n  output y = global_avgpool(x)` })), 10);

  const eps = fc.constantFrom(1e-5, 1e-3, 0.1);
  prop("batchnorm", fc.tuple(shape(2, 4), eps).map(([s, e]) => ({ body: `${f32("x", s)}\n  output y = bn: batchnorm(x, eps=${e})` })), 15);
  prop("layernorm", fc.tuple(shape(1, 3, 6), eps).map(([s, e]) => ({ body: `${f32("x", s)}\n  output y = ln: layernorm(x, eps=${e})` })), 15);

  prop(
    "linear",
    fc.tuple(shape(0, 3), dim(6), dim(6), fc.boolean()).map(([lead, i, o, b]) => ({ body: `${f32("x", [...lead, i])}\n  output y = fc: linear(x, ${o}, bias=${b})` })),
  );

  prop(
    "matmul",
    fc.tuple(broadcastPair, dim(5), dim(5), dim(5), fc.boolean()).map(([[a, b], m, k, n, batched]) => {
      // batch dims: (suffixes of) a broadcastable pair, or none
      const [ba, bb] = batched ? [a.slice(-2), b.slice(-2)] : [[], []];
      return { body: `${f32("a", [...ba, m, k])}\n${f32("b", [...bb, k, n])}\n  output y = matmul(a, b)` };
    }),
  );

  const unaryPlain = ["relu", "relu6", "sigmoid", "tanh", "selu", "silu", "hard_sigmoid", "hard_swish", "exp", "erf", "neg", "abs"];
  prop(
    "unary activations",
    fc.tuple(fc.constantFrom(...unaryPlain), shape(1, 4)).map(([op, s]) => ({ body: `${f32("x", s)}\n  output y = ${op}(x)`, inputs: { range: [-8, 8] } })),
    40,
  );
  prop(
    "log, sqrt",
    fc.tuple(fc.constantFrom("log", "sqrt"), shape(1, 4)).map(([op, s]) => ({ body: `${f32("x", s)}\n  output y = ${op}(x)`, inputs: { range: [0.01, 10] } })),
    10,
  );
  prop(
    "activations with attributes",
    fc
      .tuple(
        shape(1, 4),
        fc.oneof(
          fc.tuple(fc.double({ min: -3, max: 0, noNaN: true }), fc.double({ min: 0, max: 3, noNaN: true })).map(([lo, hi]) => `clip(x, ${num(lo)}, ${num(hi)})`),
          fc.double({ min: 0, max: 1, noNaN: true }).map((s) => `leaky_relu(x, slope=${num(s)})`),
          fc.double({ min: 0.1, max: 2, noNaN: true }).map((a) => `elu(x, alpha=${num(a)})`),
          fc.constantFrom('gelu(x)', 'gelu(x, approximate="none")', 'gelu(x, approximate="tanh")'),
        ),
      )
      .map(([s, call]) => ({ body: `${f32("x", s)}\n  output y = ${call}`, inputs: { range: [-6, 6] } })),
    40,
  );

  prop(
    "binary with broadcasting",
    fc.tuple(fc.constantFrom("add", "sub", "mul", "div", "maximum", "minimum"), broadcastPair).map(([op, [a, b]]) => ({
      body: `${f32("a", a)}\n${f32("b", b)}\n  output y = ${op}(a, b)`,
      inputs: { range: [0.25, 3] },
    })),
    40,
  );
  prop(
    "integer binary ops",
    fc.tuple(fc.constantFrom("add", "sub", "mul", "div", "maximum", "minimum"), broadcastPair, fc.constantFrom("i32", "i64")).map(([op, [a, b], t]) => ({
      // b * 2 + 1 is odd, so integer division never divides by zero
      body: `  input a: ${t}${dims(a)}\n  input b: ${t}${dims(b)}\n  output y = ${op}(a, ${op === "div" ? "b * 2 + 1" : "b"})`,
      inputs: { intRange: [-50, 50] },
    })),
    30,
  );
  prop(
    "pow",
    broadcastPair.map(([a, b]) => ({ body: `${f32("a", a)}\n${f32("b", b)}\n  output y = pow(a, b)`, inputs: { range: [0.1, 3] } })),
    15,
  );
  prop(
    "scalar operands",
    fc.tuple(shape(1, 3), fc.double({ min: -4, max: 4, noNaN: true })).map(([s, k]) => ({ body: `${f32("x", s)}\n  output y = (x * ${num(k)} - 1.5) / 2.0 + maximum(x, 0.5)` })),
    10,
  );

  prop(
    "prelu",
    shape(1, 4).chain((s) =>
      fc.constantFrom(...new Set([1, s.length >= 2 ? s[1]! : 1])).map((n) => ({ body: `${f32("x", s)}\n  output y = p: prelu(x, num_parameters=${n})` })),
    ),
    20,
  );

  prop(
    "softmax",
    shape(1, 4, 5).chain((s) => fc.integer({ min: -s.length, max: s.length - 1 }).map((a) => ({ body: `${f32("x", s)}\n  output y = softmax(x, axis=${a})`, inputs: { range: [-10, 10] } }))),
    20,
  );

  prop(
    "mean, sum and amax",
    shape(1, 4, 4).chain((s) =>
      fc
        .tuple(
          fc.constantFrom("mean", "sum", "amax"),
          fc.subarray([...s.keys()], { minLength: 1 }),
          fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
          fc.boolean(),
        )
        .map(([op, axes, neg, keep]) => ({
          body: `${f32("x", s)}\n  output y = ${op}(x, [${axes.map((a) => (neg[a] ? a - s.length : a)).join(", ")}], keepdim=${keep})`,
        })),
    ),
    30,
  );

  prop(
    "reshape and flatten",
    shape(1, 4).chain((s) =>
      fc.oneof(
        fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length }).chain((perm) =>
          fc.integer({ min: -1, max: perm.length - 1 }).map((hole) => perm.map((d, i) => (i === hole ? -1 : d))).map((t) => `reshape(x, [${t.join(", ")}])`),
        ),
        fc.integer({ min: 0, max: s.length - 1 }).map((st) => `flatten(x, start=${st})`),
      ).map((call) => ({ body: `${f32("x", s)}\n  output y = ${call}` })),
    ),
    20,
  );

  prop(
    "transpose",
    shape(1, 4).chain((s) =>
      fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }).map((perm) => ({ body: `${f32("x", s)}\n  output y = transpose(x, [${perm.join(", ")}])` })),
    ),
    20,
  );

  prop(
    "concat",
    shape(1, 4).chain((s) =>
      fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(dim(3), { minLength: 1, maxLength: 3 }), fc.boolean()).map(([axis, sizes, neg]) => {
        const decls = sizes.map((k, i) => f32(`x${i}`, s.map((d, j) => (j === axis ? k : d)))).join("\n");
        return { body: `${decls}\n  output y = concat([${sizes.map((_, i) => `x${i}`).join(", ")}], ${neg ? axis - s.length : axis})` };
      }),
    ),
    20,
  );

  prop(
    "split",
    shape(1, 4).chain((s) =>
      fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(dim(3), { minLength: 1, maxLength: 3 })).map(([axis, sizes]) => {
        const full = s.map((d, j) => (j === axis ? sizes.reduce((a, b) => a + b, 0) : d));
        const names = sizes.map((_, i) => `p${i}`);
        return {
          body: `${f32("x", full)}\n  ps = split(x, [${sizes.join(", ")}], ${axis})\n${names.map((p, i) => `  output o${p} = ps[${i}]`).join("\n")}`,
        };
      }),
    ),
    20,
  );

  prop(
    "slice and select",
    shape(1, 4, 5).chain((s) =>
      fc.integer({ min: 0, max: s.length - 1 }).chain((axis) => {
        const d = s[axis]!;
        return fc.oneof(
          fc.integer({ min: 0, max: d - 1 }).chain((st) => fc.tuple(fc.integer({ min: st + 1, max: d }), fc.boolean()).map(([en, neg]) => `slice(x, ${axis}, ${st}, ${neg && en < d ? en - d : en})`)),
          fc.integer({ min: -d, max: d - 1 }).map((i) => `select(x, ${axis}, ${i})`),
        ).map((call) => ({ body: `${f32("x", s)}\n  output y = ${call}` }));
      }),
    ),
    20,
  );

  prop(
    "embedding (gather)",
    fc.tuple(shape(1, 2), dim(10), dim(5), fc.constantFrom("i32", "i64")).map(([s, n, d, t]) => ({
      body: `  input ids: ${t}${dims(s)}\n  output y = e: embedding(ids, ${n}, ${d})`,
      inputs: { intHigh: n },
    })),
    20,
  );

  prop(
    "cast",
    fc.tuple(shape(1, 3), fc.constantFrom('cast(cast(x, "i32"), "f32")', 'cast(x, "i64")', 'cast(cast(x, "i64"), "i32")')).map(([s, call]) => ({
      body: `${f32("x", s)}\n  output y = ${call}`,
      inputs: { range: [-20, 20] },
    })),
    15,
  );
});
