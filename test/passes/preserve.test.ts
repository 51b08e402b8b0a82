// The graph-cleanup and fusion passes: for each, on random well-formed models (gen.ts), the
// interpreter agrees before and after within the stated tolerance, the verifier accepts every
// intermediate graph, and the pass did its job (a postcondition on the result). Plus a golden
// of the printed IR after the default pipeline (GRAPHC_BLESS=1 rewrites it).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { elaborateSource } from "../../src/frontend/index.js";
import { numel, type Graph } from "../../src/ir/graph.js";
import { bindWeights, constantData, Rewriter } from "../../src/ir/rewrite.js";
import { printGraph } from "../../src/ir/print.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { loadWeights } from "../../src/weights/load.js";
import { ACTIVATIONS, buildGraph, checkPassPreserves, modelSpecArb } from "./gen.js";

const seed = Number(process.env.GRAPHC_FUZZ_SEED ?? 20261126);
const numRuns = Math.max(60, Number(process.env.GRAPHC_FUZZ_RUNS ?? 0));

/** This engineer's passes, in default-pipeline order. */
const P1 = ["canonicalize", "constant-fold", "cse", "fold-batchnorm", "pack-qkv", "fuse-epilogue", "dce"];

const producerOp = (g: Graph, v: number) => (g.values[v]!.kind === "node" ? g.nodes[g.values[v]!.producer!] : undefined);

/** What each pass leaves no trace of; returns the offending nodes' descriptions. */
const postconditions: Record<string, (g: Graph) => string[]> = {
  canonicalize: (g) =>
    g.nodes.flatMap((n) => {
      const inner = producerOp(g, n.inputs[0]!);
      const t = (v: number) => g.values[v]!.type.shape.join();
      const bad =
        (n.op === "reshape" && (inner?.op === "reshape" || t(n.inputs[0]!) === t(n.outputs[0]!))) ||
        (n.op === "transpose" && (inner?.op === "transpose" || (n.attrs.perm as number[]).every((p, i) => p === i))) ||
        (n.op === "clip" && n.attrs.min === 0 && n.attrs.max === 6) ||
        (["relu", "relu6"].includes(n.op) && ["relu", "relu6"].includes(inner?.op ?? "")) ||
        (n.op === "sub" && constantData(g, n.inputs[1]!) !== undefined) ||
        (["add", "mul"].includes(n.op) && constantData(g, n.inputs[0]!) !== undefined && constantData(g, n.inputs[1]!) === undefined);
      return bad ? [`${n.op} #${n.id}`] : [];
    }),
  "constant-fold": (g) =>
    g.nodes.filter((n) => n.inputs.every((i) => constantData(g, i)) && numel(g.values[n.outputs[0]!]!.type.shape) <= 1024 && g.values[n.outputs[0]!]!.type.dtype !== "i64").map((n) => n.op),
  cse: (g) => {
    const keys = g.nodes.map((n) => `${n.op} ${JSON.stringify(n.attrs)} ${n.inputs}`);
    return keys.filter((k, i) => keys.indexOf(k) !== i);
  },
  "fold-batchnorm": (g) => {
    const rw = new Rewriter(g);
    // A mul / add of a lone conv2d / linear (plain, constant weights) and a constant along its channel axis only.
    const foldable = (n: (typeof g.nodes)[number]) =>
      ["mul", "add"].includes(n.op) &&
      n.inputs.some((x, i) => {
        const p = producerOp(g, x);
        const k = n.inputs[1 - i]!;
        if (!p || !["conv2d", "linear"].includes(p.op) || rw.soleReader(x) !== n || p.attrs.act !== undefined || p.attrs.residual === true || !constantData(g, k)) return false;
        const y = g.values[x]!.type.shape;
        const axis = p.op === "conv2d" ? 1 : y.length - 1;
        const kShape = g.values[k]!.type.shape;
        const aligned = [...Array<number>(y.length - kShape.length).fill(1), ...kShape];
        return kShape.length <= y.length && aligned.every((d, j) => d === 1 || (j === axis && d === y[j]));
      });
    return [...g.nodes.filter((n) => n.op === "batchnorm").map((n) => n.path), ...g.nodes.filter(foldable).map((n) => `${n.op} #${n.id} of a conv2d / linear`)];
  },
  "pack-qkv": (g) => {
    const plain = g.nodes.filter((n) => n.op === "linear" && Object.keys(n.attrs).every((k) => k === "bias") && n.inputs.slice(1).every((v) => constantData(g, v)));
    const keys = plain.map((n) => `${n.inputs[0]} ${n.attrs.bias}`);
    return keys.filter((k, i) => keys.indexOf(k) !== i);
  },
  "fuse-epilogue": (g) => {
    const rw = new Rewriter(g);
    return g.nodes
      .filter((n) => ["conv2d", "linear", "matmul"].includes(n.op) && (n.attrs.act ?? null) === null)
      .filter((n) => {
        const u = rw.soleReader(n.outputs[0]!);
        return u !== undefined && u.op !== "prelu" && ACTIVATIONS.includes(u.op);
      })
      .map((n) => `${n.op} #${n.id} then an activation`);
  },
};

describe("passes preserve semantics on random models", () => {
  for (const pass of Object.keys(postconditions))
    test(pass, () => {
      fc.assert(
        fc.property(modelSpecArb, (spec) => {
          const after = checkPassPreserves([pass], buildGraph(spec));
          expect(postconditions[pass]!(after)).toEqual([]);
        }),
        { seed, numRuns },
      );
    });

  test("fold-batchnorm after constant-fold folds the per-channel affines (parameter arithmetic is folded first)", () => {
    let folded = 0;
    fc.assert(
      fc.property(modelSpecArb, (spec) => {
        const g = buildGraph(spec);
        const affines = (h: Graph) => postconditions["fold-batchnorm"]!(h).filter((d) => d.endsWith("of a conv2d / linear")).length;
        folded += affines(checkPassPreserves(["constant-fold"], structuredClone(g)));
        expect(postconditions["fold-batchnorm"]!(checkPassPreserves(["constant-fold", "fold-batchnorm"], g))).toEqual([]);
      }),
      { seed, numRuns },
    );
    expect(folded, "no model had a per-channel affine to fold").toBeGreaterThan(0);
  });

  test("the P1 passes in default order", () => {
    fc.assert(fc.property(modelSpecArb, (spec) => void checkPassPreserves(P1, buildGraph(spec))), { seed, numRuns });
  });

  test("the default pipeline", () => {
    fc.assert(fc.property(modelSpecArb, (spec) => void checkPassPreserves(defaultPipeline, buildGraph(spec))), { seed, numRuns });
  });
});

/** A model with every pattern the passes rewrite, small enough to read. */
const TINY = `
model tiny() {
  input x: f32[1, 2, 6, 6]
  y = c1: conv2d(x, 4, 3, pad=1, bias=false)
  y = relu(b1: batchnorm(y))
  z = b2: batchnorm(c2: conv2d(y, 4, 3, pad=1, bias=false))
  z = relu6(clip(z + y, 0.0, 6.0))
  h = reshape(flatten(global_avgpool(z)), [1, 2, 2]) * 1.0
  q = q: linear(h, 4)
  k = k: linear(h, 4)
  v = v: linear(h, 4)
  a = matmul(softmax(matmul(q, transpose(k, [0, 2, 1])), axis=-1), v)
  output out = gelu(o: linear(a, 3)) - 0.5
}
`;

test("golden: the tiny model after the default pipeline", () => {
  const file = fileURLToPath(new URL("golden/tiny-pipeline.txt", import.meta.url));
  const g0 = elaborateSource(TINY, "tiny.nn").graph!;
  const g = bindWeights(g0, loadWeights(g0, { seed: 0 }).data);
  const text = printGraph(checkPassPreserves(defaultPipeline, g));
  if (process.env.GRAPHC_BLESS === "1") writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, "utf8"));
});

test("every activation of the language fuses into conv2d, linear and matmul", () => {
  const acts = ["relu", "relu6", "clip(@, 0.0, 6.0)", "clip(@, -1.0, 1.0)", "leaky_relu(@, slope=0.2)", "prelu", "elu(@, alpha=0.5)", "selu", "gelu", 'gelu(@, approximate="tanh")', "sigmoid", "hard_sigmoid", "hard_swish", "silu", "tanh"];
  // prelu owns a weight, so it gets a label; per-channel slopes only on conv2d's channel axis 1
  const call = (a: string, x: string, at: string) =>
    a === "prelu" ? `${at}: prelu(${x}, num_parameters=${at === "p0" ? 4 : 1})` : a.includes("@") ? a.replace("@", x) : `${a}(${x})`;
  for (const act of acts) {
    const src = `model m() {
  input x: f32[1, 4, 5, 5]
  r = x * 0.5
  y = ${call(act, "conv: conv2d(x, 4, 3, pad=1) + r", "p0")}
  l = ${call(act, 'fc: linear(flatten(y, 2), 4, bias=false) + (b: parameter([4], init="normal") * 10.0)', "p1")}
  output out = ${call(act, "matmul(l, transpose(l, [0, 2, 1]))", "p2")}
}`;
    const g0 = elaborateSource(src, "m.nn").graph;
    expect(g0, src).toBeDefined();
    const g = checkPassPreserves(P1, bindWeights(g0!, loadWeights(g0!, { seed: 3 }).data));
    expect(g.nodes.map((n) => n.op), act).toEqual(["mul", "conv2d", "reshape", "linear", "transpose", "matmul"]);
    expect(g.nodes.filter((n) => n.attrs.act !== undefined).length, act).toBe(3);
  }
});
