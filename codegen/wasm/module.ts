// Builds the WebAssembly module of a graph: one kernel function per node, every address baked
// in, and an exported `run` calling them in order. Linear memory:
//   [data: constants and packed weights][model inputs][arena (planMemory)][scratch]
// The data region is filled lazily, in the order kernels ask for it; kernels ask the same way
// in the baseline and relaxed builds, so both share one weights blob (checked by the tests).
// Its size is known only after every kernel is emitted, so emission runs twice: once to measure
// the data region and scratch, once with the final addresses.
import binaryen from "binaryen";
import { numel, type Graph } from "../../src/ir/graph.js";
import { planMemory } from "../../src/passes/memory.js";
import { kernelFor, type KernelContext } from "./context.js";
import "./kernels.js";

export interface PortLayout {
  name: string;
  dtype: "f32" | "i32";
  shape: number[];
  offset: number;
}

export interface WasmBuild {
  /** Exports "memory" (its own, not shared) and "run": () => void. */
  wasm: Uint8Array;
  memoryBytes: number;
  /** Copied into memory at weightsOffset once before the first run. */
  weights: Uint8Array;
  weightsOffset: number;
  /** i64 model inputs and outputs are held as i32. */
  inputs: PortLayout[];
  outputs: PortLayout[];
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;
const PAGE = 65536;

interface Emitted {
  data: Uint8Array[];
  dataBytes: number;
  scratchAt: number;
  scratchBytes: number;
  calls: string[];
  inputs: PortLayout[];
  outputs: PortLayout[];
}

/** Emits every kernel into `mod`, the inputs placed from `dataEnd` (0 in the measuring pass). */
function emit(g: Graph, mod: binaryen.Module, relaxed: boolean, dataEnd: number): Emitted {
  const plan = planMemory(g);
  const out: Emitted = { data: [], dataBytes: 0, scratchAt: 0, scratchBytes: 0, calls: [], inputs: [], outputs: [] };
  const inputAt = new Map<number, number>();
  let at = dataEnd;
  for (const p of g.inputs) {
    const t = g.values[p.value]!.type;
    inputAt.set(p.value, at);
    out.inputs.push({ name: p.name, dtype: t.dtype === "f32" ? "f32" : "i32", shape: [...t.shape], offset: at });
    at = align16(at + numel(t.shape) * 4);
  }
  const arena = at;
  out.scratchAt = align16(arena + plan.arenaBytes);
  const constAt = new Map<number, number>();
  let names = 0;

  const addData = (d: Uint8Array | Float32Array | Int32Array): number => {
    const addr = out.dataBytes;
    out.data.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    out.dataBytes = align16(addr + d.byteLength);
    return addr;
  };
  const addr = (v: number): number => {
    const val = g.values[v]!;
    if (val.kind === "input") return inputAt.get(v)!;
    if (val.kind === "weight") throw new Error(`wasm: weight value ${v} is unbound (bindWeights first)`);
    if (val.kind === "const") {
      let a = constAt.get(v);
      if (a === undefined) constAt.set(v, (a = addData(g.constants.find((c) => c.value === v)!.data)));
      return a;
    }
    if (plan.offsets[v]! >= 0) return arena + plan.offsets[v]!;
    // A view (reshape) the planner left outside the arena: it aliases its input.
    return addr(g.nodes[val.producer!]!.inputs[0]!);
  };
  const ctx: KernelContext = {
    mod,
    relaxed,
    graph: g,
    addr,
    addData,
    scratch: (bytes) => ((out.scratchBytes = Math.max(out.scratchBytes, bytes)), out.scratchAt),
    fnName: (base) => `${base.replace(/[^\w]/g, "_")}_${names++}`,
  };
  for (const n of g.nodes) {
    if (n.op === "reshape" && addr(n.inputs[0]!) === addr(n.outputs[0]!)) continue;
    const k = kernelFor(n.op);
    if (!k) throw new Error(`wasm: no kernel for ${n.op}`);
    out.calls.push(k(ctx, n));
  }
  for (const p of g.outputs) {
    const t = g.values[p.value]!.type;
    out.outputs.push({ name: p.name, dtype: t.dtype === "f32" ? "f32" : "i32", shape: [...t.shape], offset: addr(p.value) });
  }
  return out;
}

export function buildWasm(g: Graph, opts: { relaxed: boolean }): WasmBuild {
  const features =
    binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.NontrappingFPToInt |
    binaryen.Features.SignExt | binaryen.Features.MutableGlobals | (opts.relaxed ? binaryen.Features.RelaxedSIMD : 0);
  const probe = new binaryen.Module();
  probe.setMemory(1, 1, null); // loads and stores need a memory to exist
  const sizes = emit(g, probe, opts.relaxed, 0);
  probe.dispose();

  const mod = new binaryen.Module();
  try {
    mod.setFeatures(features);
    // Every region shifts by the (16-aligned) data size; their sizes are those just measured.
    const memoryBytes = sizes.dataBytes + sizes.scratchAt + sizes.scratchBytes;
    const pages = Math.max(1, Math.ceil(memoryBytes / PAGE));
    mod.setMemory(pages, pages, "memory");
    const e = emit(g, mod, opts.relaxed, sizes.dataBytes);
    if (e.dataBytes !== sizes.dataBytes || e.scratchBytes !== sizes.scratchBytes) throw new Error("wasm: kernels asked for different data or scratch in the two emission passes");
    mod.addFunction("run", binaryen.none, binaryen.none, [], mod.block(null, e.calls.map((f) => mod.call(f, [], binaryen.none)), binaryen.none));
    mod.addFunctionExport("run", "run");
    if (!mod.validate()) throw new Error("wasm: the generated module does not validate");
    // Function by function: module-level inlining would merge the kernels (and spill).
    for (const name of [...e.calls, "run"]) mod.optimizeFunction(name);
    const weights = new Uint8Array(e.dataBytes);
    let off = 0;
    for (const d of e.data) (weights.set(d, off), (off = align16(off + d.byteLength)));
    return { wasm: mod.emitBinary(), memoryBytes, weights, weightsOffset: 0, inputs: e.inputs, outputs: e.outputs };
  } finally {
    mod.dispose();
  }
}
