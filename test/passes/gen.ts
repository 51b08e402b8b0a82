// Random well-formed models for pass properties: fast-check draws a list of small integer
// "choices", and `buildSource` turns it deterministically into `.nn` text whose shapes are
// tracked here, so every draw elaborates (and shrinks to a shorter list that still does).
// `checkPassPreserves` is the oracle: interpreter before == interpreter after every pass.
import fc from "fast-check";
import { expect } from "vitest";
import { elaborateSource } from "../../src/frontend/index.js";
import { numel, type Graph } from "../../src/ir/graph.js";
import { unaryOps } from "../../src/ir/ops.js";
import { bindWeights } from "../../src/ir/rewrite.js";
import { verify } from "../../src/ir/verify.js";
import { randomInputs } from "../../src/weights/calibrate.js";
import { interpret } from "../../src/interp/index.js";
import { runPipeline } from "../../src/passes/index.js";
import { loadWeights } from "../../src/weights/load.js";

/**
 * |after - before| <= ATOL + RTOL * max|before|, per output. Passes only reassociate float32
 * work: folded BatchNorm weights w * s are rounded once more to f32 (2^-24 relative each), a
 * fused epilogue skips the f32 roundings between op, bias, residual and activation, constant
 * folding evaluates in the same kernels. Each adds a few ulps (~1e-7 relative) per layer,
 * amplified by BatchNorm scales 1/sqrt(var) and a dozen layers to ~1e-5 at worst in practice;
 * 1e-4 leaves margin, while a real bug (wrong channel, lost bias, wrong activation attribute)
 * is off by O(1). ATOL covers outputs that are (nearly) zero, all rounding noise (e.g. dead ReLUs).
 */
export const RTOL = 1e-4;
export const ATOL = 1e-5;
/** Smallest BatchNorm running variance the generated models get (see buildGraph). */
const VAR_FLOOR = 1e-2;

type Shape = number[];
interface Var {
  name: string;
  shape: Shape;
}

/** One step's random choices: which step, then its parameters, each read modulo its range. */
export type Step = [number, number, number, number, number, number, number];
const stepArb: fc.Arbitrary<Step> = fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.nat(), fc.nat());

/** Activations of the language as `.nn` text (prelu gets a label: it owns a weight). */
const ACTS = [
  "relu", "relu6", "sigmoid", "tanh", "selu", "silu", "hard_sigmoid", "hard_swish", "clip(@, 0.0, 6.0)", "clip(@, -1.0, 2.0)",
  "leaky_relu(@, slope=0.1)", "elu(@, alpha=0.7)", "gelu", 'gelu(@, approximate="tanh")', "prelu", "prelu_c",
] as const;
const pick = <T>(n: number, xs: readonly T[]): T => xs[n % xs.length]!;
const divisors = (n: number) => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

class Builder {
  lines: string[] = [];
  private n = 0;
  /** Every tensor so far, for residuals and extra outputs. */
  pool: Var[] = [];

  fresh(expr: string, shape: Shape): Var {
    const v = { name: `t${this.n++}`, shape };
    this.lines.push(`  ${v.name} = ${expr}`);
    this.pool.push(v);
    return v;
  }
  label(): string {
    return `l${this.n}`;
  }
  act(x: Var, r: number): Var {
    const a = pick(r, ACTS);
    if (a === "prelu" || a === "prelu_c") {
      const c = x.shape.length >= 2 ? x.shape[1]! : 1;
      return this.fresh(`${this.label()}: prelu(${x.name}, num_parameters=${a === "prelu" ? 1 : c})`, x.shape);
    }
    return this.fresh(a.includes("@") ? a.replace("@", x.name) : `${a}(${x.name})`, x.shape);
  }
  maybeAct(x: Var, r: number): Var {
    return r % 4 === 0 ? x : this.act(x, r >> 2);
  }
  /** A per-channel constant along `axis` (folds to a constant: parameter arithmetic). */
  channelConst(c: number, rank: number, axis: number): string {
    const p = `(${this.label()}c: parameter([${c}], init="normal") * 20.0 + 0.5)`;
    return rank === 1 ? p : `reshape(${p}, [${Array.from({ length: rank }, (_, i) => (i === axis ? c : 1)).join(", ")}])`;
  }
  sameShape(x: Var, r: number): Var | undefined {
    const c = this.pool.filter((v) => v !== x && v.shape.join() === x.shape.join());
    return c.length ? pick(r, c) : undefined;
  }
}

function conv(b: Builder, x: Var, [r0, r1, r2, r3]: number[], out: number, bias: boolean): Var {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  let k = pick(r0, [1, 3, 2, 3]);
  const dil = pick(r1, [1, 1, 2]);
  let stride = pick(r1 >> 2, [1, 1, 2]);
  if (dil * (k - 1) + 1 > Math.min(h, w)) (k = 1, stride = 1);
  // Symmetric "same"-style padding, or a random 0/1 per side.
  const p = Math.floor((dil * (k - 1)) / 2);
  const pads = r2 % 3 === 0 ? [p, p, p, p] : [r2 & 1, (r2 >> 1) & 1, (r2 >> 2) & 1, (r2 >> 3) & 1];
  const [pt, pl, pb, pr] = pads as [number, number, number, number];
  const oh = Math.floor((h + pt + pb - dil * (k - 1) - 1) / stride) + 1;
  const ow = Math.floor((w + pl + pr - dil * (k - 1) - 1) / stride) + 1;
  const groups = pick(r3, divisors(gcd(c, out)));
  return b.fresh(`${b.label()}: conv2d(${x.name}, ${out}, ${k}, stride=${stride}, pad=(${pads.join(", ")}), dilation=${dil}, groups=${groups}, bias=${bias})`, [n, out, oh, ow]);
}

/** A conv_transpose2d: 2x upsampling (k 2 or 4) while the map is small, else a stride-1 one. */
function convTranspose(b: Builder, x: Var, [r0, r1, r2, r3]: number[], out: number, bias: boolean): Var {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const up = Math.max(h, w) <= 6;
  const k = pick(r0, up ? [2, 4] : [1, 2, 3]);
  const stride = up ? 2 : 1;
  const dil = up ? 1 : pick(r1, [1, 2]);
  const pad = up ? (k === 4 ? 1 : 0) : Math.min(r2 % 3, Math.floor((dil * (k - 1)) / 2)); // never smaller than the input
  const extra = up ? r1 % 2 : 0;
  const size = (s: number) => (s - 1) * stride - 2 * pad + dil * (k - 1) + extra + 1;
  const groups = pick(r3, divisors(gcd(c, out)));
  const call = `conv_transpose2d(${x.name}, ${out}, ${k}, stride=${stride}, pad=${pad}, output_padding=${extra}, groups=${groups}, dilation=${dil}, bias=${bias})`;
  return b.fresh(`${b.label()}: ${call}`, [n, out, size(h), size(w)]);
}

/** x op s or s op x with a scalar s, including the identities x * 1, x + 0, x - 0, x / 1. */
function scalarBinary(b: Builder, x: Var, [r0, r1, r2]: number[]): Var {
  const op = pick(r0!, [...binOps, "/"]);
  const s = pick(r1!, op === "/" ? ["1.0", "0.5", "-2.0", "4"] : ["0.0", "1.0", "0.5", "-2.0", "3"]);
  // not `s - x`: a residual add of x would cancel it to a constant
  return b.fresh(op === "/" || op === "-" || r2! % 2 ? `${x.name} ${op} ${s}` : `${s} ${op} ${x.name}`, x.shape);
}

/**
 * A batchnorm (eps varies, so folding must read it), unless a channel has under 4 elements:
 * calibrated on so few, its output is rounding noise that would dominate the comparison.
 */
function bn(b: Builder, x: Var): Var {
  if (numel(x.shape) / x.shape[1]! < 4) return x;
  return b.fresh(`${b.label()}: batchnorm(${x.name}, eps=${pick(x.shape.length + x.shape[1]!, ["1e-5", "0.1"])})`, x.shape);
}
const binOps = ["+", "-", "*"] as const;

/** Steps on a 4-D [N, C, H, W] tensor. */
const spatialSteps: ((b: Builder, x: Var, r: number[]) => Var)[] = [
  // conv (+ bn) (+ activation): the fold-batchnorm / fuse-epilogue chain
  (b, x, r) => {
    const y = conv(b, x, r, pick(r[4]!, [2, 3, 4, 6]), r[5]! % 3 === 0);
    return b.maybeAct(r[5]! % 2 ? bn(b, y) : y, r[5]! >> 2);
  },
  // the ResNet block: conv bn act conv bn (+ x) act
  (b, x, r) => {
    const c = x.shape[1]!;
    const y = bn(b, conv(b, b.act(bn(b, conv(b, x, [1, 0, 0, r[0]!], c, false)), 0), [1, 0, 0, r[1]!], c, false));
    return b.act(b.fresh(r[2]! % 2 ? `${y.name} + ${x.name}` : `${x.name} + ${y.name}`, x.shape), r[3]!);
  },
  // conv without bias + a per-channel constant (+ activation): a bias to fuse
  (b, x, r) => {
    const y = conv(b, x, r, pick(r[4]!, [2, 4]), false);
    return b.maybeAct(b.fresh(`${y.name} + ${b.channelConst(y.shape[1]!, 4, 1)}`, y.shape), r[5]!);
  },
  // transposed conv (+ bn) (+ activation): fold-batchnorm's [in, out/groups, ...] weights, the epilogue
  (b, x, r) => {
    const y = convTranspose(b, x, r, pick(r[4]!, [2, 3, 4]), r[5]! % 3 === 0);
    return b.maybeAct(r[5]! % 2 ? bn(b, y) : y, r[5]! >> 2);
  },
  // conv * s + t, s and t per output channel ([C, 1, 1], [1, C, 1, 1] or a scalar), or a
  // scale_shift: affine folding; or * a constant varying along H, which must not fold
  (b, x, r) => {
    const y = conv(b, x, r, pick(r[4]!, [2, 4]), r[5]! % 2 === 0);
    const c = y.shape[1]!;
    const form = r[5]! % 5;
    if (form === 4) return b.maybeAct(b.fresh(`${b.label()}: scale_shift(${y.name})`, y.shape), r[6]!);
    const s = [() => b.channelConst(c, 3, 0), () => b.channelConst(c, 4, 1), () => "1.5", () => b.channelConst(y.shape[2]!, 4, 2)][form]!();
    const z = b.fresh(`${y.name} * ${s}`, y.shape);
    return b.maybeAct(r[6]! % 3 === 0 ? z : b.fresh(`${z.name} ${r[6]! % 3 === 1 ? "+" : "-"} ${b.channelConst(c, 3, 0)}`, y.shape), r[6]! >> 2);
  },
  (b, x, r) => b.act(x, r[0]!),
  (b, x) => bn(b, x),
  (b, x, r) => {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const k = Math.min(pick(r[0]!, [2, 3]), h, w);
    const s = pick(r[1]!, [1, 2, k]);
    const p = r[2]! % 2 && k > 1 ? 1 : 0;
    const ceil = r[3]! % 2 === 1;
    const out = (size: number) => {
      const span = size + 2 * p - k;
      let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
      if (ceil && (o - 1) * s >= size + p) o--;
      return o;
    };
    const op = r[4]! % 2 ? "maxpool" : `avgpool`;
    const extra = op === "avgpool" ? `, count_include_pad=${r[5]! % 2 === 0}` : "";
    return b.fresh(`${op}(${x.name}, ${k}, stride=${s}, pad=${p}, ceil_mode=${ceil}${extra})`, [n, c, out(h), out(w)]);
  },
  // binary ops with scalars (either side) and identities for canonicalize
  (b, x, r) => scalarBinary(b, x, r),
  (b, x, r) => b.fresh(`${x.name} ${pick(r[0]!, binOps)} ${b.channelConst(x.shape[1]!, 4, 1)}`, x.shape),
  // squeeze-excitation: broadcast of [N, C, 1, 1]
  (b, x) => b.fresh(`${x.name} * sigmoid(global_avgpool(${x.name}))`, x.shape),
  (b, x, r) => {
    const y = b.sameShape(x, r[0]!) ?? b.act(x, r[1]!);
    return b.fresh(`concat([${x.name}, ${y.name}], 1)`, [x.shape[0]!, x.shape[1]! * 2, x.shape[2]!, x.shape[3]!]);
  },
  (b, x, r) => {
    const perm = pick(r[0]!, [[0, 1, 2, 3], [0, 1, 3, 2], [0, 2, 3, 1], [1, 0, 2, 3]]);
    const t = b.fresh(`transpose(${x.name}, [${perm}])`, perm.map((p) => x.shape[p]!));
    return r[1]! % 2 ? t : b.fresh(`transpose(${t.name}, [${perm.map((_, i) => perm.indexOf(i))}])`, x.shape);
  },
  (b, x) => b.fresh(`reshape(flatten(${x.name}), [${x.shape}])`, x.shape),
  // over channels: a spatial softmax under a global pool is the constant 1 / (H W)
  (b, x) => (x.shape[1]! > 1 ? b.fresh(`softmax(${x.name}, axis=1)`, x.shape) : x),
  // half-centred: fully centred maps feed a global pool exact zeros plus rounding noise
  (b, x) => b.fresh(`${x.name} - mean(${x.name}, [2, 3], keepdim=true) * 0.5`, x.shape),
  (b, x, r) => {
    const y = b.sameShape(x, r[0]!);
    return y ? b.act(b.fresh(`${y.name} + ${x.name}`, x.shape), r[1]!) : x;
  },
  // common subexpressions
  (b, x, r) => b.fresh(`${pick(r[0]!, ["relu", "sigmoid"])}(${x.name}) * ${pick(r[0]!, ["relu", "sigmoid"])}(${x.name})`, x.shape),
  // resize up or down, nearest or bilinear (a segmentation head's upsampling)
  (b, x, r) => {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const [oh, ow] = [pick(r[0]!, [1, h + 1, 2 * h, Math.max(1, h - 1)]), pick(r[1]!, [w, 2 * w + 1, 1])];
    const mode = pick(r[2]!, ['"nearest"', '"bilinear"', '"bilinear", align_corners=true']);
    return b.fresh(`resize(${x.name}, size=(${oh}, ${ow}), mode=${mode})`, [n, c, oh, ow]);
  },
];

/** Steps on a [.., F] tensor (rank 2 or 3). */
const denseSteps: ((b: Builder, x: Var, r: number[]) => Var)[] = [
  (b, x, r) => {
    const out = pick(r[0]!, [3, 5, 8]);
    return b.maybeAct(b.fresh(`${b.label()}: linear(${x.name}, ${out}, bias=${r[1]! % 2 === 0})`, [...x.shape.slice(0, -1), out]), r[2]!);
  },
  // linear + batchnorm1d (channel axis 1 is the feature axis only at rank 2)
  (b, x, r) => {
    const out = pick(r[0]!, [4, 6]);
    const y = b.fresh(`${b.label()}: linear(${x.name}, ${out}, bias=${r[1]! % 2 === 0})`, [...x.shape.slice(0, -1), out]);
    return b.maybeAct(bn(b, y), r[2]!);
  },
  (b, x, r) => {
    const out = pick(r[0]!, [4, 6]);
    const y = b.fresh(`${b.label()}: linear(${x.name}, ${out}, bias=false)`, [...x.shape.slice(0, -1), out]);
    return b.maybeAct(b.fresh(`${y.name} + ${b.channelConst(out, 1, 0)}`, y.shape), r[2]!);
  },
  // linear * s - t per output feature: affine folding
  (b, x, r) => {
    const out = pick(r[0]!, [3, 5]);
    const y = b.fresh(`${b.label()}: linear(${x.name}, ${out}, bias=${r[1]! % 2 === 0})`, [...x.shape.slice(0, -1), out]);
    const z = b.fresh(`${y.name} * ${b.channelConst(out, 1, 0)}`, y.shape);
    return b.fresh(`${z.name} - ${b.channelConst(out, 2, 1)}`, y.shape);
  },
  (b, x) => b.fresh(`${b.label()}: layernorm(${x.name})`, x.shape),
  (b, x, r) => {
    const f = x.shape[x.shape.length - 1]!;
    const k = pick(r[0]!, [3, 4]);
    const y = b.fresh(`matmul(${x.name}, ${b.label()}: parameter([${f}, ${k}], init="normal") * 20.0)`, [...x.shape.slice(0, -1), k]);
    return b.maybeAct(r[1]! % 2 ? b.fresh(`${y.name} + ${b.channelConst(k, 1, 0)}`, y.shape) : y, r[2]!);
  },
  // Q/K/V: three projections of one input
  (b, x, r) => {
    const f = x.shape[x.shape.length - 1]!;
    const bias = r[0]! % 3 !== 0;
    const [q, k, v] = ["q", "k", "v"].map((p) => b.fresh(`${b.label()}${p}: linear(${x.name}, ${f}, bias=${bias})`, x.shape));
    if (x.shape.length === 3) {
      const [n, s] = x.shape as [number, number];
      const att = b.fresh(`softmax(matmul(${q!.name}, transpose(${k!.name}, [0, 2, 1])) / 2.0)`, [n, s, s]);
      return b.fresh(`matmul(${att.name}, ${v!.name})`, x.shape);
    }
    return b.fresh(`${q!.name} * ${k!.name} + ${v!.name}`, x.shape);
  },
  (b, x, r) => b.act(x, r[0]!),
  (b, x, r) => scalarBinary(b, x, r),
  (b, x, r) => b.fresh(`softmax(${x.name}, axis=${pick(r[0]!, [-1, 0])})`, x.shape),
  // residual around a square linear (+ activation)
  (b, x, r) => {
    const f = x.shape[x.shape.length - 1]!;
    const y = b.fresh(`${b.label()}: linear(${x.name}, ${f})`, x.shape);
    return b.maybeAct(b.fresh(r[0]! % 2 ? `${x.name} + ${y.name}` : `${y.name} + ${x.name}`, x.shape), r[1]!);
  },
  // gating by a row statistic (a bare row mean of a layernorm output is rounding noise)
  (b, x) => b.fresh(`${x.name} * sigmoid(mean(${x.name}, [-1], keepdim=true))`, x.shape),
];

/** Spatial [N, C, H, W] -> dense: the classifier heads of the zoo. */
const heads: ((b: Builder, x: Var) => Var)[] = [
  (b, x) => b.fresh(`flatten(${x.name})`, [x.shape[0]!, numel(x.shape.slice(1))]),
  (b, x) => b.fresh(`flatten(global_avgpool(${x.name}))`, x.shape.slice(0, 2)),
  (b, x) => b.fresh(`mean(${x.name}, [2, 3])`, x.shape.slice(0, 2)),
  (b, x) => b.fresh(`reshape(${x.name}, [${x.shape[0]}, ${x.shape[1]}, ${x.shape[2]! * x.shape[3]!}])`, [x.shape[0]!, x.shape[1]!, x.shape[2]! * x.shape[3]!]),
];

export interface ModelSpec {
  /** Input dims: [N, C, H, W] for a spatial start, [N, F] or [N, S, F] for a dense one. */
  input: number[];
  spatial: Step[];
  head: number;
  dense: Step[];
  /** Also output a random earlier tensor (so fusion must respect outside users). */
  extraOutput: number | null;
}

/** The `.nn` text of a spec. */
export function buildSource(spec: ModelSpec): string {
  const b = new Builder();
  let x: Var = { name: "x", shape: spec.input };
  b.pool.push(x);
  if (x.shape.length === 4) {
    for (const s of spec.spatial) x = pick(s[0], spatialSteps)(b, x, s.slice(1));
    x = pick(spec.head, heads)(b, x);
  }
  // Guard against tensors that grow without bound (concat doubling, flatten of big maps).
  if (x.shape[x.shape.length - 1]! > 64) x = b.fresh(`${b.label()}: linear(${x.name}, 16)`, [...x.shape.slice(0, -1), 16]);
  for (const s of spec.dense) x = pick(s[0], denseSteps)(b, x, s.slice(1));
  const extra = spec.extraOutput === null ? undefined : pick(spec.extraOutput, b.pool.slice(1));
  const outs = [`  output y = ${x.name}`, ...(extra && extra !== x ? [`  output aux = ${extra.name}`] : [])];
  return `model gen() {\n  input x: f32[${spec.input.join(", ")}]\n${b.lines.join("\n")}\n${outs.join("\n")}\n}\n`;
}

export const modelSpecArb: fc.Arbitrary<ModelSpec> = fc.record({
  input: fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 4, max: 9 }), fc.integer({ min: 4, max: 9 })).map((t) => [...t]) },
    fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 8 })).map((t) => [...t]),
    fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 8 })).map((t) => [...t]),
  ),
  spatial: fc.array(stepArb, { minLength: 1, maxLength: 6 }),
  head: fc.nat(),
  dense: fc.array(stepArb, { maxLength: 4 }),
  extraOutput: fc.option(fc.nat()),
});

/** A spec's model, elaborated and bound to seeded (BatchNorm-calibrated) weights. */
export function buildGraph(spec: ModelSpec, seed = 0): Graph {
  const src = buildSource(spec);
  const r = elaborateSource(src, "gen.nn");
  if (!r.graph) throw new Error(`generated model does not elaborate:\n${r.diagnostics.map((d) => d.message).join("\n")}\n${src}`);
  const { data } = loadWeights(r.graph, { seed });
  // Calibration on a channel that is (nearly) constant gives var ~ 0 and a gain of
  // 1/sqrt(eps) on rounding noise; trained networks have no such channels.
  for (const [name, v] of data) if (name.endsWith("running_var")) (v as Float32Array).forEach((x, i, a) => (a[i] = Math.max(x, VAR_FLOOR)));
  return bindWeights(r.graph, data);
}

/** Random models as graphs: source text plus its bound graph, for fast-check properties. */
export const graphArb = (seed = 0): fc.Arbitrary<{ source: string; graph: Graph }> =>
  modelSpecArb.map((spec) => ({ source: buildSource(spec), graph: buildGraph(spec, seed) }));

/** The unary activations `ACTS` exercises, for coverage checks. */
export const ACTIVATIONS: readonly string[] = [...unaryOps.filter((o) => !["exp", "log", "sqrt", "erf", "neg", "abs"].includes(o)), "prelu"];

/** Largest |a - b| over max|a| for every output, and the check against ATOL / RTOL. */
export function compareOutputs(before: Record<string, unknown>, after: Record<string, unknown>, tol = { atol: ATOL, rtol: RTOL }): void {
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  for (const [name, ref] of Object.entries(before) as [string, Float32Array][]) {
    const got = after[name] as Float32Array;
    expect(got.length, `output ${name} size`).toBe(ref.length);
    let scale = 0;
    let err = 0;
    for (let i = 0; i < ref.length; i++) {
      scale = Math.max(scale, Math.abs(ref[i]!));
      err = Math.max(err, Math.abs(got[i]! - ref[i]!));
      if (Number.isNaN(ref[i]!) !== Number.isNaN(got[i]!)) err = Infinity;
    }
    expect(err, `output ${name}: max error ${err} against max |ref| ${scale}`).toBeLessThanOrEqual(tol.atol + tol.rtol * scale);
  }
}

/**
 * Interprets `graph` before and after running `passNames` (verifying after each pass) on the
 * same inputs, drawn with a seed other than the calibration one, and compares every output.
 * Returns the rewritten graph. The input graph is not modified.
 */
export function checkPassPreserves(passNames: readonly string[], graph: Graph, tol = { atol: ATOL, rtol: RTOL }, seed = 1): Graph {
  const inputs = randomInputs(graph, seed);
  const before = interpret(graph, new Map(), inputs);
  const after = runPipeline(structuredClone(graph), passNames, { verifyEach: true }).graph;
  verify(after);
  compareOutputs(before, interpret(after, new Map(), inputs), tol);
  return after;
}
