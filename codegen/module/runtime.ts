// The loader every generated NAME.mjs carries, as JavaScript source text: it picks a SIMD
// build, finds the bytes (arguments, embedded base64, or files next to the module), instantiates
// it and wraps run(). The same text backs instantiate() in the API (through new Function), so an
// in-memory model and an imported one behave identically. No backticks or `${` in the text.

/** A model port as users see it (i64 inputs are held as i32 in wasm memory). */
export interface PortInfo {
  name: string;
  dtype: "f32" | "i32" | "i64";
  shape: number[];
}

/** Where one SIMD build keeps things: port offsets in the order of Manifest.inputs / .outputs. */
export interface BuildInfo {
  file: string;
  memoryBytes: number;
  weightsOffset: number;
  inputs: number[];
  outputs: number[];
}

/** The JSON a generated module embeds about its model. */
export interface Manifest {
  name: string;
  inputs: PortInfo[];
  outputs: PortInfo[];
  weights: { file: string; bytes: number };
  builds: { baseline?: BuildInfo; relaxed?: BuildInfo };
}

export type Bytes = ArrayBuffer | ArrayBufferView;
export type Simd = "auto" | "relaxed" | "baseline";

export interface LoadOptions {
  wasm?: Bytes;
  relaxedWasm?: Bytes;
  weights?: Bytes;
  simd?: Simd;
}

export interface LoadedModel {
  readonly name: string;
  readonly simd: "relaxed" | "baseline";
  readonly inputs: readonly Readonly<PortInfo>[];
  readonly outputs: readonly Readonly<PortInfo>[];
  run(inputs: Record<string, Float32Array | Int32Array | BigInt64Array>): Promise<Record<string, Float32Array | Int32Array>>;
}

/** What an in-memory load needs: the manifest and the raw bytes of the shipped builds. */
export interface ModuleParts {
  manifest: Manifest;
  wasm?: Uint8Array;
  relaxedWasm?: Uint8Array;
  weights: Uint8Array;
}

/** Base64 of every embedded file, by LoadOptions key. */
export type Embedded = Partial<Record<"wasm" | "relaxedWasm" | "weights", string>>;

export type LoadModel = (model: Manifest, embedded: Embedded | null, baseUrl: string | undefined, options?: LoadOptions) => Promise<LoadedModel>;

export const RUNTIME = String.raw`
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
  const weightsSize = (n) => {
    if (n !== model.weights.bytes) throw new Error(what + "weights hold " + n + " bytes, the model needs " + model.weights.bytes);
  };
  // With dest, the bytes end up there; a local file is read straight into it (the weights read
  // into a buffer of their own, then copied into wasm memory, would double the peak RSS).
  const bytesOf = async (key, file, dest) => {
    let bytes;
    if (opts[key] != null) bytes = toBytes(opts[key], key);
    else if (embedded && embedded[key] !== undefined) bytes = fromBase64(embedded[key]);
    else if (baseUrl === undefined) throw new Error(what + "no " + key + " bytes given");
    else {
      const url = new URL(file, baseUrl);
      if (url.protocol === "file:" && typeof process !== "undefined") {
        const fs = await import("node:fs/promises");
        if (!dest) return new Uint8Array(await fs.readFile(url));
        const handle = await fs.open(url);
        try {
          weightsSize((await handle.stat()).size);
          for (let at = 0, n = 1; at < dest.byteLength && n > 0; at += n) n = (await handle.read(dest, at, dest.byteLength - at, at)).bytesRead;
        } finally {
          await handle.close();
        }
        return dest;
      }
      const response = await fetch(url);
      if (!response.ok) throw new Error(what + "cannot fetch " + url + ": HTTP " + response.status);
      bytes = new Uint8Array(await response.arrayBuffer());
    }
    if (dest) (weightsSize(bytes.byteLength), dest.set(bytes));
    return bytes;
  };

  const { instance } = await WebAssembly.instantiate(await bytesOf(kind === "relaxed" ? "relaxedWasm" : "wasm", build.file), {});
  const { memory, run } = instance.exports;
  if (!(memory instanceof WebAssembly.Memory) || typeof run !== "function") throw new Error(what + "the wasm module does not export memory and run");
  if (memory.buffer.byteLength < build.memoryBytes) memory.grow(Math.ceil((build.memoryBytes - memory.buffer.byteLength) / 65536));
  await bytesOf("weights", model.weights.file, new Uint8Array(memory.buffer, build.weightsOffset, model.weights.bytes));

  const port = (p, offset) => {
    const size = p.shape.reduce((a, d) => a * d, 1);
    if (offset < 0 || offset + size * 4 > memory.buffer.byteLength) throw new Error(what + "port " + JSON.stringify(p.name) + " lies outside memory");
    return { name: p.name, dtype: p.dtype, shape: p.shape, size, offset, View: p.dtype === "f32" ? Float32Array : Int32Array };
  };
  const ins = model.inputs.map((p, i) => port(p, build.inputs[i]));
  const outs = model.outputs.map((p, i) => port(p, build.outputs[i]));
  const expected = { f32: "Float32Array", i32: "Int32Array", i64: "BigInt64Array or Int32Array" };
  const accepts = (p, v) => v instanceof p.View || (p.dtype === "i64" && v instanceof BigInt64Array);
  const describe = (p) => p.dtype + "[" + p.shape.join(", ") + "]";
  const names = (ps) => ps.map((p) => JSON.stringify(p.name)).join(", ");
  const info = (ps) => Object.freeze(ps.map((p) => Object.freeze({ name: p.name, dtype: p.dtype, shape: Object.freeze(p.shape.slice()) })));

  async function runModel(feeds) {
    if (feeds === null || typeof feeds !== "object") throw new TypeError(what + "run() takes an object of input arrays: { " + names(ins) + " }");
    for (const key of Object.keys(feeds))
      if (!ins.some((p) => p.name === key)) throw new Error(what + "no input " + JSON.stringify(key) + " (inputs: " + names(ins) + ")");
    const values = ins.map((p) => {
      const v = Object.prototype.hasOwnProperty.call(feeds, p.name) ? feeds[p.name] : undefined;
      if (v === undefined) throw new Error(what + "missing input " + JSON.stringify(p.name) + " (" + describe(p) + ")");
      if (!accepts(p, v)) throw new TypeError(what + "input " + JSON.stringify(p.name) + " must be a " + expected[p.dtype] + " (" + describe(p) + "), got " + (v === null ? "null" : typeof v === "object" ? v.constructor.name : typeof v));
      if (v.length !== p.size) throw new RangeError(what + "input " + JSON.stringify(p.name) + " needs " + p.size + " elements (" + describe(p) + "), got " + v.length);
      if (v instanceof BigInt64Array)
        for (let i = 0; i < v.length; i++) if (v[i] < -2147483648n || v[i] > 2147483647n) throw new RangeError(what + "input " + JSON.stringify(p.name) + "[" + i + "] = " + v[i] + " does not fit in 32 bits");
      return v;
    });
    ins.forEach((p, i) => {
      const dest = new p.View(memory.buffer, p.offset, p.size);
      const v = values[i];
      if (v instanceof BigInt64Array) for (let j = 0; j < v.length; j++) dest[j] = Number(v[j]);
      else dest.set(v);
    });
    run();
    return Object.fromEntries(outs.map((p) => [p.name, new p.View(memory.buffer, p.offset, p.size).slice()]));
  }

  return Object.freeze({ name: model.name, simd: kind, inputs: info(ins), outputs: info(outs), run: runModel });
}
`;

interface Runtime {
  loadModel: LoadModel;
  relaxedSimdSupported: () => boolean;
}

let runtime: Runtime | undefined;

/** The runtime text, evaluated once per process. */
function evaluated(): Runtime {
  runtime ??= new Function(`"use strict";\n${RUNTIME}\nreturn { loadModel, relaxedSimdSupported };`)() as Runtime;
  return runtime;
}

/** Whether this engine runs relaxed-SIMD modules, as a generated module decides it. */
export function relaxedSimdSupported(): boolean {
  return evaluated().relaxedSimdSupported();
}

/** Loads module parts in memory through the same loader as the generated NAME.mjs. */
export function loadParts(parts: ModuleParts, options: { simd?: Simd } = {}): Promise<LoadedModel> {
  const { manifest, ...bytes } = parts;
  return evaluated().loadModel(manifest, null, undefined, { ...bytes, ...options });
}
