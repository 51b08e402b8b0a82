// The host half of a generated WebGPU module, appended after its manifest `M`: plain JS with no
// imports, for browsers and Node alike. Usage flags are numeric so no WebGPU globals are needed.
// Its errors: TypeError for arguments of the wrong type, RangeError for input values it cannot
// run (an id outside its embedding's table), Error for the rest (weights not this module's).
import { CHECKS_RUNTIME } from "../module/checks.js";

export const RUNTIME = CHECKS_RUNTIME + String.raw`
const STORAGE = 0x80, COPY_SRC = 0x4, COPY_DST = 0x8, MAP_READ = 0x1;
const ARRAYS = { f32: Float32Array, i32: Int32Array, i64: BigInt64Array, bool: Int32Array };
const fail = (msg) => { throw new Error(M.name + ": " + msg); };
const idRows = idBounds(M.idChecks);

const PROGRESS_CHUNK = 4 * 1048576;

/** The weights file's bytes: "w" when given, else read (in chunks) or fetched (streamed), reporting { loaded, total } to onProgress. */
async function weightBytes(w, onProgress) {
  const progress = (loaded, total) => {
    if (onProgress) onProgress({ loaded, total });
  };
  if (w instanceof ArrayBuffer || ArrayBuffer.isView(w)) {
    const bytes = w instanceof ArrayBuffer ? new Uint8Array(w) : new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
    progress(bytes.byteLength, bytes.byteLength);
    return bytes;
  }
  const total = M.weightBytes + BUILD_ID_BYTES;
  const tooLong = (n) => fail(weightsSizeProblem(M.weightsFile, n, M.weightBytes));
  const url = new URL(M.weightsFile, import.meta.url);
  const out = new Uint8Array(total);
  progress(0, total);
  if (url.protocol === "file:") {
    const fs = await import("node:fs/promises");
    const handle = await fs.open(url);
    try {
      const size = (await handle.stat()).size;
      if (size !== total) tooLong(size);
      for (let at = 0, n = 1; at < total && n > 0; at += n) {
        n = (await handle.read(out, at, Math.min(PROGRESS_CHUNK, total - at), at)).bytesRead;
        progress(at + n, total);
      }
    } finally {
      await handle.close();
    }
    return out;
  }
  const r = await fetch(url);
  if (!r.ok) fail("cannot fetch " + url + ": HTTP " + r.status);
  const reader = r.body.getReader();
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > total) {
      await reader.cancel();
      tooLong(loaded + value.byteLength);
    }
    out.set(value, loaded);
    loaded += value.byteLength;
    progress(loaded, total);
  }
  return loaded === total ? out : out.subarray(0, loaded);
}

const info = (p) => Object.freeze({ name: p.name, dtype: p.dtype, shape: Object.freeze([...p.shape]) });
const size = (p) => p.shape.reduce((a, b) => a * b, 1);

/** The array handed to the GPU for input port p (i64 ids travel as i32). */
function checkInput(p, k, a) {
  const T = ARRAYS[p.dtype];
  if (a === undefined) fail("missing input " + JSON.stringify(p.name));
  if (!(a instanceof T)) fail("input " + JSON.stringify(p.name) + " must be a " + T.name + " (" + p.dtype + "), got " + (a?.constructor?.name ?? typeof a));
  if (a.length !== size(p)) fail("input " + JSON.stringify(p.name) + " has " + a.length + " elements; shape [" + p.shape + "] needs " + size(p));
  const bad = p.dtype === "f32" ? "" : badInts(p.name, a, idRows.get(k));
  if (bad) throw new RangeError(M.name + ": " + bad);
  return p.dtype === "i64" ? Int32Array.from(a, Number) : a;
}

export async function load({ device, weights, onProgress } = {}) {
  if (!device || typeof device.createComputePipelineAsync !== "function") throw new TypeError(M.name + ": load() needs { device: GPUDevice }");
  if (onProgress !== undefined && typeof onProgress !== "function") throw new TypeError(M.name + ": onProgress must be a function, got " + typeof onProgress);
  const bytes = await weightBytes(weights, onProgress);
  const from = weights == null ? M.weightsFile : "options.weights";
  const foreign = weightsSizeProblem(from, bytes.byteLength, M.weightBytes) || foreignBuild(from, bytes.subarray(M.weightBytes), M.buildId);
  if (foreign) fail(foreign);
  device.pushErrorScope("validation");
  const buffers = M.buffers.map((size) => device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST }));
  for (const [b, off, len] of M.constants) device.queue.writeBuffer(buffers[b], 0, bytes, off, len);
  const pipelines = await Promise.all(M.shaders.map((code, i) =>
    device.createComputePipelineAsync({ label: M.name + " shader " + i, layout: "auto", compute: { module: device.createShaderModule({ code }), entryPoint: "main" } })));
  const steps = M.kernels.map(([s, bufs, x, y, label]) => ({
    pipeline: pipelines[s], x, y,
    group: device.createBindGroup({ label, layout: pipelines[s].getBindGroupLayout(0), entries: bufs.map((b, i) => ({ binding: i, resource: { buffer: buffers[b] } })) }),
  }));
  const staging = M.outputs.map((p) => device.createBuffer({ size: M.buffers[p.buffer], usage: MAP_READ | COPY_DST }));
  const err = await device.popErrorScope();
  if (err) fail("setup failed: " + err.message);

  let disposed = false;
  async function run(inputs) {
    if (disposed) fail("this model was disposed (dispose() was called); load it again to run it");
    if (typeof inputs !== "object" || inputs === null) throw new TypeError(M.name + ": run() takes an object of named inputs");
    for (const k of Object.keys(inputs))
      if (!M.inputs.some((p) => p.name === k)) fail("unknown input " + JSON.stringify(k) + "; inputs are " + M.inputs.map((p) => JSON.stringify(p.name)).join(", "));
    const data = M.inputs.map((p, k) => checkInput(p, k, inputs[p.name]));
    data.forEach((a, k) => device.queue.writeBuffer(buffers[M.inputs[k].buffer], 0, a));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const s of steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.group);
      pass.dispatchWorkgroups(s.x, s.y);
    }
    pass.end();
    M.outputs.forEach((p, k) => enc.copyBufferToBuffer(buffers[p.buffer], 0, staging[k], 0, staging[k].size));
    device.pushErrorScope("validation");
    device.queue.submit([enc.finish()]);
    const e = await device.popErrorScope();
    if (e) fail("run failed: " + e.message);
    await Promise.all(staging.map((s) => s.mapAsync(1)));
    const out = {};
    M.outputs.forEach((p, k) => {
      const raw = staging[k].getMappedRange().slice(0, size(p) * 4);
      staging[k].unmap();
      out[p.name] = p.dtype === "f32" ? new Float32Array(raw) : p.dtype === "i64" ? BigInt64Array.from(new Int32Array(raw), BigInt) : p.dtype === "bool" ? Uint8Array.from(new Int32Array(raw)) : new Int32Array(raw);
    });
    return out;
  }

  let queue = Promise.resolve();
  return {
    inputs: Object.freeze(M.inputs.map(info)),
    outputs: Object.freeze(M.outputs.map(info)),
    run(inputs) {
      const r = queue.then(() => run(inputs));
      queue = r.catch(() => {});
      return r;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const b of [...buffers, ...staging]) b.destroy();
    },
  };
}
`;
