// One adapter per engine running conformance cases, the interpreter being the oracle: ONNX Runtime
// (through exportOnnx), the wasm target's baseline and relaxed-SIMD builds and the WGSL target on
// SwiftShader (both lowered and emitted by the compile driver), and, for ops with fused forms,
// the interpreter on the graph's core-op decomposition. Cases are batched: several case graphs
// merged into one (inputs and outputs prefixed c0_, c1_, ...), compiled and loaded once.
import { setFlagsFromString } from "node:v8";
import { loadParts, type ModuleParts } from "../../codegen/module/index.js";
import type { Target } from "../../codegen/target.js";
import { wasmTarget } from "../../codegen/wasm/target.js";
import { wgslTarget } from "../../codegen/wgsl/target.js";
import { CompileError, generate, lower } from "../../src/driver.js";
import { decompose } from "../../src/ir/decompose.js";
import { emptyGraph, type Graph } from "../../src/ir/graph.js";
import { getOp, isUnaryOp, unsupported, type OpName, type Unsupported } from "../../src/ir/ops.js";
import { interpret, type TensorData } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { runOrt } from "../onnx/helpers.js";
import { runOnGpu } from "../wgsl/gpu.js";
import { swiftShaderDevice } from "../wgsl/helpers.js";
import { allowance, type Case } from "./cases.js";

// Node 20 compiles relaxed SIMD only behind this flag; it must be set before the first compile.
setFlagsFromString("--experimental-wasm-relaxed-simd");

export type EngineName = "onnx" | "wasm-baseline" | "wasm-relaxed" | "wgsl" | "decomposed";

export type Outputs = Record<string, ArrayLike<number | bigint>>;

export interface Engine {
  readonly name: EngineName;
  /** Whether the engine checks `op` at all (the decomposition: only ops that have one). */
  applies(op: OpName): boolean;
  /** The graph the engine runs for `g` (lowered where the engine lowers), or why it cannot run it. */
  prepare(g: Graph): Graph | Unsupported;
  run(g: Graph, inputs: Record<string, TensorData>): Promise<Outputs>;
}

/** Ops an engine is expected to report unsupported (its table's Unsupported entry); checked, never skipped. */
export const expectedUnsupported: { readonly [E in EngineName]: readonly OpName[] } = {
  onnx: [], "wasm-baseline": [], "wasm-relaxed": [], wgsl: [], decomposed: [],
};

/**
 * Where an engine is less accurate than a case's tolerance, or gives other NaN or ±Inf than the
 * interpreter (PyTorch) does: the error its formulation adds, or the elements where it may give
 * something else, by the op responsible (a unary op also as an epilogue's activation). Each entry
 * is a finding about that engine (the other engines keep the case's bound and exact non-finite
 * values), with its derivation or measurement.
 */
export interface Deviation {
  /** Added to the case's allowance. */
  readonly abs?: number;
  /** Where the interpreter's result is not finite (log or sqrt outside its domain), the engine may give any value. */
  readonly anyOutsideDomain?: true;
  /** Whether the engine's `got` at element i of case c, where the interpreter gives `want`, is the deviation this entry describes. */
  readonly allows?: (c: Case, i: number, got: number, want: number) => boolean;
  readonly why: string;
}

// alpha (e^x - 1) in f32: the subtraction cancels for small |x|, leaving a few ulp of alpha (alpha scale <= 2 here).
const EXP_MINUS_ONE: Deviation = { abs: 2 * 2 ** -22, why: "alpha (exp(x) - 1) cancels for small |x|: a few ulp of alpha absolute (expm1 would not)" };
// 0.5 x (1 + erf(x / sqrt 2)) or (1 + tanh(z)) in f32 cancels for x < 0: ~6 ulp of 1, times 0.5 |x| <= 4.
const ONE_PLUS_CANCELS: Deviation = { abs: 0.5 * 8 * 6 * 2 ** -24, why: "gelu as 0.5 x (1 + erf(..)) or (1 + tanh(..)) in f32: 1 + erf cancels for x < 0, ~6 ulp of 1 times 0.5 |x| <= 4" };

// x86's maxps returns its second operand when either is NaN, so a NaN survives a running max only where it comes last.
const DROPS_NAN = "ORT's max (MLAS, x86 maxps) keeps the other operand of a NaN: NaN only where the NaN comes last (measured)";
const LOWEST = -3.4028234663852886e38;
const INT_MIN = [-(2 ** 31), -(2 ** 63)];

export const knownDeviations: { readonly [E in EngineName]?: Partial<Record<OpName, Deviation>> } = {
  onnx: {
    maxpool: {
      allows: (_c, _i, got, want) => Number.isNaN(want) || (want === -Infinity && got === LOWEST),
      why: `${DROPS_NAN}; a window wholly in the padding, or all -Inf, is the lowest finite float, not -Inf`,
    },
    reduce_max: { allows: (_c, _i, _got, want) => Number.isNaN(want), why: DROPS_NAN },
    resize: {
      allows: (_c, _i, _got, want) => Number.isNaN(want),
      why: "ORT's linear Resize leaves out a tap of weight 0 (and weighs a clamped edge 0.5 / 0.5) where PyTorch and the interpreter read it: an infinity there is 0 * Inf = NaN for them, not for ORT (measured)",
    },
    cast: {
      allows: (c, i, got) => INT_MIN.includes(got) && !Number.isFinite(Number(c.inputs.x0![i])),
      why: "ORT's Cast converts as C does, undefined out of range: x86 gives the least integer for NaN and ±Inf, the interpreter saturates (NaN to 0) (measured)",
    },
    sigmoid: { abs: 2.5e-7, why: "MLAS's logistic is accurate to ~1.2e-7 absolute, not relative (measured)" },
    silu: { abs: 8 * 2.5e-7, why: "x sigmoid(x) with MLAS's logistic (~1.2e-7 absolute, measured), |x| <= 8" },
    elu: EXP_MINUS_ONE,
    selu: EXP_MINUS_ONE,
    hard_sigmoid: { abs: 2 ** -23, why: "ONNX HardSigmoid computes alpha x + beta (alpha = 1/6 rounded), which cancels near x = -3: ~1 ulp of 0.5" },
    hard_swish: { abs: 3 * 2 ** -23, why: "ONNX HardSwish: x (alpha x + beta), cancelling near x = -3: ~1 ulp of 0.5 times |x| <= 3" },
    gelu: { ...ONE_PLUS_CANCELS, why: `opset 17 has no Gelu: ${ONE_PLUS_CANCELS.why}` },
  },
  wgsl: {
    fused_elementwise: {
      allows: (_c, _i, got, want) => Number.isNaN(want) && Math.abs(got) === Infinity,
      why: "shader compilers may simplify arithmetic as if no NaN or Inf occurs: SwiftShader folds (a - b) + b to a, so a program's Inf - Inf may come out ±Inf, not NaN (measured)",
    },
    tanh: { abs: 2 ** -23, why: "SwiftShader's tanh is accurate to ~5e-8 absolute near 0, not relative (measured)" },
    elu: EXP_MINUS_ONE,
    selu: EXP_MINUS_ONE,
    log: { abs: 2 ** -21, anyOutsideDomain: true, why: "Vulkan's log: 2^-21 absolute inside [0.5, 2]; WGSL's log of x <= 0 is indeterminate, not NaN or -inf" },
    sqrt: { anyOutsideDomain: true, why: "WGSL's sqrt of a negative is indeterminate, not NaN" },
    gelu: { ...ONE_PLUS_CANCELS, why: `the kernel's erf_ is clamped to -1 beyond |x| = 4, and ${ONE_PLUS_CANCELS.why}` },
  },
};

/** The deviations of `engine` that apply to case c: its op's and its epilogue activation's. */
export function deviationsFor(engine: EngineName, c: Case): Deviation[] {
  const table = knownDeviations[engine] ?? {};
  const act = c.tol.dot?.act;
  return [c.op, ...(act !== undefined && isUnaryOp(act) ? [act] : [])].flatMap((op) => (table[op] ? [table[op]] : []));
}

/** A kind of case an engine refuses although its target's supports() accepts it: a gap to close there. */
export interface Refusal {
  readonly engine: EngineName;
  readonly ops: readonly OpName[];
  readonly cases: (c: Case) => boolean;
  /** What the engine throws. */
  readonly error: RegExp;
  readonly why: string;
}

export const knownRefusals: readonly Refusal[] = [
  {
    engine: "wgsl", ops: ["reduce_mean", "reduce_sum", "reduce_max"], cases: (c) => c.graph.values[c.graph.inputs[0]!.value]!.type.dtype !== "f32",
    error: /on i32 tensors is not supported/, why: "integer reductions: the WGSL emitter throws, yet wgslTarget.supports() accepts the node",
  },
  {
    engine: "onnx", ops: ["resize"], cases: (c) => c.graph.nodes.some((n) => n.attrs.coordinate === "tf_half_pixel_for_nearest"),
    error: /tf_half_pixel_for_nearest\] is not supported/, why: "Resize-13's tf_half_pixel_for_nearest is valid opset 17, but this onnxruntime no longer implements it (ONNX dropped it in Resize-19)",
  },
  {
    engine: "onnx", ops: ["random_uniform"], cases: () => true,
    error: /ONNX has no counter-based generator/, why: "ONNX's RandomUniform is not counter-based (each runtime draws its own numbers): the export refuses random_uniform",
  },
];

export const refusalOf = (engine: EngineName, c: Case): Refusal | undefined => knownRefusals.find((r) => r.engine === engine && r.ops.includes(c.op) && r.cases(c));

/**
 * The graph `target` runs for `g`, lowered by the compile driver as a compile would (channels-last
 * nodes for WGSL, say), or why it cannot: the driver's CompileError naming the unsupported node.
 */
function loweredFor(target: Target, g: Graph): Graph | Unsupported {
  try {
    return lower(structuredClone(g), target);
  } catch (e) {
    if (e instanceof CompileError) return unsupported(e.diagnostics.join("\n"));
    throw e;
  }
}

/**
 * Modules by graph (its JSON, constants included). A module ships both SIMD builds, so the
 * baseline and relaxed engines, which run the same batches, share one: the second takes it.
 */
const modules = new Map<string, ModuleParts>();

/** The wasm module of `g` as it ships (both SIMD builds, which must agree on the weights blob). */
async function wasmModule(g: Graph): Promise<ModuleParts> {
  const key = JSON.stringify(g, (_, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
  const built = modules.get(key);
  if (built) {
    modules.delete(key);
    return built;
  }
  const parts = (await generate(g, wasmTarget, { relaxedSimd: "auto" })).parts as ModuleParts;
  modules.set(key, parts);
  return parts;
}

async function runWasm(g: Graph, inputs: Record<string, TensorData>, relaxed: boolean): Promise<Outputs> {
  const model = await loadParts(await wasmModule(g), { simd: relaxed ? "relaxed" : "baseline" });
  return model.run(inputs as Record<string, Float32Array | Int32Array | BigInt64Array>);
}

const wasm = (name: EngineName, relaxed: boolean): Engine => ({
  name,
  applies: () => true,
  prepare: (g) => loweredFor(wasmTarget, g),
  run: (g, inputs) => runWasm(g, inputs, relaxed),
});

let gpu: Awaited<ReturnType<typeof swiftShaderDevice>> | undefined;

/** Releases the SwiftShader device, if one was opened. */
export function closeGpu(): void {
  gpu?.device.destroy();
  gpu = undefined;
}

/** `g` with every fused form replaced by its core-op decomposition; `rewritten` counts the nodes that decomposed. */
export function lowerFused(g: Graph): { graph: Graph; rewritten: number } {
  let visited = 0;
  const { graph, stuck } = decompose(structuredClone(g), (_g, n) => getOp(n.op).decompose !== undefined && ++visited > 0);
  return { graph, rewritten: visited - stuck.length };
}

export const engines: readonly Engine[] = [
  {
    name: "onnx",
    applies: () => true,
    prepare: (g) => g,
    async run(g, inputs) {
      const got = await runOrt(exportOnnx(g, new Map()), g, inputs);
      for (const p of g.outputs) {
        const dims = got[p.name]?.dims.join();
        if (dims !== g.values[p.value]!.type.shape.join()) throw new Error(`onnx: output ${p.name} has shape [${dims}], the graph declares [${g.values[p.value]!.type.shape}]`);
      }
      return Object.fromEntries(Object.entries(got).map(([name, o]) => [name, o.data]));
    },
  },
  wasm("wasm-baseline", false),
  wasm("wasm-relaxed", true),
  {
    name: "wgsl",
    applies: () => true,
    prepare: (g) => loweredFor(wgslTarget, g),
    // As a user runs the module: its files written, NAME.mjs imported, load() on the device.
    async run(g, inputs) {
      gpu ??= await swiftShaderDevice();
      return runOnGpu(g, gpu.device, inputs);
    },
  },
  {
    name: "decomposed",
    applies: (op) => getOp(op).decompose !== undefined,
    prepare: (g) => lowerFused(g).graph,
    run: async (g, inputs) => interpret(g, new Map(), inputs),
  },
];

/** How many cases each engine checks per op, and how many go in one batch (one compile). */
export function plan(op: OpName, engine: EngineName): { cases: number; batch: number } {
  const scale = Number(process.env.GRAPHC_FC_SCALE ?? 1);
  // Shader compiles dominate on SwiftShader: fewer cases, one module per op.
  const n = engine === "wgsl" ? (op === "conv2d" ? 12 : 8) : engine === "onnx" && (op === "maxpool" || op === "avgpool") ? 150 : 56;
  const cases = Math.ceil(n * scale);
  // ORT sessions are cheap (~2 ms), and a merged graph trips ORT itself: its shape inference
  // sizes a ceil_mode pool by ONNX's formula, its kernel by PyTorch's (the interpreter's), and
  // re-using that buffer fails. One case per session.
  return { cases, batch: engine === "wgsl" ? cases : engine === "onnx" ? 1 : 8 };
}

/** Merges case graphs into one: inputs and outputs of case k are prefixed `c${k}_`. */
export function merge(batch: readonly Case[]): { graph: Graph; inputs: Record<string, TensorData> } {
  const graph = emptyGraph(batch[0]!.op);
  const inputs: Record<string, TensorData> = {};
  batch.forEach((c, k) => {
    const [v0, n0] = [graph.values.length, graph.nodes.length];
    const at = (v: number) => v + v0;
    const g = c.graph;
    graph.values.push(...g.values.map((v) => ({ ...v, id: at(v.id), ...(v.producer !== undefined ? { producer: v.producer + n0 } : {}) })));
    graph.nodes.push(...g.nodes.map((n) => ({ ...n, id: n.id + n0, inputs: n.inputs.map(at), outputs: n.outputs.map(at) })));
    graph.constants.push(...g.constants.map((x) => ({ ...x, value: at(x.value) })));
    graph.inputs.push(...g.inputs.map((p) => ({ name: `c${k}_${p.name}`, value: at(p.value) })));
    graph.outputs.push(...g.outputs.map((p) => ({ name: `c${k}_${p.name}`, value: at(p.value) })));
    for (const [name, data] of Object.entries(c.inputs)) inputs[`c${k}_${name}`] = data;
  });
  return { graph, inputs };
}

/** What is wrong with case k's outputs in `got` against the interpreter's `want` (empty: nothing). */
export function mismatches(c: Case, k: number, got: Outputs, want: Outputs, deviations: readonly Deviation[] = []): string[] {
  const anyOutsideDomain = deviations.some((d) => d.anyOutsideDomain);
  const extra = deviations.reduce((sum, d) => sum + (d.abs ?? 0), 0);
  return c.graph.outputs.flatMap((p) => {
    const name = `c${k}_${p.name}`;
    const [g, w] = [got[name], want[name]!];
    if (!g) return [`${c.what}: no output ${p.name}`];
    if (g.length !== w.length) return [`${c.what}: output ${p.name} has ${g.length} elements, the interpreter's ${w.length}`];
    let bad = 0;
    let first = "";
    for (let i = 0; i < w.length; i++) {
      const e = Number(w[i]!);
      const a = Number(g[i]!);
      const tol = allowance(c.tol, i, e) + extra;
      // NaN and infinities compare exactly (an infinite tolerance would pass anything).
      const finite = Number.isFinite(a) && Number.isFinite(e);
      if (a === e || (Number.isNaN(a) && Number.isNaN(e)) || (anyOutsideDomain && !Number.isFinite(e)) || (finite && Math.abs(a - e) <= tol)) continue;
      if (deviations.some((d) => d.allows?.(c, i, a, e))) continue;
      if (bad++ === 0) first = `${p.name}[${i}] = ${a}, want ${e} (|diff| ${Math.abs(a - e).toExponential(2)} > ${tol.toExponential(2)})`;
    }
    return bad ? [`${c.what}: ${first}, ${bad} of ${w.length} elements off (${[c.tol.why, ...deviations.map((d) => d.why)].join("; ")})`] : [];
  });
}
