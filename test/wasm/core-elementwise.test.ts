// Elementwise kernels (unary, binary with broadcasting, prelu, cast, batchnorm, fused programs)
// on random shapes — inner lengths 1..9 cover every SIMD tail — in both builds vs the interpreter.
// Tolerances: one correctly rounded f32 op is within 0.5 ulp of the double result (6e-8
// relative), `exact`; the polynomial functions are within 2e-7 (core-math), `poly`; a
// chain of steps accumulates a few of those with the chain's conditioning, `chain`.
// Layout variants run the layout pass, which makes the spatial ops channels-last.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkModel, dim, f32, inputsFor, model, num, property, shape, type Tolerance } from "./core-helpers.js";

const exact: Tolerance = { rel: 3e-7, abs: 0 };
// abs: for gelu(x < -5) the interpreter's own 1 + erf cancels in double (error |x| 1.1e-16).
const poly: Tolerance = { rel: 1e-6, abs: 1e-14 };
const chain: Tolerance = { rel: 1e-5, abs: 1e-6 };

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

async function check(body: string, seed: number, tol: Tolerance, range: [number, number] = [-3, 3], passes: string[] = []): Promise<void> {
  const g = model(body, seed, passes);
  if (passes.includes("layout")) expect(g.nodes.some((n) => n.attrs.layout === "NHWC")).toBe(true);
  await checkModel(g, inputsFor(g, seed, range), tol, `\n${body}`);
}

describe("wasm elementwise kernels", () => {
  it("unary ops", () =>
    property(
      fc.tuple(
        fc.constantFrom("relu", "relu6", "neg", "abs", "hard_sigmoid", "hard_swish", "sigmoid", "tanh", "selu", "silu", "exp", "erf", "gelu", "elu", "leaky_relu", "clip"),
        shape(1, 4),
      ),
      async ([op, s], seed) => {
        const call = op === "clip" ? "clip(x, -1.5, 2.0)" : op === "leaky_relu" ? "leaky_relu(x, slope=0.2)" : op === "elu" ? "elu(x, alpha=0.7)" : `${op}(x)`;
        await check(`${f32("x", s)}\n  output y = ${call}`, seed, ["relu", "relu6", "neg", "abs", "clip", "leaky_relu"].includes(op) ? exact : poly, [-8, 8]);
      },
      40,
    ));

  it("log and sqrt", () =>
    property(fc.tuple(fc.constantFrom("log", "sqrt"), shape(1, 4)), ([op, s], seed) => check(`${f32("x", s)}\n  output y = ${op}(x)`, seed, poly, [0.01, 10]), 15));

  it("binary ops with broadcasting", () =>
    property(
      fc.tuple(fc.constantFrom("add", "sub", "mul", "div", "maximum", "minimum"), broadcastPair),
      ([op, [a, b]], seed) => check(`${f32("a", a)}\n${f32("b", b)}\n  output y = ${op}(a, b)`, seed, exact, [0.25, 3]),
      50,
    ));

  it("pow", () =>
    property(broadcastPair, ([a, b], seed) => check(`${f32("a", a)}\n${f32("b", b)}\n  output y = pow(a, b)`, seed, poly, [0.1, 3]), 15));

  it("integer binary ops", () =>
    property(
      fc.tuple(fc.constantFrom("+", "-", "*", "/"), broadcastPair),
      ([op, [a, b]], seed) => check(`${f32("a", a)}\n${f32("b", b)}\n  output y = cast(cast(a * 9.0, "i32") ${op} (cast(b * 3.0, "i32") + 1), "f32")`, seed, exact, [0, 3]),
      25,
    ));

  it("scalar operands and integer powers", () =>
    property(
      fc.tuple(shape(1, 3), fc.double({ min: -4, max: 4, noNaN: true }), fc.integer({ min: -3, max: 4 })),
      ([s, k, p], seed) => check(`${f32("x", s)}\n  output y = (x * ${num(k)} - 1.5) / 2.0 + pow(x, ${num(p)})`, seed, chain, [0.5, 3]),
      15,
    ));

  it("cast", () =>
    property(
      fc.tuple(shape(1, 3), fc.constantFrom('cast(cast(x, "i32"), "f32")', 'cast(x, "i64")', 'cast(cast(x, "i64"), "i32")')),
      ([s, call], seed) => check(`${f32("x", s)}\n  output y = ${call}`, seed, exact, [-20, 20]),
      15,
    ));

  const channels = (layout: boolean) =>
    fc.tuple(dim(2), dim(9), dim(5), dim(5)).map(([n, c, h, w]) => ({ s: [n, c, h, w], layout }));
  for (const layout of [false, true]) {
    const tag = layout ? " (NHWC)" : "";
    it(`prelu${tag}`, () =>
      property(
        fc.tuple(layout ? channels(true).map((x) => x.s) : shape(1, 4), fc.boolean()),
        ([s, one], seed) => check(`${f32("x", s)}\n  output y = p: prelu(x, num_parameters=${one || s.length < 2 ? 1 : s[1]})`, seed, exact, [-3, 3], layout ? ["layout"] : []),
        20,
      ));
    it(`batchnorm${tag}`, () =>
      property(channels(layout), ({ s }, seed) => check(`${f32("x", s)}\n  output y = relu(bn: batchnorm(x, eps=0.001))`, seed, chain, [-3, 3], layout ? ["layout"] : []), 15));
  }

  it("fused_elementwise", () =>
    property(
      fc.tuple(broadcastPair, fc.constantFrom("gelu", "tanh", "sigmoid", "relu", "silu")),
      async ([[a, b], act], seed) => {
        const body = `${f32("a", a)}\n${f32("b", b)}\n  output y = ${act}(a * 0.5 + b) - maximum(a, b) / 3.0`;
        const g = model(body, seed, ["fuse-elementwise"]);
        expect(g.nodes.map((n) => n.op)).toContain("fused_elementwise");
        await checkModel(g, inputsFor(g, seed), chain, `\n${body}`);
      },
      30,
    ));
});
