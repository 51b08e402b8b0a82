// The loader every generated NAME.mjs carries, as JavaScript source text: it picks a SIMD
// build, finds the bytes (arguments, embedded base64, or files next to the module), checks that
// they are this module's (the build id, checks.ts), instantiates it and wraps run(). The same text
// backs instantiate() in the API (through new Function), so an in-memory model and an imported
// one behave identically. No backticks or `${` in the text.
//
// Its errors: TypeError for arguments of the wrong type, RangeError for what does not fit (an
// input of the wrong length, an id outside its embedding's table, one computed inside the model
// that makes a kernel trap, more memory than the engine gives), Error for files that are missing
// or not this module's.
import { CHECKS_RUNTIME, type IdCheck } from "./checks.js";
import { THREADS_RUNTIME } from "./threads.js";

/**
 * A model port as users see it (i64 inputs are held as i32 in wasm memory, bool outputs as i32
 * 0 / 1 and returned as a Uint8Array of 0 / 1).
 */
export interface PortInfo {
  name: string;
  dtype: "f32" | "i32" | "i64" | "bool";
  shape: number[];
}

/** Where one SIMD build keeps things: port offsets in the order of Manifest.inputs / .outputs. */
export interface BuildInfo {
  file: string;
  /** The same build on a shared memory, for threads > 1 (codegen/wasm/threads.ts). */
  threadsFile: string;
  memoryBytes: number;
  /** The threads' control block. */
  control: number;
  weightsOffset: number;
  inputs: number[];
  outputs: number[];
}

/** The JSON a generated module embeds about its model. */
export interface Manifest {
  name: string;
  inputs: PortInfo[];
  outputs: PortInfo[];
  /** `bytes` of weights, in segments of these sizes (each goes through prepare(i)); the file holds them, then the build id. */
  weights: { file: string; bytes: number; segments: number[] };
  builds: { baseline?: BuildInfo; relaxed?: BuildInfo };
  /** [input index, hi, lo = 0]: inputs a gather reads as ids, checked by run() to lie in [lo, hi). */
  idChecks: IdCheck[];
  /** Of the compile that wrote the module, its wasm files and its weights file (checks.ts). */
  buildId: string;
}

export type Bytes = ArrayBuffer | ArrayBufferView;
export type Simd = "auto" | "relaxed" | "baseline";

/** Bytes of the weights file read (or fetched) so far, of `total`. */
export interface LoadProgress {
  loaded: number;
  total: number;
}

export interface LoadOptions {
  wasm?: Bytes;
  relaxedWasm?: Bytes;
  threadsWasm?: Bytes;
  relaxedThreadsWasm?: Bytes;
  weights?: Bytes;
  simd?: Simd;
  /** Default: min(4, the cores); 1 in a browser page that is not cross-origin isolated. */
  threads?: number;
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadedModel {
  readonly name: string;
  readonly simd: "relaxed" | "baseline";
  /** The threads it runs on, the caller's included. */
  readonly threads: number;
  readonly inputs: readonly Readonly<PortInfo>[];
  readonly outputs: readonly Readonly<PortInfo>[];
  run(inputs: Record<string, Float32Array | Int32Array | BigInt64Array>): Promise<Record<string, Float32Array | Int32Array | Uint8Array>>;
  /** Ends the worker threads and lets go of the module's memory; run() afterwards is an error. */
  dispose(): void;
}

/** What an in-memory load needs: the manifest and the bytes of the files it ships. */
export interface ModuleParts {
  manifest: Manifest;
  wasm?: Uint8Array;
  relaxedWasm?: Uint8Array;
  threadsWasm?: Uint8Array;
  relaxedThreadsWasm?: Uint8Array;
  /** The weights file: the weights, then the build id. */
  weights: Uint8Array;
}

/** Base64 of every embedded file, by LoadOptions key. */
export type Embedded = Partial<Record<"wasm" | "relaxedWasm" | "threadsWasm" | "relaxedThreadsWasm" | "weights", string>>;

export type LoadModel = (model: Manifest, embedded: Embedded | null, baseUrl: string | undefined, options?: LoadOptions) => Promise<LoadedModel>;

export const RUNTIME = CHECKS_RUNTIME + THREADS_RUNTIME + String.raw`
// (module (func (param v128 v128 v128) (result v128) f32x4.relaxed_madd)): valid only where
// the engine has relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);

function relaxedSimdSupported() {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

async function loadModel(model, embedded, baseUrl, options) {
  const what = "graphc model " + JSON.stringify(model.name) + ": ";
  const opts = options == null ? {} : options;
  if (typeof opts !== "object") throw new TypeError(what + "load() takes an options object");
  const simd = opts.simd === undefined ? "auto" : opts.simd;
  const onProgress = opts.onProgress;
  if (onProgress !== undefined && typeof onProgress !== "function") throw new TypeError(what + "onProgress must be a function, got " + typeof onProgress);
  const progress = (loaded, total) => {
    if (onProgress) onProgress({ loaded, total });
  };
  if (simd !== "auto" && simd !== "relaxed" && simd !== "baseline") throw new TypeError(what + "simd must be \"auto\", \"relaxed\" or \"baseline\", got " + JSON.stringify(simd));
  const builds = model.builds;
  let kind;
  if (simd === "baseline") {
    if (!builds.baseline) throw new Error(what + "compiled with relaxed SIMD only (--relaxed-simd=on); there is no baseline build");
    kind = "baseline";
  } else if (simd === "relaxed" || !builds.baseline) {
    if (!builds.relaxed) throw new Error(what + "compiled without relaxed SIMD (--relaxed-simd=off)");
    if (!relaxedSimdSupported()) throw new Error(what + "this JavaScript engine lacks WebAssembly relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd; Node 22+ and current browsers have it)");
    kind = "relaxed";
  } else kind = builds.relaxed && relaxedSimdSupported() ? "relaxed" : "baseline";
  const build = builds[kind];
  const threads = await threadCount(opts.threads, what);

  const toBytes = (v, key) => {
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    throw new TypeError(what + key + " must be an ArrayBuffer or a typed array");
  };
  const fromBase64 = (s) => {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };
  // Where the bytes for a key come from, as messages name it.
  const from = (key, file) => (opts[key] != null ? "options." + key : embedded && embedded[key] !== undefined ? "the embedded " + key : file);
  const weightsFrom = from("weights", model.weights.file);
  const notOurs = (message) => {
    if (message) throw new Error(what + message);
  };
  const weightsSize = (n) => notOurs(weightsSizeProblem(weightsFrom, n, model.weights.bytes));
  // The bytes of a key; for the weights, "sink" takes them instead, in file order, as they come
  // (a local file is read and a fetched one streamed: never the whole file in a buffer of its own).
  const PROGRESS_CHUNK = 4 * 1048576;
  const bytesOf = async (key, file, sink) => {
    let bytes;
    if (opts[key] != null) bytes = toBytes(opts[key], key);
    else if (embedded && embedded[key] !== undefined) bytes = fromBase64(embedded[key]);
    else if (baseUrl === undefined) throw new Error(what + "no " + key + " bytes given");
    else {
      const url = new URL(file, baseUrl);
      if (url.protocol === "file:" && typeof process !== "undefined") {
        const fs = await import("node:fs/promises");
        if (!sink) return new Uint8Array(await fs.readFile(url));
        const handle = await fs.open(url);
        try {
          weightsSize((await handle.stat()).size);
          sink.start();
          for (let position = 0, n = 1; n > 0; position += n) {
            const into = sink.next(PROGRESS_CHUNK);
            if (!into) break;
            n = (await handle.read(into, 0, into.byteLength, position)).bytesRead;
            sink.wrote(n);
          }
        } finally {
          await handle.close();
        }
        return;
      }
      const response = await fetch(url);
      if (!response.ok) throw new Error(what + "cannot fetch " + url + ": HTTP " + response.status);
      if (!sink || !response.body) bytes = new Uint8Array(await response.arrayBuffer());
      else {
        const length = response.headers.get("content-length");
        if (length !== null && !response.headers.get("content-encoding")) weightsSize(Number(length));
        sink.start();
        const reader = response.body.getReader();
        let loaded = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          loaded += value.byteLength;
          if (loaded > sink.total) {
            await reader.cancel();
            weightsSize(loaded);
          }
          sink.take(value);
        }
        weightsSize(loaded);
        return;
      }
    }
    if (!sink) return bytes;
    weightsSize(bytes.byteLength);
    sink.start();
    for (let at = 0; at < bytes.byteLength; at += PROGRESS_CHUNK) sink.take(bytes.subarray(at, at + PROGRESS_CHUNK));
  };

  const wasmKey = threads > 1 ? (kind === "relaxed" ? "relaxedThreadsWasm" : "threadsWasm") : kind === "relaxed" ? "relaxedWasm" : "wasm";
  const wasmFile = threads > 1 ? build.threadsFile : build.file;
  const wasmFrom = from(wasmKey, wasmFile);
  let wasmModule;
  try {
    wasmModule = await WebAssembly.compile(await bytesOf(wasmKey, wasmFile));
  } catch (e) {
    if (!(e instanceof WebAssembly.CompileError)) throw e;
    throw new Error(what + wasmFrom + " is not a WebAssembly module (" + e.message + ")");
  }
  const section = WebAssembly.Module.customSections(wasmModule, BUILD_SECTION)[0];
  notOurs(foreignBuild(wasmFrom, section && new Uint8Array(section), model.buildId));
  let shared;
  if (threads > 1) {
    const pages = Math.max(1, Math.ceil(build.memoryBytes / 65536));
    try {
      shared = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch (e) {
      throw new RangeError(what + "needs " + build.memoryBytes + " bytes of shared wasm memory, more than this engine gives (" + e.message + ")");
    }
  }
  const instance = await WebAssembly.instantiate(wasmModule, shared ? { env: { memory: shared } } : {});
  const { memory, prepare, run, thread } = instance.exports;
  if (!(memory instanceof WebAssembly.Memory) || typeof prepare !== "function" || typeof run !== "function" || typeof thread !== "function") throw new Error(what + wasmFrom + " does not export memory, prepare, run and thread");
  if (memory.buffer.byteLength < build.memoryBytes) {
    try {
      memory.grow(Math.ceil((build.memoryBytes - memory.buffer.byteLength) / 65536));
    } catch (e) {
      throw new RangeError(what + "needs " + build.memoryBytes + " bytes of wasm memory, more than this engine gives (" + e.message + ")");
    }
  }
  // The weights file's segments go one at a time into the window at weightsOffset, each then
  // through prepare(i) (decoding, packing, Winograd transforms); the build id lands in idBytes.
  const segments = model.weights.segments;
  const window = new Uint8Array(memory.buffer, build.weightsOffset, Math.max(0, ...segments));
  const idBytes = new Uint8Array(BUILD_ID_BYTES);
  const sink = {
    total: model.weights.bytes + BUILD_ID_BYTES,
    loaded: 0,
    segment: 0,
    filled: 0,
    start() {
      progress(0, this.total);
    },
    // Where the next (at most max) bytes go; null when the file is complete.
    next(max) {
      if (this.segment < segments.length) return window.subarray(this.filled, Math.min(segments[this.segment], this.filled + max));
      const idFilled = this.loaded - model.weights.bytes;
      return idFilled < BUILD_ID_BYTES ? idBytes.subarray(idFilled) : null;
    },
    wrote(n) {
      this.loaded += n;
      if (this.segment < segments.length) {
        this.filled += n;
        if (this.filled === segments[this.segment]) {
          prepare(this.segment);
          this.segment++;
          this.filled = 0;
        }
      }
      if (n > 0) progress(this.loaded, this.total);
    },
    take(chunk) {
      for (let at = 0; at < chunk.byteLength; ) {
        const into = this.next(chunk.byteLength - at);
        if (!into) return;
        const n = Math.min(into.byteLength, chunk.byteLength - at);
        into.set(chunk.subarray(at, at + n));
        at += n;
        this.wrote(n);
      }
    },
  };
  await bytesOf("weights", model.weights.file, sink);
  notOurs(foreignBuild(weightsFrom, idBytes, model.buildId));
  // A browser's main thread may not atomic.wait: it spins at the barriers.
  thread(0, threads, IN_NODE || typeof window === "undefined" ? 1 : 0);
  const pool = threads > 1 ? await startWorkers(wasmModule, memory, build.control, threads, what) : null;

  // No closure here reads "memory" itself (only through "live"), so dispose() lets it go.
  const memoryBytes = memory.buffer.byteLength;
  const port = (p, offset) => {
    const size = p.shape.reduce((a, d) => a * d, 1);
    if (offset < 0 || offset + size * 4 > memoryBytes) throw new Error(what + "port " + JSON.stringify(p.name) + " lies outside memory");
    return { name: p.name, dtype: p.dtype, shape: p.shape, size, offset, View: p.dtype === "f32" ? Float32Array : Int32Array };
  };
  const idRows = idBounds(model.idChecks);
  const ins = model.inputs.map((p, i) => Object.assign(port(p, build.inputs[i]), { rows: idRows.get(i) }));
  const outs = model.outputs.map((p, i) => port(p, build.outputs[i]));
  const expected = { f32: "Float32Array", i32: "Int32Array", i64: "BigInt64Array or Int32Array" };
  const accepts = (p, v) => v instanceof p.View || (p.dtype === "i64" && v instanceof BigInt64Array);
  const describe = (p) => p.dtype + "[" + p.shape.join(", ") + "]";
  const names = (ps) => ps.map((p) => JSON.stringify(p.name)).join(", ");
  const info = (ps) => Object.freeze(ps.map((p) => Object.freeze({ name: p.name, dtype: p.dtype, shape: Object.freeze(p.shape.slice()) })));

  // A kernel traps where the model's own values are out of range: a gather's id computed inside the
  // model (ids from inputs are checked before it runs), an integer division by zero.
  const trapped = (e) => {
    if (!(e instanceof WebAssembly.RuntimeError)) return e;
    if (/unreachable/i.test(e.message)) return new RangeError(what + "an embedding id computed inside the model is outside its table, or a gather index outside its axis (the gather kernel trapped: " + e.message + ")");
    if (/by zero|integer overflow/i.test(e.message)) return new RangeError(what + "an integer division inside the model divides by zero or overflows (" + e.message + ")");
    return new Error(what + "the wasm code trapped (" + e.message + "): a bug in graphc, please report it");
  };

  // Set by dispose(): then run() is an error, the workers are gone and nothing here holds the module's memory.
  let live = { memory, run, pool };
  const dispose = () => {
    if (live && live.pool) live.pool.stop();
    live = null;
  };

  async function runModel(feeds) {
    if (live === null) throw new Error(what + "this model was disposed (dispose() was called); load it again to run it");
    const { memory, run, pool } = live;
    if (pool && pool.failed()) throw new Error(what + "a thread trapped in an earlier run, which leaves the threads out of step: load the model again");
    if (feeds === null || typeof feeds !== "object") throw new TypeError(what + "run() takes an object of input arrays: { " + names(ins) + " }");
    for (const key of Object.keys(feeds))
      if (!ins.some((p) => p.name === key)) throw new Error(what + "no input " + JSON.stringify(key) + " (inputs: " + names(ins) + ")");
    const values = ins.map((p) => {
      const v = Object.prototype.hasOwnProperty.call(feeds, p.name) ? feeds[p.name] : undefined;
      if (v === undefined) throw new Error(what + "missing input " + JSON.stringify(p.name) + " (" + describe(p) + ")");
      if (!accepts(p, v)) throw new TypeError(what + "input " + JSON.stringify(p.name) + " must be a " + expected[p.dtype] + " (" + describe(p) + "), got " + (v === null ? "null" : typeof v === "object" ? v.constructor.name : typeof v));
      if (v.length !== p.size) throw new RangeError(what + "input " + JSON.stringify(p.name) + " needs " + p.size + " elements (" + describe(p) + "), got " + v.length);
      const bad = p.dtype === "f32" ? "" : badInts(p.name, v, p.rows);
      if (bad) throw new RangeError(what + bad);
      return v;
    });
    ins.forEach((p, i) => {
      const dest = new p.View(memory.buffer, p.offset, p.size);
      const v = values[i];
      if (v instanceof BigInt64Array) for (let j = 0; j < v.length; j++) dest[j] = Number(v[j]);
      else dest.set(v);
    });
    try {
      if (pool) pool.wake();
      run();
    } catch (e) {
      if (!pool) throw trapped(e);
      // Thread 0 traps at a barrier when a worker trapped: the worker's trap is the one to report.
      const error = pool.failed() ? new Error(what + "a worker thread trapped (a kernel's share, e.g. an integer division by zero inside the model); load the model again") : trapped(e);
      // Workers waiting at a barrier for thread 0 would wait forever: they trap too, and the model is done.
      pool.fail();
      throw error;
    }
    return Object.fromEntries(outs.map((p) => {
      const held = new p.View(memory.buffer, p.offset, p.size);
      return [p.name, p.dtype === "bool" ? Uint8Array.from(held) : held.slice()];
    }));
  }

  return Object.freeze({ name: model.name, simd: kind, threads, inputs: info(ins), outputs: info(outs), run: runModel, dispose });
}
`;

interface Runtime {
  loadModel: LoadModel;
  relaxedSimdSupported: () => boolean;
}

let runtime: Runtime | undefined;

/** The runtime text, evaluated once per process. */
function evaluated(): Runtime {
  runtime ??= new Function("nodeImport", `"use strict";\n${RUNTIME}\nreturn { loadModel, relaxedSimdSupported };`)((name: string) => import(name)) as Runtime;
  return runtime;
}

/** The loader of the generated NAME.mjs, as in-memory loads use it (its host's import() included). */
export function runtimeLoadModel(): LoadModel {
  return evaluated().loadModel;
}

/** Whether this engine runs relaxed-SIMD modules, as a generated module decides it. */
export function relaxedSimdSupported(): boolean {
  return evaluated().relaxedSimdSupported();
}

/** Loads module parts in memory through the same loader as the generated NAME.mjs. */
export function loadParts(parts: ModuleParts, options: Pick<LoadOptions, "simd" | "onProgress" | "threads"> = {}): Promise<LoadedModel> {
  const { manifest, ...bytes } = parts;
  return evaluated().loadModel(manifest, null, undefined, { ...bytes, ...options });
}
