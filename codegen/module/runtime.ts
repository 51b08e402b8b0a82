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
  /** Whether it may run on several threads (load() puts it on a shared memory: threads.ts onSharedMemory); absent in a training module's builds, which run on one thread. */
  threaded?: boolean;
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
  /**
   * Inputs that live in the module's memory between runs (a training step's weights and optimizer
   * state, which `carry` updates in place): run() takes them optionally, and the loaded model
   * gains readInput / writeInput. `state` is the file of their starting values, written at load.
   */
  held?: string[];
  state?: { file: string; tensors: StateTensor[] };
}

/** A held input's starting value in the state file: `bytes` at `offset`, f32 or i32 (i64 held as i32). */
export interface StateTensor {
  name: string;
  offset: number;
  bytes: number;
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

/** A model weight as the trainer saves it. */
export interface SavedWeight {
  name: string;
  dtype: "f32" | "i32" | "i64";
  shape: number[];
}

/** What a training module embeds: its two builds' manifests and what the host keeps. */
export interface TrainingManifest {
  name: string;
  /** The step: weights, optimizer state and running statistics held (Manifest.held), lr and step inputs. */
  train: Manifest & { held: string[] };
  /** The eval forward (BatchNorm by its running statistics): its weights held, copied from the step's before each run(). */
  eval: Manifest & { held: string[] };
  lrInput: string;
  stepInput: string;
  /** The output step() minimises, and the optimizer (sgd, adam, adamw). */
  loss: string;
  optimizer: string;
  /** The learning rate before any setLearningRate(). */
  lr: number;
  /** num_batches_tracked buffers: their value before the first step and what each step adds. */
  counters: { weight: string; start: number; increment: number }[];
  /** What saveWeights() writes, in order. */
  weights: SavedWeight[];
}

export interface LoadedTrainer {
  readonly name: string;
  readonly simd: "relaxed" | "baseline";
  readonly inputs: readonly Readonly<PortInfo>[];
  readonly outputs: readonly Readonly<PortInfo>[];
  run(inputs: Record<string, Float32Array | Int32Array | BigInt64Array>): Promise<Record<string, Float32Array | Int32Array | Uint8Array>>;
  step(inputs: Record<string, Float32Array | Int32Array | BigInt64Array>): Promise<Record<string, Float32Array | Int32Array | Uint8Array>>;
  setLearningRate(lr: number): void;
  saveWeights(): Uint8Array;
  dispose(): void;
}

/** What an in-memory load needs: the manifest and the bytes of the files it ships. */
export interface ModuleParts {
  manifest: Manifest;
  wasm?: Uint8Array;
  relaxedWasm?: Uint8Array;
  /** The weights file: the weights, then the build id. */
  weights: Uint8Array;
}

/** Base64 of every embedded file, by LoadOptions key. */
export type Embedded = Partial<Record<"wasm" | "relaxedWasm" | "weights" | "state", string>>;

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

const LOAD_OPTIONS = ["wasm", "relaxedWasm", "weights", "simd", "onProgress", "threads"];

async function loadModel(model, embedded, baseUrl, options) {
  const what = "graphc model " + JSON.stringify(model.name) + ": ";
  const opts = options == null ? {} : options;
  if (typeof opts !== "object") throw new TypeError(what + "load() takes an options object");
  // A misspelt option would be silently ignored.
  const unknown = Object.keys(opts).find((k) => !LOAD_OPTIONS.includes(k));
  if (unknown !== undefined) throw new TypeError(what + "unknown load() option " + JSON.stringify(unknown) + " (options: " + LOAD_OPTIONS.join(", ") + ")");
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

  const wasmKey = kind === "relaxed" ? "relaxedWasm" : "wasm";
  if (threads > 1 && !build.threaded) throw new Error(what + "this module has no threaded build: load it with threads: 1");
  const wasmFrom = from(wasmKey, build.file);
  const wasmBytes = await bytesOf(wasmKey, build.file);
  let wasmModule;
  try {
    wasmModule = await WebAssembly.compile(wasmBytes);
  } catch (e) {
    if (!(e instanceof WebAssembly.CompileError)) throw e;
    throw new Error(what + wasmFrom + " is not a WebAssembly module (" + e.message + ")");
  }
  const section = WebAssembly.Module.customSections(wasmModule, BUILD_SECTION)[0];
  notOurs(foreignBuild(wasmFrom, section && new Uint8Array(section), model.buildId));
  if (threads > 1) {
    // Checked as ours above: the same module on a shared memory is valid too.
    const onShared = onSharedMemory(wasmBytes);
    if (!onShared) throw new Error(what + wasmFrom + " has no memory of its own to share between threads");
    wasmModule = await WebAssembly.compile(onShared);
  }
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
  // Held inputs start from the state file, written after the weights (whose window overlaps the inputs).
  const heldNames = new Set(model.held || []);
  const stateBytes = model.state ? await bytesOf("state", model.state.file) : null;
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
  if (stateBytes)
    for (const t of model.state.tensors) {
      const p = ins.find((q) => q.name === t.name);
      if (!p || t.bytes !== p.size * 4 || t.offset + t.bytes > stateBytes.byteLength) throw new Error(what + "the state file does not match input " + JSON.stringify(t.name));
      new Uint8Array(memory.buffer, p.offset, t.bytes).set(stateBytes.subarray(t.offset, t.offset + t.bytes));
    }
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
      if (v === undefined && heldNames.has(p.name)) return undefined;
      if (v === undefined) throw new Error(what + "missing input " + JSON.stringify(p.name) + " (" + describe(p) + ")");
      if (!accepts(p, v)) throw new TypeError(what + "input " + JSON.stringify(p.name) + " must be a " + expected[p.dtype] + " (" + describe(p) + "), got " + (v === null ? "null" : typeof v === "object" ? v.constructor.name : typeof v));
      if (v.length !== p.size) throw new RangeError(what + "input " + JSON.stringify(p.name) + " needs " + p.size + " elements (" + describe(p) + "), got " + v.length);
      const bad = p.dtype === "f32" ? "" : badInts(p.name, v, p.rows);
      if (bad) throw new RangeError(what + bad);
      return v;
    });
    // The workers wake while the inputs are copied: run() starts with a barrier (codegen/wasm/threads.ts).
    if (pool) pool.wake();
    ins.forEach((p, i) => {
      const dest = new p.View(memory.buffer, p.offset, p.size);
      const v = values[i];
      if (v === undefined) return;
      if (v instanceof BigInt64Array) for (let j = 0; j < v.length; j++) dest[j] = Number(v[j]);
      else dest.set(v);
    });
    try {
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

  // A held input's buffer, for the trainer: a copy out, or a value in (of the input's own type).
  const heldPort = (name) => {
    if (live === null) throw new Error(what + "this model was disposed (dispose() was called); load it again to run it");
    const p = heldNames.has(name) ? ins.find((q) => q.name === name) : undefined;
    if (!p) throw new Error(what + "no held input " + JSON.stringify(name));
    return new p.View(live.memory.buffer, p.offset, p.size);
  };
  const held = heldNames.size === 0 ? {} : {
    readInput: (name) => heldPort(name).slice(),
    writeInput: (name, v) => heldPort(name).set(v),
  };
  return Object.freeze({ name: model.name, simd: kind, threads, inputs: info(ins), outputs: info(outs), run: runModel, dispose, ...held });
}

// The trainer: a training-step build whose parameters, optimizer state and running statistics are
// held inputs updated in place (carry), and an eval-forward build of the same model whose weights
// are held inputs too, copied over from the step's before each run(). The host counts the step
// number and the i64 num_batches_tracked buffers.
async function loadTrainer(spec, embedded, baseUrl, options) {
  const what = "graphc model " + JSON.stringify(spec.name) + ": ";
  const opts = options == null ? {} : options;
  if (typeof opts !== "object") throw new TypeError(what + "load() takes an options object");
  const unknown = Object.keys(opts).find((k) => k !== "simd" && k !== "onProgress");
  if (unknown !== undefined) throw new TypeError(what + "a training module's load() takes simd and onProgress, got " + JSON.stringify(unknown));
  // One thread each: the training step is not partitioned over threads yet.
  const train = await loadModel(spec.train, embedded && embedded.train, baseUrl, Object.assign({}, opts, { threads: 1 }));
  const evaluation = await loadModel(spec.eval, embedded && embedded.eval, baseUrl, { simd: train.simd, threads: 1 });
  let learningRate = spec.lr;
  let steps = 0;
  const counted = new Map(spec.counters.map((c) => [c.weight, BigInt(c.start)]));
  const feedsOf = (inputs, model) => {
    if (inputs === null || typeof inputs !== "object") throw new TypeError(what + "step() and run() take an object of input arrays");
    for (const key of Object.keys(inputs))
      if (model.held.includes(key) || key === spec.lrInput || key === spec.stepInput) throw new Error(what + "input " + JSON.stringify(key) + " is the module's own (weights, optimizer state, lr and step live inside it)");
    return inputs;
  };
  const isNext = (name) => name.startsWith("next.");
  async function step(inputs) {
    const feeds = Object.assign({}, feedsOf(inputs, spec.train), { [spec.lrInput]: Float32Array.of(learningRate), [spec.stepInput]: Float32Array.of(steps + 1) });
    const out = await train.run(feeds);
    steps++;
    for (const c of spec.counters) counted.set(c.weight, counted.get(c.weight) + BigInt(c.increment));
    return Object.fromEntries(Object.entries(out).filter(([name]) => !isNext(name)));
  }
  function setLearningRate(lr) {
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw new RangeError(what + "the learning rate must be a finite number >= 0, got " + String(lr));
    learningRate = lr;
  }
  async function run(inputs) {
    feedsOf(inputs, spec.eval);
    for (const name of spec.eval.held) if (spec.train.held.includes(name)) evaluation.writeInput(name, train.readInput(name));
    return evaluation.run(inputs);
  }
  // The model's weights as safetensors: f32 from the step's memory, num_batches_tracked as i64.
  function saveWeights() {
    const tensors = spec.weights.map((w) => {
      const data = counted.has(w.name) ? BigInt64Array.of(counted.get(w.name)) : train.readInput(w.name);
      return { name: w.name, dtype: w.dtype === "f32" ? "F32" : w.dtype === "i64" ? "I64" : "I32", shape: w.shape, data };
    });
    const header = {};
    let at = 0;
    for (const t of tensors) {
      const bytes = t.dtype === "I64" && !(t.data instanceof BigInt64Array) ? t.data.length * 8 : t.data.byteLength;
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    // The header padded with spaces to a multiple of 8 bytes, as safetensors writers do.
    const json = new TextEncoder().encode(JSON.stringify(header));
    const head = new Uint8Array(json.byteLength + ((8 - (json.byteLength % 8)) % 8)).fill(32);
    head.set(json);
    const out = new Uint8Array(8 + head.byteLength + at);
    new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
    out.set(head, 8);
    let offset = 8 + head.byteLength;
    for (const t of tensors) {
      // An i64 weight held as i32 in wasm memory widens back.
      const data = t.dtype === "I64" && !(t.data instanceof BigInt64Array) ? BigInt64Array.from(t.data, (v) => BigInt(v)) : t.data;
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
      offset += data.byteLength;
    }
    return out;
  }
  const dispose = () => {
    train.dispose();
    evaluation.dispose();
  };
  return Object.freeze({ name: spec.name, simd: train.simd, inputs: evaluation.inputs.filter((p) => !spec.eval.held.includes(p.name)), outputs: evaluation.outputs, run, step, setLearningRate, saveWeights, dispose });
}
`;

interface Runtime {
  loadModel: LoadModel;
  loadTrainer: (spec: TrainingManifest, embedded: Record<"train" | "eval", Embedded> | null, baseUrl: string | undefined, options?: LoadOptions) => Promise<LoadedTrainer>;
  relaxedSimdSupported: () => boolean;
}

let runtime: Runtime | undefined;

/** The runtime text, evaluated once per process. */
function evaluated(): Runtime {
  runtime ??= new Function("nodeImport", `"use strict";\n${RUNTIME}\nreturn { loadModel, loadTrainer, relaxedSimdSupported };`)((name: string) => import(name)) as Runtime;
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
