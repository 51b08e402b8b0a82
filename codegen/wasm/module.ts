// Builds the WebAssembly module of a graph: one kernel function per node, every address baked
// in, an exported `run` calling them in order, and an exported `prepare` that load() calls once
// after placing the weights file. Linear memory:
//   run:   [data: constants and packed weights][model inputs][arena (planMemory)][scratch]
//   load:  [data][window: one segment of the weights file | its float32 when f16 / int8]
// The weights file holds each constant a kernel reads once, as the graph has it (weights.ts
// says how f16 / int8 store some), one segment each; load() places them one at a time in the
// window and calls prepare(i), which decodes segment i and fills the data region's chunks made
// from it (copies, GEMM panels, Winograd transforms). The window overlaps inputs, arena and
// scratch, which are free until the first run: it costs memory only where the largest weight
// (as stored, plus its float32 when encoded) is larger than they are.
// The data region is filled in the order kernels ask for it; kernels ask the same way in the
// baseline and relaxed builds, so both share one weights file (checked by the tests). Its size
// is known only after every kernel is emitted, so the first build of a graph emits twice: once
// to measure the data region, once with the final addresses. Later builds sharing its
// WasmShared skip the measuring pass and reuse its weights file.
// After both: the threads' control block (threads.ts). The build has its own memory (one thread,
// as any engine runs it); load() makes the threads' build from it, the same code importing a
// shared memory (codegen/module/threads.ts onSharedMemory).
import binaryen from "binaryen";
import { numel, type Graph } from "../../src/ir/graph.js";
import { planMemory } from "../../src/ir/memory.js";
import type { KernelContext } from "./context.js";
import { emitKernel } from "./kernels.js";
import { MAX_MEMORY_BYTES, memoryMessage } from "./memory-limit.js";
import { TargetLimitError } from "../target.js";
import { byteCount } from "../../src/ir/rewrite.js";
import { addThreadedRun, addThreadGlobals, barrierCall, CONTROL, countIn, MAX_THREADS, onThreadZero, share, threadId, type ThreadedCall } from "./threads.js";
import { decodeF16, decodeInt8, encodeF16, encodeInt8, quantisable, stagedBytes, storedBytes, type Channels, type Transform, type WeightsDtype } from "./weights.js";

export interface PortLayout {
  name: string;
  dtype: "f32" | "i32";
  shape: number[];
  offset: number;
}

export interface WasmBuild {
  /** Exports "memory" (its own, not shared), "prepare" and "run": () => void, and "thread" and "work" (threads.ts). */
  wasm: Uint8Array;
  memoryBytes: number;
  /** The threads' control block (threads.ts CONTROL). */
  control: number;
  /** The weights file (without its build id): its segments, in order. */
  weights: Uint8Array;
  /** Bytes of each segment: load() copies segment i into memory at weightsOffset, then calls prepare(i), before the first run. */
  weightSegments: number[];
  /** The graph constant each segment stores (undefined: kernel data). */
  segmentValues: (number | undefined)[];
  weightsOffset: number;
  /** i64 model inputs and outputs are held as i32. */
  inputs: PortLayout[];
  outputs: PortLayout[];
  /** A profiling build's calls of `run`, in order (what its marks number): the kernel, on every thread or on thread 0, and its node. */
  profiled?: { fn: string; parallel: boolean; node?: number }[];
}

/**
 * State a run carries to the next: after its kernels, `run` copies each `output` into the buffer
 * of `input` (of the same type), so a training step's weights are updated in place.
 */
export interface Carry {
  output: string;
  input: string;
}

/** What the builds of one graph share (see buildModule). */
export interface WasmShared {
  graph: Graph;
  weightsDtype: WeightsDtype;
  /** Constants stored float32 whatever weightsDtype says (EmitOptions.keepFloat32). */
  kept: ReadonlySet<number>;
  dataBytes?: number;
  /** The first build's weights file, by the segments it was made of. */
  stored?: { layout: string; weights: Uint8Array };
}

export const wasmShared = (graph: Graph, weightsDtype: WeightsDtype = "f32", kept: ReadonlySet<number> = new Set()): WasmShared => ({ graph, weightsDtype, kept });

const align16 = (n: number) => Math.ceil(n / 16) * 16;
const PAGE = 65536;

type Data = Uint8Array | Float32Array | Int32Array;
const bytesOf = (d: ArrayBufferView) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** A tensor of the weights file: stored as it is, or (f16 / int8) encoded with its output channels. */
interface Segment {
  data: Data;
  encoded?: Channels;
  what: string;
  /** The graph constant it stores, if it stores one. */
  value?: number;
}

/** A piece of the data region and how prepare fills it: a copy of a segment, its transform, or nothing (zeros). */
interface Chunk {
  at: number;
  bytes: number;
  segment?: number;
  transform?: Transform;
}

interface Emitted {
  dataBytes: number;
  scratchAt: number;
  scratchBytes: number;
  calls: ThreadedCall[];
  /** The node of each call. */
  nodes: number[];
  inputs: PortLayout[];
  outputs: PortLayout[];
  segments: Segment[];
  chunks: Chunk[];
}

/** Emits every kernel into `mod`, the inputs placed from `dataEnd` (0 in the measuring pass). */
function emit(g: Graph, mod: binaryen.Module, relaxed: boolean, dataEnd: number, shared: WasmShared): Emitted {
  const plan = planMemory(g);
  const out: Emitted = { dataBytes: 0, scratchAt: 0, scratchBytes: 0, calls: [], nodes: [], inputs: [], outputs: [], segments: [], chunks: [] };
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
  const segmentOf = new Map<number, number>();
  const encode = shared.weightsDtype === "f32" ? new Map<number, Channels>() : quantisable(g, shared.weightsDtype, shared.kept);
  let names = 0;

  const chunk = (bytes: number, fill: Omit<Chunk, "at" | "bytes">): number => {
    const addr = out.dataBytes;
    out.chunks.push({ at: addr, bytes, ...fill });
    out.dataBytes = align16(addr + bytes);
    return addr;
  };
  const segment = (s: Segment) => out.segments.push(s) - 1;
  const constSegment = (v: number): number => {
    let i = segmentOf.get(v);
    if (i === undefined) {
      const c = g.constants.find((k) => k.value === v)!;
      const what = c.name !== undefined ? `weight ${c.name}` : `a constant of shape [${g.values[v]!.type.shape.join(", ")}]`;
      const channels = encode.get(v);
      segmentOf.set(v, (i = segment({ data: c.data, what, value: v, ...(channels ? { encoded: channels } : {}) })));
    }
    return i;
  };
  // Zeros need no bytes in the file: memory starts zeroed.
  const addData = (d: Data): number => chunk(d.byteLength, bytesOf(d).some((b) => b !== 0) ? { segment: segment({ data: d, what: "data" }) } : {});
  const addr = (v: number): number => {
    const val = g.values[v]!;
    if (val.kind === "input") return inputAt.get(v)!;
    if (val.kind === "weight") throw new Error(`wasm: weight value ${v} is unbound (bindWeights first)`);
    if (val.kind === "const") {
      let a = constAt.get(v);
      if (a === undefined) constAt.set(v, (a = chunk(g.constants.find((c) => c.value === v)!.data.byteLength, { segment: constSegment(v) })));
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
    addPacked: (v, transform) => chunk(transform.floats * 4, { segment: constSegment(v), transform }),
    scratch,
    part: (n) => ((parallel = true), share(mod, n)),
    threadScratch: (bytes, shared = 0) => {
      const [own, at] = [align16(bytes), align16(shared)];
      const base = scratch(at + own * MAX_THREADS);
      return { shared: base, mine: () => mod.i32.add(mod.i32.const(base + at), mod.i32.mul(threadId(mod)(), mod.i32.const(own))), of: (id) => base + at + id * own };
    },
    threadCountIn: (test) => countIn(mod, test),
    // A kernel with a serial step or a barrier runs on every thread (a barrier on thread 0 alone would wait forever).
    serial: (e) => ((parallel = true), onThreadZero(mod, e)),
    barrier: () => ((parallel = true), barrierCall(mod)),
    fnName: (base) => `${base.replace(/[^\w]/g, "_")}_${names++}`,
  };
  g.nodes.forEach((n, i) => {
    if (n.op === "reshape" && addr(n.inputs[0]!) === addr(n.outputs[0]!)) return;
    parallel = false;
    const fn = emitKernel(ctx, n);
    out.calls.push({ fn, parallel });
    out.nodes.push(i);
  });
  for (const p of g.outputs) {
    const t = g.values[p.value]!.type;
    out.outputs.push({ name: p.name, dtype: t.dtype === "f32" ? "f32" : "i32", shape: [...t.shape], offset: addr(p.value) });
  }
  return out;
}

/**
 * The weights file is its segments in order, each padded to 16 bytes; load() places them one at
 * a time in a staging window at `base` and calls prepare(i) after segment i. The window holds
 * the largest segment as stored and, for an encoded one, its float32 after it.
 */
function windowLayout(segments: Segment[], dtype: WeightsDtype) {
  const sizes = segments.map((s) => (s.encoded ? storedBytes(dtype as "f16" | "int8", s.data.length, s.encoded) : align16(s.data.byteLength)));
  const windowBytes = Math.max(0, ...segments.map((s, i) => sizes[i]! + (s.encoded ? stagedBytes(dtype, s.data.length) : 0)));
  return { sizes, windowBytes };
}

/** The weights file of `segments`. */
function weightsFile(segments: Segment[], dtype: WeightsDtype, sizes: number[]): Uint8Array {
  const file = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  segments.forEach((s, i) => {
    file.set(!s.encoded ? bytesOf(s.data) : dtype === "f16" ? bytesOf(encodeF16(s.data as Float32Array, s.encoded)) : encodeInt8(s.data as Float32Array, s.encoded, s.what), at);
    at += sizes[i]!;
  });
  return file;
}

/** prepare(i), segment i in the window at `base`: decode it (f16 / int8), then fill the data region's chunks made from it. */
function prepare(mod: binaryen.Module, e: Emitted, dtype: WeightsDtype, base: number, sizes: number[], fnName: (base: string) => string): void {
  const emit = { mod, relaxed: false, fnName };
  const c = (n: number) => mod.i32.const(n);
  const call = (fn: string, src: number, dst: number) => mod.call(fn, [c(src), c(dst)], binaryen.none);
  const bodies: binaryen.ExpressionRef[][] = e.segments.map(() => []);
  const staged = e.segments.map((s, i) => (s.encoded ? base + sizes[i]! : base));
  e.segments.forEach((s, i) => {
    if (s.encoded) bodies[i]!.push(call(dtype === "f16" ? decodeF16(emit, s.data.length) : decodeInt8(emit, s.data.length, s.encoded), base, staged[i]!));
  });
  for (const k of e.chunks) {
    if (k.segment === undefined) continue;
    const src = staged[k.segment]!;
    bodies[k.segment]!.push(k.transform ? call(k.transform.fn(emit), src, k.at) : mod.memory.copy(c(k.at), c(src), c(k.bytes)));
  }
  const i = () => mod.local.get(0, binaryen.i32);
  mod.addFunction("prepare", binaryen.i32, binaryen.none, [], mod.block(null, bodies.map((b, k) => mod.if(mod.i32.eq(i(), c(k)), mod.block(null, b))), binaryen.none));
  mod.addFunctionExport("prepare", "prepare");
}

/** A carry as [destination, source, bytes]; the two ports must exist and have one type. */
function carried(c: Carry, e: Emitted): [number, number, number] {
  const [to, from] = [e.inputs.find((p) => p.name === c.input), e.outputs.find((p) => p.name === c.output)];
  if (!to || !from) throw new Error(`wasm: carry from ${c.output} to ${c.input}: no such ${to ? "output" : "input"}`);
  if (to.dtype !== from.dtype || to.shape.join() !== from.shape.join()) throw new Error(`wasm: carry from ${c.output} to ${c.input}: their types differ`);
  return [to.offset, from.offset, numel(to.shape) * 4];
}

/**
 * `shared` (default: this build's own) carries the measured data size and the weights file to
 * the next build of `g`. `profile`: a build that reports each kernel's start and end through an
 * import (threads.ts PROFILE_PHASE), for timing scripts.
 */
export function buildWasm(g: Graph, opts: { relaxed: boolean; shared?: WasmShared; carry?: readonly Carry[]; profile?: boolean }): WasmBuild {
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
    const dtype = shared.weightsDtype;
    const layout = windowLayout(e.segments, dtype);
    let names = 0;
    prepare(mod, e, dtype, e.dataBytes, layout.sizes, (base) => `prepare_${base.replace(/[^\w]/g, "_")}_${names++}`);
    const runBytes = e.scratchAt + e.scratchBytes;
    const loadEnd = e.dataBytes + layout.windowBytes;
    // Past the load window too: the control words must be 0 when the threads start.
    const control = align16(Math.max(runBytes, loadEnd));
    const memoryBytes = control + CONTROL.bytes;
    // The lower bound the target's limits() checked leaves out packed weights, scratch and staging.
    if (memoryBytes > MAX_MEMORY_BYTES)
      throw new TargetLimitError(memoryMessage(byteCount(memoryBytes), `weights and packed data ${byteCount(e.dataBytes)}, ${runBytes >= loadEnd ? `inputs, intermediate tensors and scratch ${byteCount(runBytes - e.dataBytes)}` : `the largest weight while loading ${byteCount(layout.windowBytes)}`}`));
    const pages = Math.max(1, Math.ceil(memoryBytes / PAGE));
    mod.setMemory(pages, pages, "memory");
    const copies = (opts.carry ?? []).map((c) => carried(c, e));
    // The carried copies after every kernel, on thread 0.
    const calls = [...e.calls];
    if (copies.length) {
      mod.addFunction("carry", binaryen.none, binaryen.none, [], mod.block(null, copies.map(([to, from, bytes]) => mod.memory.copy(mod.i32.const(to), mod.i32.const(from), mod.i32.const(bytes))), binaryen.none));
      calls.push({ fn: "carry", parallel: false });
    }
    const threading = addThreadedRun(mod, control, calls, opts.profile);
    if (!mod.validate()) throw new Error("wasm: the generated module does not validate");
    // Function by function: module-level inlining would merge the kernels (and spill).
    for (const name of [...calls.map((c) => c.fn), ...threading]) mod.optimizeFunction(name);
    // The first build's file, when this build placed the same segments (emitModule checks that the builds agree).
    const key = JSON.stringify(e.segments.map((s) => [s.data.byteLength, s.data.constructor.name, s.encoded ?? null]));
    if (shared.stored?.layout !== key) shared.stored = { layout: key, weights: weightsFile(e.segments, dtype, layout.sizes) };
    const profiled = opts.profile ? { profiled: calls.map((c, i) => ({ ...c, ...(i < e.nodes.length ? { node: e.nodes[i]! } : {}) })) } : {};
    return { wasm: mod.emitBinary(), memoryBytes, control, weights: shared.stored.weights, weightSegments: layout.sizes, segmentValues: e.segments.map((s) => s.value), weightsOffset: e.dataBytes, inputs: e.inputs, outputs: e.outputs, ...profiled };
  } finally {
    mod.dispose();
  }
}
