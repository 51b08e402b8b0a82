// recognize-patterns: primitive spellings become the fused op (and nothing else does), with the
// interpreter's results unchanged.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { checkPassPreserves, graphArb } from "./gen.js";
import { graphOf, model, ops } from "./helpers.js";

const recognize = (src: string) => checkPassPreserves(["recognize-patterns"], graphOf(src));

/** Each spelling must become exactly one `op` and nothing of the primitives it replaced. */
const positives: [string, string, number[], string][] = [
  ["layernorm", "pow, sqrt, div, gamma and beta", [2, 3, 8], `
  mu = mean(x, -1, keepdim=true)
  d = x - mu
  v = mean(d ** 2, -1, keepdim=true)
  output y = d / sqrt(v + 1e-5) * (g: parameter([8], init="normal")) + (b: parameter([8], init="normal"))`],
  ["layernorm", "square by mul, rsqrt as pow -0.5, no affine", [4, 6], `
  d = x - mean(x, [1], keepdim=true)
  output y = d * (mean(d * d, [1], keepdim=true) + 1e-6) ** -0.5`],
  ["layernorm", "1 / sqrt, scalar gamma, beta first", [2, 5], `
  d = x - mean(x, -1, keepdim=true)
  output y = 0.5 + d * (1.0 / sqrt(mean(d * d, -1, keepdim=true) + 1e-5)) * 2.0`],
  ["gelu", "erf form", [3, 7], "  output y = 0.5 * x * (1.0 + erf(x / 1.4142135))"],
  ["gelu", "erf form, multiplied the other way", [3, 7], "  output y = x * (erf(x * 0.70710678) + 1.0) * 0.5"],
  ["gelu", "tanh form with pow", [3, 7], "  output y = 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x ** 3.0)))"],
  ["gelu", "tanh form with x * x * x", [3, 7], "  output y = x * 0.5 * (1.0 + tanh((x + 0.044715 * (x * x * x)) * 0.7978845608))"],
  ["hard_swish", "x * relu6(x + 3) / 6", [2, 9], "  output y = x * relu6(x + 3.0) / 6.0"],
  ["hard_swish", "x * clip(x + 3, 0, 6) / 6", [2, 9], "  output y = x * clip(x + 3.0, 0.0, 6.0) / 6.0"],
  ["hard_swish", "x * (relu6(3 + x) / 6)", [2, 9], "  output y = x * (relu6(3.0 + x) / 6.0)"],
  ["hard_swish", "x * hard_sigmoid(x)", [2, 9], "  output y = hard_sigmoid(x) * x"],
  ["hard_sigmoid", "relu6(x + 3) / 6", [2, 9], "  output y = relu6(x + 3.0) / 6.0"],
  ["hard_sigmoid", "clip(x + 3, 0, 6) * (1/6)", [2, 9], "  output y = clip(x + 3.0, 0.0, 6.0) * 0.16666667"],
  ["softmax", "exp / sum", [3, 4, 5], `
  e = exp(x)
  output y = e / sum(e, 1, keepdim=true)`],
  ["softmax", "max-subtracted via amax", [3, 5], `
  e = exp(x - amax(x, -1, keepdim=true))
  output y = e / sum(e, -1, keepdim=true)`],
  ["softmax", "max-subtracted, axes spelled differently", [3, 5], `
  e = exp(x - amax(x, [1], keepdim=true))
  output y = e / sum(e, -1, keepdim=true)`],
];

describe("recognize-patterns", () => {
  test.each(positives)("%s: %s", (op, _what, shape, body) => {
    const after = recognize(model(shape, body));
    expect(ops(after)).toEqual({ [op]: 1 });
  });

  test("h-swish and h-sigmoid inside a larger graph keep the rest", () => {
    const after = recognize(model([2, 8], "  output y = relu(x * relu6(x + 3.0) / 6.0) + relu6(x + 3.0) / 6.0"));
    expect(ops(after)).toEqual({ hard_swish: 1, hard_sigmoid: 1, relu: 1, add: 1 });
  });

  test("attention: BERT's spelling (reshape, transposes, / sqrt(d) + mask, softmax)", () => {
    const src = `import "lib/bert.nn"
model m() {
  input q: f32[2, 5, 8]
  input k: f32[2, 5, 8]
  input v: f32[2, 5, 8]
  input keep: i32[2, 5]
  output y = attention_core(q, k, v, extended_mask(keep), 2)
}`;
    const after = recognize(src);
    expect(ops(after).attention).toBe(1);
    expect(ops(after)).not.toHaveProperty("softmax");
    expect(ops(after)).not.toHaveProperty("matmul");
    const att = after.nodes.find((n) => n.op === "attention")!;
    expect(att.attrs.scale).toBeCloseTo(0.5);
    expect(att.inputs).toHaveLength(4);
  });

  test("attention: no mask, scale by mul, softmax spelled out, k transposed in place", () => {
    const src = `model m() {
  input q: f32[1, 2, 3, 4]
  input k: f32[1, 2, 6, 4]
  input v: f32[1, 2, 6, 5]
  s = matmul(q, transpose(k, [0, 1, 3, 2])) * 0.125
  e = exp(s)
  output y = matmul(e / sum(e, -1, keepdim=true), v)
}`;
    expect(ops(recognize(src))).toEqual({ attention: 1 });
  });

  const negatives: [string, number[], string][] = [
    ["gelu with 0.6 for 0.5", [3, 7], "  output y = 0.6 * x * (1.0 + erf(x / 1.4142135))"],
    ["gelu with erf(x / 2)", [3, 7], "  output y = 0.5 * x * (1.0 + erf(x / 2.0))"],
    ["gelu with a different x inside", [3, 7], "  output y = 0.5 * x * (1.0 + erf(relu(x) / 1.4142135))"],
    ["hard_swish with x + 2", [2, 9], "  output y = x * relu6(x + 2.0) / 6.0"],
    ["hard_sigmoid divided by 5", [2, 9], "  output y = relu6(x + 3.0) / 5.0"],
    ["hard_sigmoid through clip(0, 5)", [2, 9], "  output y = clip(x + 3.0, 0.0, 5.0) / 6.0"],
    ["hard_swish over ONNX's hard_sigmoid (alpha 0.2)", [2, 9], "  output y = x * hard_sigmoid(x, alpha=0.2)"],
    ["layernorm over the first axis", [4, 6], `
  d = x - mean(x, [0], keepdim=true)
  output y = d / sqrt(mean(d * d, [0], keepdim=true) + 1e-5)`],
    ["layernorm with variance of x, not of x - mean", [4, 6], `
  d = x - mean(x, -1, keepdim=true)
  output y = d / sqrt(mean(x * x, -1, keepdim=true) + 1e-5)`],
    ["layernorm whose mean is also an output", [4, 6], `
  mu = mean(x, -1, keepdim=true)
  d = x - mu
  output y = d / sqrt(mean(d * d, -1, keepdim=true) + 1e-5)
  output m = mu`],
    ["softmax whose exp is also read elsewhere", [3, 5], `
  e = exp(x)
  output y = e / sum(e, -1, keepdim=true)
  output z = e + 1.0`],
    ["softmax over a sum of another tensor", [3, 5], `
  output y = exp(x) / sum(exp(x * 2.0), -1, keepdim=true)`],
    ["hard_swish whose relu6 is also an output", [2, 9], `
  r = relu6(x + 3.0)
  output y = x * r / 6.0
  output z = r`],
  ];

  test.each(negatives)("not rewritten: %s", (_what, shape, body) => {
    const g = graphOf(model(shape, body));
    const before = ops(g);
    expect(ops(recognize(model(shape, body)))).toEqual(before);
  });

  test("attention whose scores are also an output stays as written", () => {
    const src = `model m() {
  input q: f32[1, 2, 3, 4]
  input k: f32[1, 2, 3, 4]
  input v: f32[1, 2, 3, 4]
  s = matmul(q, transpose(k, [0, 1, 3, 2])) / 2.0
  output y = matmul(softmax(s, axis=-1), v)
  output scores = s
}`;
    const after = recognize(src);
    expect(ops(after)).not.toHaveProperty("attention");
    expect(ops(after).softmax).toBe(1);
  });

  test("a no-op on the fused ops themselves", () => {
    const src = model([2, 6], `  output y = (l: layernorm(gelu(hard_swish(x)))) + softmax(hard_sigmoid(x), axis=-1)`);
    const once = recognize(src);
    expect(ops(once)).toEqual(ops(graphOf(src)));
  });
});

test("property: random models keep their results", () => {
  fc.assert(fc.property(graphArb(), ({ graph }) => void checkPassPreserves(["recognize-patterns"], graph)), { numRuns: 60 });
});

test("softmax whose amax runs over another axis: the shift stays, softmax takes x - amax", () => {
  const src = model([3, 5], `
  e = exp(x - amax(x, 0, keepdim=true))
  output y = e / sum(e, -1, keepdim=true)`);
  expect(ops(recognize(src))).toEqual({ softmax: 1, sub: 1, reduce_max: 1 });
});

/**
 * Pattern spellings for a chain: (prefix, input, spelled right?) -> lines defining `prefix`,
 * each with an intermediate `${prefix}a` that an extra output can hold on to.
 */
const spellings: ((p: string, x: string, ok: boolean) => string)[] = [
  (p, x, ok) => `${p}a = erf(${x} / ${ok ? 1.4142135 : 1.5})\n  ${p} = 0.5 * ${x} * (1.0 + ${p}a)`,
  (p, x, ok) => `${p}a = tanh(0.7978845608 * (${x} + ${ok ? 0.044715 : 0.05} * ${x} ** 3.0))\n  ${p} = 0.5 * ${x} * (1.0 + ${p}a)`,
  (p, x, ok) => `${p}a = relu6(${x} + ${ok ? 3.0 : 2.5})\n  ${p} = ${x} * ${p}a / 6.0`,
  (p, x, ok) => `${p}a = clip(${x} + 3.0, 0.0, 6.0)\n  ${p} = ${p}a / ${ok ? 6.0 : 7.0}`,
  (p, x, ok) => `${p}a = ${x} - mean(${x}, -1, keepdim=true)\n  ${p} = ${p}a / sqrt(mean(${p}a * ${ok ? `${p}a` : x}, -1, keepdim=true) + 1e-5) * 1.5 + 0.25`,
  (p, x, ok) => `${p}a = exp(${x})\n  ${p} = ${p}a / sum(${ok ? `${p}a` : `exp(${x})`}, -1, keepdim=true)`,
  (p, x, ok) => `${p}a = exp(${x} - amax(${x}, -1, keepdim=true))\n  ${p} = ${p}a / sum(${ok ? `${p}a` : `exp(${x})`}, -1, keepdim=true)`,
];

test("property: chains of spelled patterns, right and wrong, with and without outside users", () => {
  const step = fc.tuple(fc.nat(spellings.length - 1), fc.boolean(), fc.boolean());
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 5 }), (steps) => {
      let x = "x";
      const lines = steps.map(([i, ok, held], k) => {
        const text = spellings[i]!(`s${k}`, x, ok) + (held ? `\n  output h${k} = s${k}a` : "");
        x = `s${k}`;
        return `  ${text}`;
      });
      const after = recognize(model([2, 3, 6], `${lines.join("\n")}\n  output y = ${x}`));
      const fused = ["gelu", "hard_swish", "hard_sigmoid", "layernorm", "softmax"].reduce((s, op) => s + (ops(after)[op] ?? 0), 0);
      expect(fused).toBe(steps.filter(([, ok, held]) => ok && !held).length);
    }),
    { numRuns: 80 },
  );
});
