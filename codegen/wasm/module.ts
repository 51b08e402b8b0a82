// Builds the WebAssembly module of a graph: one kernel function per node, every address baked
// in, and an exported `run` calling them in order. Linear memory:
//   [data: constants and packed weights][model inputs][arena (planMemory)][scratch]
// The data region is filled lazily, in the order kernels ask for it; kernels ask the same way
// in the baseline and relaxed builds, so both share one weights blob (checked by the tests).
// Its size is known only after every kernel is emitted, so the first build of a graph emits
// twice: once to measure the data region, once with the final addresses. Later builds sharing
// its WasmShared skip the measuring pass, and data given as a function is made only once.
// After the scratch: the threads' control block (threads.ts). Each build is written twice: with
// its own memory (one thread, as any engine runs it) and importing a shared one (threads).
import binaryen from "binaryen";
import { numel, type Graph } from "../../src/ir/graph.js";
import { planMemory } from "../../src/ir/memory.js";
import type { KernelContext } from "./context.js";
import { emitKernel } from "./kernels.js";
import { MAX_MEMORY_BYTES, memoryMessage } from "./memory-limit.js";
import { TargetLimitError } from "../target.js";
import { byteCount } from "../../src/ir/rewrite.js";
import { addThreadedRun, addThreadGlobals, barrierCall, CONTROL, MAX_THREADS, onThreadZero, share, threadId, type ThreadedCall } from "./threads.js";

export interface PortLayout {
  name: string;
  dtype: "f32" | "i32";
  shape: number[];
  offset: number;
}

export interface WasmBuild {
  /** Exports "memory" (its own, not shared), "run": () => void, and "thread" and "work" (threads.ts). */
  wasm: Uint8Array;
  /** The same code importing env.memory, shared, of memoryBytes rounded up to pages. */
  threadsWasm: Uint8Array;
  memoryBytes: number;
  /** The threads' control block (threads.ts CONTROL). */
  control: number;
  /** Copied into memory at weightsOffset once before the first run. */
  weights: Uint8Array;
  weightsOffset: number;
  /** i64 model inputs and outputs are held as i32. */
  inputs: PortLayout[];
  outputs: PortLayout[];
}

/** What the builds of one graph share (see buildModule). */
export interface WasmShared {
  graph: Graph;
  /** By addData call number: the data of the calls that passed a function. */
  made: Uint8Array[];
  dataBytes?: number;
  weights?: Uint8Array;
}

export const wasmShared = (graph: Graph): WasmShared => ({ graph, made: [] });

const align16 = (n: number) => Math.ceil(n / 16) * 16;
const PAGE = 65536;

interface Emitted {
  data: Uint8Array[];
  dataBytes: number;
  scratchAt: number;
  scratchBytes: number;
  calls: ThreadedCall[];
  inputs: PortLayout[];
  outputs: PortLayout[];
}

type Data = Uint8Array | Float32Array | Int32Array;
const bytesOf = (d: Data) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** Emits every kernel into `mod`, the inputs placed from `dataEnd` (0 in the measuring pass). */
function emit(g: Graph, mod: binaryen.Module, relaxed: boolean, dataEnd: number, shared: WasmShared): Emitted {
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

  const addData = (d: Data | (() => Data)): number => {
    const addr = out.dataBytes;
    const bytes = typeof d === "function" ? (shared.made[out.data.length] ??= bytesOf(d())) : bytesOf(d);
    out.data.push(bytes);
    out.dataBytes = align16(addr + bytes.byteLength);
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
  const scratch = (bytes: number) => ((out.scratchBytes = Math.max(out.scratchBytes, bytes)), out.scratchAt);
  let parallel = false;
  addThreadGlobals(mod);
  const ctx: KernelContext = {
    mod,
    relaxed,
    graph: g,
    addr,
    addData,
    scratch,
    part: (n) => ((parallel = true), share(mod, n)),
    threadScratch: (bytes, shared = 0) => {
      const [own, at] = [align16(bytes), align16(shared)];
      const base = scratch(at + own * MAX_THREADS);
      return { shared: base, mine: () => mod.i32.add(mod.i32.const(base + at), mod.i32.mul(threadId(mod)(), mod.i32.const(own))) };
    },
    // A kernel with a serial step or a barrier runs on every thread (a barrier on thread 0 alone would wait forever).
    serial: (e) => ((parallel = true), onThreadZero(mod, e)),
    barrier: () => ((parallel = true), barrierCall(mod)),
    fnName: (base) => `${base.replace(/[^\w]/g, "_")}_${names++}`,
  };
  for (const n of g.nodes) {
    if (n.op === "reshape" && addr(n.inputs[0]!) === addr(n.outputs[0]!)) continue;
    parallel = false;
    const fn = emitKernel(ctx, n);
    out.calls.push({ fn, parallel });
  }
  for (const p of g.outputs) {
    const t = g.values[p.value]!.type;
    out.outputs.push({ name: p.name, dtype: t.dtype === "f32" ? "f32" : "i32", shape: [...t.shape], offset: addr(p.value) });
  }
  return out;
}

/** Whether `blob` holds exactly the chunks of `data`, placed as addData places them. */
function holds(blob: Uint8Array, data: Uint8Array[]): boolean {
  let off = 0;
  for (const d of data) {
    if (Buffer.compare(d, blob.subarray(off, off + d.byteLength)) !== 0) return false;
    off = align16(off + d.byteLength);
  }
  return off === blob.byteLength;
}

/** `shared` (default: this build's own) carries the measured data size and made data to the next build of `g`. */
export function buildWasm(g: Graph, opts: { relaxed: boolean; shared?: WasmShared }): WasmBuild {
  const shared = opts.shared ?? wasmShared(g);
  if (shared.graph !== g) throw new Error("wasm: WasmShared of another graph");
  const features =
    binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.NontrappingFPToInt |
    binaryen.Features.SignExt | binaryen.Features.MutableGlobals | binaryen.Features.Atomics | (opts.relaxed ? binaryen.Features.RelaxedSIMD : 0);
  if (shared.dataBytes === undefined) {
    const probe = new binaryen.Module();
    try {
      probe.setMemory(1, 1, null); // loads and stores need a memory to exist
      shared.dataBytes = emit(g, probe, opts.relaxed, 0, shared).dataBytes;
    } finally {
      probe.dispose();
    }
  }

  const mod = new binaryen.Module();
  try {
    mod.setFeatures(features);
    mod.setMemory(1, 1, null); // resized below: the scratch size is known after emission
    const e = emit(g, mod, opts.relaxed, shared.dataBytes, shared);
    if (e.dataBytes !== shared.dataBytes) throw new Error("wasm: kernels asked for different data in two emission passes");
    const control = align16(e.scratchAt + e.scratchBytes);
    const memoryBytes = control + CONTROL.bytes;
    // The lower bound the target's limits() checked leaves out packed weights and scratch.
    if (memoryBytes > MAX_MEMORY_BYTES) throw new TargetLimitError(memoryMessage(byteCount(memoryBytes), `weights and packed data ${byteCount(e.dataBytes)}, inputs, intermediate tensors and scratch ${byteCount(memoryBytes - e.dataBytes)}`));
    const pages = Math.max(1, Math.ceil(memoryBytes / PAGE));
    mod.setMemory(pages, pages, "memory");
    const threading = addThreadedRun(mod, control, e.calls);
    if (!mod.validate()) throw new Error("wasm: the generated module does not validate");
    // Function by function: module-level inlining would merge the kernels (and spill).
    for (const name of [...e.calls.map((c) => c.fn), ...threading]) mod.optimizeFunction(name);
    // The first build's blob, when this build placed the same bytes (emitModule checks that the builds agree).
    let weights = shared.weights;
    if (!weights || !holds(weights, e.data)) {
      weights = new Uint8Array(e.dataBytes);
      let off = 0;
      for (const d of e.data) (weights.set(d, off), (off = align16(off + d.byteLength)));
    }
    shared.weights ??= weights;
    const wasm = mod.emitBinary();
    mod.setMemory(pages, pages, null, [], true); // the export "memory" stays
    mod.addMemoryImport("0", "env", "memory", true);
    return { wasm, threadsWasm: mod.emitBinary(), memoryBytes, control, weights, weightsOffset: 0, inputs: e.inputs, outputs: e.outputs };
  } finally {
    mod.dispose();
  }
}
