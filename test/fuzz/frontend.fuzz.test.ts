// Fuzzing the frontend: whatever the text, elaboration ends in a graph or in located error
// diagnostics, never in an exception, and within a time bound. Runs are reproducible (fixed
// seed; GRAPHC_FUZZ_SEED picks another) and GRAPHC_FUZZ_RUNS raises their number.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { nnLexer } from "../../grammar/lexer.js";
import { elaborateSource, renderDiagnostic, type ElaborateResult } from "../../src/frontend/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
process.chdir(root); // zoo files import their libraries by relative path

const seed = Number(process.env.GRAPHC_FUZZ_SEED ?? 20261126);
/** Per elaboration; the step budget keeps even a runaway loop well below it. */
const TIME_LIMIT_MS = 10_000;

/** Elaborates `text` and checks the outcome; a thrown exception fails the property. */
function check(text: string, file: string): ElaborateResult {
  const t0 = performance.now();
  const r = elaborateSource(text, file);
  const ms = performance.now() - t0;
  expect(ms, "elaboration time").toBeLessThan(TIME_LIMIT_MS);
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (r.graph) expect(errors, "a graph comes with no errors").toEqual([]);
  else expect(errors, "no graph: an error says why").not.toEqual([]);
  for (const d of r.diagnostics) {
    expect(d.span, `"${d.message}" has a location`).toBeDefined();
    // An erroneous value must not be reported again where it flows, and no JS-ism may leak.
    expect(d.message).not.toMatch(/erroneous value|<error>|undefined|NaN|\[object /);
    const source = r.sources.get(d.span!.file);
    expect(source, `"${d.message}" points into a known file`).toBeDefined();
    expect(d.span!.start).toBeLessThanOrEqual(source!.length);
    expect(renderDiagnostic(d, r.sources)).toContain(`${d.span!.file}:${d.span!.line}:${d.span!.col}`);
  }
  return r;
}

const TOKENS = [
  "import", "block", "model", "input", "output", "return", "for", "in", "if", "else", "assert", "seq", "shared",
  "true", "false", "none", "x", "y", "n", "i", "f", "relu", "conv2d", "linear", "batchnorm", "matmul", "reshape",
  "transpose", "range", "len", "enumerate", "zip", "shape", "concat", "split", "param", "parameter", "iota", "str",
  "int", "float", "tensor", "f32", "i32", "0", "1", "2", "3", "-1", "0.5", "1e-5", "1e999", "99999999999999999999",
  '"same"', '"a.b"', '"lib/resnet.nn"', '"', "=>", "==", "!=", "<=", ">=", "&&", "||", "**", "//", "<", ">", "=",
  "!", "+", "-", "*", "/", "%", ":", ";", ",", ".", "(", ")", "[", "]", "{", "}", "\n", "\r", "\uFEFF", "#", "@", "$", "é",
  "日本", "😀", '"\\q"', "__metadata__",
];

const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((ts) => ts.join(" "));

/** Wraps statements in a model with two inputs, so that they get elaborated, not just parsed. */
function inModel(body: string, prelude = ""): string {
  return `${prelude}\nmodel m(k: int = 4) {\n  input x: f32[1, 3, 8, 8]\n  input y: f32[2, 16]\n${body}\n  output out = x\n}\n`;
}

// ---- programs that mostly parse: random expressions and statements --------------------------

const leaf = fc.constantFrom(
  "x", "y", "k", "i", "0", "1", "3", "16", "-1", "2.5", "1e999", "9007199254740993", "1e-5", '"same"', '"tanh"', "true",
  "none", "[1, 2]", "[3, 16]", "(3, 3)", "[]", "range(3)", "shape(x)", "relu", "f", "seq { relu }", "(t => t)",
);
const kw = fc.constantFrom("stride", "pad", "groups", "bias", "axis", "kernel", "weight", "keepdim", "start", "p", "eps", "nope");
const callee = fc.constantFrom(
  "conv2d", "linear", "batchnorm", "layernorm", "matmul", "add", "maximum", "relu", "gelu", "clip", "softmax", "maxpool",
  "avgpool", "global_avgpool", "mean", "sum", "flatten", "reshape", "transpose", "concat", "split", "slice", "select",
  "embedding", "cast", "iota", "dropout", "parameter", "param", "prelu", "range", "len", "enumerate", "zip", "int",
  "float", "round", "min", "max", "abs", "str", "shape", "rank", "channels", "dim", "l2_normalize", "euclidean_distance",
  "contrastive_loss", "triplet_loss", "f", "x",
);
const { expr } = fc.letrec<{ expr: string }>((tie) => {
  const e = tie("expr") as fc.Arbitrary<string>;
  const arg = fc.oneof(e, fc.tuple(kw, e).map(([k, v]) => `${k}=${v}`));
  return {
    expr: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.tuple(callee, fc.array(arg, { maxLength: 4 })).map(([f, as]) => `${f}(${as.join(", ")})`),
      fc.tuple(e, fc.constantFrom("+", "-", "*", "/", "//", "%", "**", "==", "<", "&&"), e).map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc.tuple(fc.constantFrom("-", "!"), e).map(([op, a]) => `${op}${a}`),
      fc.tuple(e, e).map(([a, b]) => `${a}[${b}]`),
      fc.array(e, { maxLength: 3 }).map((xs) => `[${xs.join(", ")}]`),
      fc.tuple(fc.constantFrom("a", "b.{i}", "0", "shared a", "c{k}"), e).map(([l, b]) => `(${l}: ${b})`),
      fc.tuple(e, e, e).map(([c, a, b]) => `if ${c} { ${a} } else { ${b} }`),
      fc.array(e, { minLength: 1, maxLength: 3 }).map((xs) => `seq { ${xs.join("; ")} }(x)`),
    ),
  };
});
const name = fc.constantFrom("x", "y", "i", "k", "z", "f");
const { stmts } = fc.letrec<{ stmts: string }>((tie) => {
  const body = tie("stmts") as fc.Arbitrary<string>;
  const stmt = fc.oneof(
    { depthSize: "small" },
    fc.tuple(name, expr).map(([n, v]) => `${n} = ${v}`),
    fc.tuple(name, name, expr).map(([a, b, v]) => `${a}, ${b} = ${v}`),
    fc.tuple(expr, body).map(([it, b]) => `for i in ${it} {\n${b}\n}`),
    fc.tuple(expr, body, body).map(([c, t, f]) => `if ${c} {\n${t}\n} else {\n${f}\n}`),
    expr.map((c) => `assert ${c}, "checked"`),
    fc.tuple(name, expr).map(([n, v]) => `output ${n} = ${v}`),
    expr.map((v) => `return ${v}`),
  );
  return { stmts: fc.array(stmt, { maxLength: 4 }).map((ss) => ss.join("\n")) };
});
const program = fc.tuple(stmts, stmts, expr).map(([blockBody, modelBody, ret]) =>
  inModel(modelBody, `block f(x, n: int = 2, g = relu) {\n${blockBody}\nreturn ${ret}\n}`));

// ---- mutations of the zoo --------------------------------------------------------------------

const zoo = readdirSync("specs").filter((f) => f.endsWith(".nn")).sort().map((f) => ({ file: `specs/${f}`, text: readFileSync(`specs/${f}`, "utf8") }));
const NUMBERS = ["0", "1", "-1", "2", "7", "1000", "65536", "2147483648", "9007199254740993", "100000000000000000000000", "0.0", "1e308", "1e-320"];

type Mutation = { kind: "delete" | "duplicate" | "swap" | "token" | "number" | "char"; at: number; pick: number };
const mutation = fc.record({
  kind: fc.constantFrom<Mutation["kind"]>("delete", "duplicate", "swap", "token", "number", "number", "char"),
  at: fc.nat(),
  pick: fc.nat(),
});

function mutate(text: string, m: Mutation): string {
  const tokens = nnLexer.tokenize(text).tokens;
  if (m.kind === "char" || tokens.length < 2) {
    const i = m.at % (text.length + 1);
    const c = TOKENS[m.pick % TOKENS.length]!;
    return m.pick % 2 === 0 ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + c[0] + text.slice(i);
  }
  const numbers = tokens.filter((t) => t.tokenType.name === "Integer" || t.tokenType.name === "Float");
  const pool = m.kind === "number" && numbers.length > 0 ? numbers : tokens;
  const t = pool[m.at % pool.length]!;
  const [s, e] = [t.startOffset, t.endOffset! + 1];
  switch (m.kind) {
    case "delete":
      return text.slice(0, s) + text.slice(e);
    case "duplicate":
      return text.slice(0, e) + " " + t.image + text.slice(e);
    case "swap": {
      const u = tokens[tokens.indexOf(t) + 1];
      if (!u) return text.slice(0, s);
      return text.slice(0, s) + u.image + text.slice(e, u.startOffset) + t.image + text.slice(u.endOffset! + 1);
    }
    case "token":
      return text.slice(0, s) + TOKENS[m.pick % TOKENS.length] + text.slice(e);
    default:
      return text.slice(0, s) + NUMBERS[m.pick % NUMBERS.length] + text.slice(e);
  }
}

/** A property over `n` runs (or GRAPHC_FUZZ_RUNS, if more), with time for them. */
function fuzz<T>(name: string, arb: fc.Arbitrary<T>, n: number, run: (t: T) => unknown): void {
  const numRuns = Math.max(n, Number(process.env.GRAPHC_FUZZ_RUNS ?? 0));
  const property = fc.property(arb, (t) => {
    run(t);
  });
  test(name, { timeout: 60_000 + numRuns * 100 }, () => fc.assert(property, { seed, numRuns }));
}

describe("frontend fuzzing", () => {
  fuzz("token soup", soup, 400, (text) => check(text, "soup.nn"));
  fuzz("token soup inside a model", soup, 400, (body) => check(inModel(body), "soup.nn"));
  fuzz("random programs", program, 400, (text) => check(text, "program.nn"));
  const mutated = fc
    .tuple(fc.constantFrom(...zoo), fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([{ file, text }, ms]) => ({ file, text: ms.reduce(mutate, text) }));
  fuzz("mutated zoo models", mutated, 250, ({ file, text }) => check(text, file));
});

// Inputs that once overflowed the stack, ran out of memory or ran for minutes: each now ends
// in one located error.
describe("limits", () => {
  test.each([
    ["deeply nested brackets", inModel(`k = ${"(".repeat(3000)}1${")".repeat(3000)}`), /nested too deeply to parse/],
    ["a long unary chain", inModel(`k = ${"-".repeat(5000)}1`), /nested too deeply to parse/],
    ["a long sum", inModel(`k = 1${" + 1".repeat(5000)}`), /nests too deeply to elaborate/],
    ["deeply nested lists", inModel(`xs = []\nfor i in range(100000) { xs = [xs] }\nt = str(xs)`), /nests too deeply to elaborate/],
    ["a runaway loop of tensors", inModel(`for i in range(999999) { x = relu(x) }`), /exceeded its budget/],
    ["a runaway loop of weights", inModel(`for i in range(999999) { p = w{i}: parameter([1]) }`), /exceeded its budget/],
    ["a doubling string", inModel(`s = "ab"\nfor i in range(64) { s = s + s }`), /would make a string of length 1048576/],
    ["self-application", inModel(`f = g => g(g)\nk = f(f)`), /calls nest deeper than/],
    ["a huge integer result", inModel(`k = 2 ** 64`), /integer overflow/],
    ["a huge iota", inModel(`t = iota(4000000000)`), /iota: length must be in/],
    ["a huge weight", inModel(`t = c: conv2d(x, 1000000000, 3)`), /would make weight `c.weight`: .* a tensor may take at most 2 GiB/],
    ["a huge result", inModel(`t = matmul(reshape(y, [32, 1]), reshape(relu(y), [1, 32]))\nfor i in range(3) { t = matmul(reshape(t, [-1, 1]), reshape(t, [1, -1])) }`), /its result .* a tensor may take at most 2 GiB/],
  ])("%s", (_, text, message) => {
    const r = check(text, "limits.nn");
    expect(r.diagnostics.map((d) => d.message)).toEqual([expect.stringMatching(message)]);
  });
});
