// One engine timing one model, in its own process so its peak RSS is its own. Reads a JSON job
// from argv[2], prints a JSON EngineResult as its last stdout line.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { LoadedModel, LoadOptions } from "../codegen/module/runtime.js";
import { peakRss } from "./measure.js";

export type EngineName = "graphc-baseline" | "graphc-relaxed" | "graphc-relaxed-2t" | "tfjs-wasm" | "ort-web" | "ort-web-2t" | "ort-node";

export interface Job {
  engine: EngineName;
  /** NAME.mjs for graphc engines, the optimised IR's NAME.graph.json for tfjs-wasm, the .onnx file for onnxruntime. */
  artifact: string;
  /** JSON: name -> { dtype, shape, data }. */
  inputs: string;
  warmup: number;
  minIters: number;
  maxIters: number;
  seconds: number;
}

export interface EngineResult {
  loadMs: number;
  /** The first run() after load: with loadMs, the cold start a page sees. */
  firstRunMs: number;
  medianMs: number;
  minMs: number;
  iters: number;
  peakRssBytes: number;
  /** The threads the engine says it computes on (onnxruntime-web's numThreads, TF.js's getThreadsCount()). */
  threads: number;
  /** Threads that did at least half the busiest one's CPU time in the timed runs (Linux; null elsewhere). */
  busyThreads: number | null;
  /** The process's CPU time (every thread) per timed run: with threads, how much work a run takes apart from the wall clock. */
  cpuMsPerRun: number;
  /**
   * The busiest thread's CPU time per timed run (Linux, in 10 ms ticks over all the runs; null
   * elsewhere): on a loaded machine, the wall time a run would take with a core per thread.
   */
  busiestThreadCpuMsPerRun: number | null;
  outputs: Record<string, number[]>;
}

export interface InputFile {
  [name: string]: { dtype: "f32" | "i32"; shape: number[]; data: number[] };
}

/** CPU time (clock ticks) of each of this process's threads, by thread id; null without /proc. */
function threadTicks(): Map<string, number> | null {
  if (!existsSync("/proc/self/task")) return null;
  const ticks = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    // Fields after the parenthesised name: utime and stime are the 12th and 13th.
    const f = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks.set(tid, Number(f[11]) + Number(f[12]));
  }
  return ticks;
}

function busyThreads(before: Map<string, number> | null, after: Map<string, number> | null): number | null {
  if (!before || !after) return null;
  const spent = [...after].map(([tid, t]) => t - (before.get(tid) ?? 0));
  const most = Math.max(...spent);
  return spent.filter((t) => t >= most / 2).length;
}

/** Linux's USER_HZ: clock ticks per second in /proc/PID/task/TID/stat. */
const TICKS_PER_S = 100;

function busiestThreadMs(before: Map<string, number> | null, after: Map<string, number> | null, runs: number): number | null {
  if (!before || !after) return null;
  return (Math.max(...[...after].map(([tid, t]) => t - (before.get(tid) ?? 0))) * 1000) / TICKS_PER_S / runs;
}

type Run = () => Promise<Record<string, ArrayLike<number>>>;
interface Loaded {
  run: Run;
  threads: number;
}

async function graphc(job: Job, inputs: InputFile): Promise<Loaded> {
  const { load } = (await import(pathToFileURL(job.artifact).href)) as { load(o: LoadOptions): Promise<LoadedModel> };
  // The single-thread engines stay on one thread (load()'s default is min(4, the cores)).
  const model = await load({ simd: job.engine === "graphc-baseline" ? "baseline" : "relaxed", threads: job.engine === "graphc-relaxed-2t" ? 2 : 1 });
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.dtype === "f32" ? Float32Array.from(v.data) : Int32Array.from(v.data)]));
  return { run: () => model.run(feeds), threads: model.threads };
}

async function tfjs(job: Job, inputs: InputFile): Promise<Loaded> {
  const [{ buildTfjs, initTfjsWasm }, { readGraphFile }, tf] = await Promise.all([import("./peers/tfjs.js"), import("./peers/graph-file.js"), import("@tensorflow/tfjs-core")]);
  const { threads } = await initTfjsWasm();
  const model = buildTfjs(readGraphFile(job.artifact));
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.data, v.shape, v.dtype === "f32" ? "float32" : "int32")]));
  return { run: async () => model.run(feeds), threads };
}

async function ort(job: Job, inputs: InputFile): Promise<Loaded> {
  const web = job.engine !== "ort-node";
  const threads = job.engine === "ort-web-2t" ? 2 : 1;
  const ort = web ? await import("onnxruntime-web") : await import("onnxruntime-node");
  if (web) ort.env.wasm.numThreads = threads;
  const bytes = new Uint8Array(readFileSync(job.artifact));
  const session = await ort.InferenceSession.create(bytes, web ? { executionProviders: ["wasm"] } : { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
  const feeds = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, v.dtype === "f32" ? new ort.Tensor("float32", Float32Array.from(v.data), v.shape) : new ort.Tensor("int32", Int32Array.from(v.data), v.shape)]),
  );
  const run = async () => {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  };
  return { run, threads: web ? ort.env.wasm.numThreads! : threads };
}

const loaders: Record<EngineName, (job: Job, inputs: InputFile) => Promise<Loaded>> = {
  "graphc-baseline": graphc,
  "graphc-relaxed": graphc,
  "graphc-relaxed-2t": graphc,
  "tfjs-wasm": tfjs,
  "ort-web": ort,
  "ort-web-2t": ort,
  "ort-node": ort,
};

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const inputs = JSON.parse(readFileSync(job.inputs, "utf8")) as InputFile;
  const t0 = performance.now();
  const { run, threads } = await loaders[job.engine](job, inputs);
  const loadMs = performance.now() - t0;
  let outputs = await run();
  const firstRunMs = performance.now() - t0 - loadMs;
  for (let i = 1; i < job.warmup; i++) await run();
  const times: number[] = [];
  const ticks0 = threadTicks();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (times.length < job.minIters || (times.length < job.maxIters && performance.now() - start < job.seconds * 1000)) {
    const s = performance.now();
    outputs = await run();
    times.push(performance.now() - s);
  }
  const ticks = threadTicks();
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  const result: EngineResult = {
    loadMs,
    firstRunMs,
    medianMs: times[times.length >> 1]!,
    minMs: times[0]!,
    iters: times.length,
    peakRssBytes: peakRss(),
    threads,
    busyThreads: busyThreads(ticks0, ticks),
    cpuMsPerRun: (cpu.user + cpu.system) / 1000 / times.length,
    busiestThreadCpuMsPerRun: busiestThreadMs(ticks0, ticks, times.length),
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v)])),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

await main();
