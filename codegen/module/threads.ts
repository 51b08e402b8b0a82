// The runtime's thread pool, as JavaScript source text (no backticks or `${`): how many threads
// load() takes, and workers that instantiate the threaded wasm build on the model's shared memory
// and sit in its `work` loop (codegen/wasm/threads.ts). The calling thread is thread 0: run()
// moves the run generation on, wakes the workers and runs its own share; the wasm barriers do
// the rest. A worker's script is text inside the runtime (WORKER): no file to ship or find (a
// single-file --embed-weights module works the same), started with eval in Node (its
// worker_threads take no blob: URLs) and from a blob: URL in browsers. Node's modules come through
// nodeImport, import() of the text's host module (new Function's code has no import() of its own
// under every loader).
import { CONTROL, MAX_THREADS } from "../wasm/thread-limits.js";

/**
 * A worker's whole script, as text (through JSON into the runtime: a bundler that rewrites
 * import() in code, as Vite does, leaves a string alone). Node runs an eval worker as CommonJS
 * or as a module, as it detects: import() works in both.
 */
const WORKER = String.raw`(async () => {
  const port = typeof self === "undefined" ? (await import("node:worker_threads")).parentPort : null;
  const post = (m) => (port ? port.postMessage(m) : self.postMessage(m));
  const start = (d) => {
    const control = new Int32Array(d.memory.buffer, d.control, 16);
    WebAssembly.instantiate(d.module, { env: { memory: d.memory } }).then((instance) => {
      instance.exports.thread(d.id, d.count, 1);
      post({ ready: true });
      try {
        instance.exports.work(0);
      } catch (e) {
        // The others wait at a barrier for this thread: make them trap too.
        Atomics.store(control, d.failed, 1);
        Atomics.notify(control, d.generation);
        post({ error: String(e && e.message) });
      }
    }, (e) => post({ error: String(e && e.message) }));
  };
  if (port) port.once("message", start);
  else self.onmessage = (e) => start(e.data);
})();
`;

/**
 * The threads' build from the one-thread build's bytes, as text: the same bytes, its memory (the
 * memory section's one entry, with a maximum) imported as env.memory, shared, of the same limits.
 * The import goes first in the import section (where Binaryen puts it), or in a new one before
 * the first section past the types; a memory import renumbers no function and the module keeps
 * one memory, so no other byte changes. Binaryen writes the same module
 * (test/module/shared-memory.test.ts). So a compile ships one .wasm per SIMD build, not two.
 */
const SHARED_MEMORY = String.raw`function onSharedMemory(wasm) {
  const leb = (n) => {
    const out = [];
    do {
      out.push((n & 127) | (n > 127 ? 128 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
    return out;
  };
  const readLeb = (at) => {
    let n = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = wasm[at++];
      n += (b & 127) * shift;
      if (b < 128) return [n, at];
    }
  };
  const sections = [];
  for (let at = 8; at < wasm.length; ) {
    const [size, body] = readLeb(at + 1);
    sections.push({ id: wasm[at], start: at, body, end: body + size });
    at = body + size;
  }
  const memory = sections.find((s) => s.id === 5);
  // One memory (count 1), limits flag 1: a minimum and a maximum.
  if (!memory || wasm[memory.body] !== 1 || wasm[memory.body + 1] !== 1) return null;
  const name = (text) => [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];
  // Kind 2 (memory), limits flag 3: shared, with the maximum.
  const entry = [...name("env"), ...name("memory"), 2, 3, ...wasm.subarray(memory.body + 2, memory.end)];
  const section = (id, body) => [id, ...leb(body.length), ...body];
  const parts = [wasm.subarray(0, 8)];
  let imported = false;
  for (const s of sections) {
    if (s.id === 2) {
      const [count, entries] = readLeb(s.body);
      parts.push(Uint8Array.from(section(2, [...leb(count + 1), ...entry, ...wasm.subarray(entries, s.end)])));
      imported = true;
      continue;
    }
    if (s.id > 2 && !imported) {
      parts.push(Uint8Array.from(section(2, [1, ...entry])));
      imported = true;
    }
    if (s.id !== 5) parts.push(wasm.subarray(s.start, s.end));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
`;

/** The runtime's onSharedMemory, to call here: a one-thread build's bytes on a shared memory, or null if it has no memory of its own. */
export const onSharedMemory = new Function(`${SHARED_MEMORY}\nreturn onSharedMemory;`)() as (wasm: Uint8Array) => Uint8Array | null;

export const THREADS_RUNTIME = SHARED_MEMORY + String.raw`
const MAX_THREADS = ${MAX_THREADS};
const CONTROL = ${JSON.stringify(CONTROL)};
const IN_NODE = typeof process !== "undefined" && process.versions != null && typeof process.versions.node === "string";
const ISOLATION_HELP = "serve the page with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp";
let warnedNotIsolated = false;
// Node does not end a process while a worker sits in atomic.wait: at exit, the pools still running are stopped.
const runningPools = new Set();
let stopAtExit = false;

/** The thread count load() uses: options.threads, else min(4, the cores), 1 in a page that is not cross-origin isolated. */
async function threadCount(requested, what) {
  const isolated = IN_NODE || (typeof crossOriginIsolated !== "undefined" && crossOriginIsolated === true);
  if (requested !== undefined) {
    if (typeof requested !== "number" || !Number.isInteger(requested)) throw new TypeError(what + "threads must be an integer, got " + (typeof requested === "number" ? requested : typeof requested));
    if (requested < 1 || requested > MAX_THREADS) throw new RangeError(what + "threads must lie in [1, " + MAX_THREADS + "], got " + requested);
    if (requested > 1 && !isolated) throw new Error(what + requested + " threads need SharedArrayBuffer, which this page lacks: it is not cross-origin isolated (" + ISOLATION_HELP + ")");
    return requested;
  }
  if (IN_NODE) return Math.min(4, (await nodeImport("node:os")).availableParallelism());
  if (!isolated) {
    if (!warnedNotIsolated) console.warn("graphc: running on 1 thread: this page is not cross-origin isolated, so it has no SharedArrayBuffer for wasm threads; to use them, " + ISOLATION_HELP);
    warnedNotIsolated = true;
    return 1;
  }
  return Math.min(4, typeof navigator !== "undefined" && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1);
}

/** Starts count - 1 workers on wasmModule and memory; resolves when each is in its work loop. */
async function startWorkers(wasmModule, memory, control, count, what) {
  const source = ${JSON.stringify(WORKER)};
  let spawn;
  if (IN_NODE) {
    const { Worker } = await nodeImport("node:worker_threads");
    spawn = () => {
      const w = new Worker(source, { eval: true });
      return {
        worker: w,
        listen: (onMessage, onError) => {
          w.on("message", onMessage);
          w.on("error", onError);
        },
        // Once it is ready (and after the listeners, as adding one refs it again): a model not disposed does not keep the process alive.
        release: () => w.unref(),
      };
    };
  } else {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    spawn = () => {
      const w = new Worker(url);
      return {
        worker: w,
        listen: (onMessage, onError) => {
          w.addEventListener("message", (e) => onMessage(e.data));
          w.addEventListener("error", onError);
        },
        release: () => URL.revokeObjectURL(url), // the workers have their script
      };
    };
  }
  const spawned = [];
  const ready = [];
  for (let id = 1; id < count; id++) {
    const w = spawn();
    spawned.push(w);
    ready.push(new Promise((resolve, reject) => {
      w.listen(
        (m) => (m.ready ? resolve() : m.error !== undefined && reject(new Error(what + "a worker thread failed: " + m.error))),
        (e) => reject(new Error(what + "a worker thread failed: " + (e && e.message))),
      );
    }));
    w.worker.postMessage({ module: wasmModule, memory, control, id, count, failed: CONTROL.failed / 4, generation: CONTROL.generation / 4 });
  }
  const words = new Int32Array(memory.buffer, control, CONTROL.bytes / 4);
  const stop = () => {
    runningPools.delete(stop);
    Atomics.store(words, CONTROL.stop / 4, 1);
    Atomics.add(words, CONTROL.run / 4, 1);
    Atomics.notify(words, CONTROL.run / 4);
    for (const w of spawned) w.worker.terminate();
  };
  if (IN_NODE) {
    runningPools.add(stop);
    if (!stopAtExit) process.once("exit", () => runningPools.forEach((s) => s()));
    stopAtExit = true;
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    stop();
    throw e;
  }
  for (const w of spawned) w.release();
  return {
    /** Wakes the workers for one run; the caller then runs its own share. */
    wake() {
      Atomics.add(words, CONTROL.run / 4, 1);
      Atomics.notify(words, CONTROL.run / 4);
    },
    failed: () => Atomics.load(words, CONTROL.failed / 4) !== 0,
    /** Makes every thread waiting at a barrier trap. */
    fail() {
      Atomics.store(words, CONTROL.failed / 4, 1);
      Atomics.notify(words, CONTROL.generation / 4);
    },
    stop,
  };
}
`;
