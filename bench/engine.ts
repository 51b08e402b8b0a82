// One engine timing one model, in its own process so its peak RSS is its own. Reads a JSON job
// from argv[2], prints a JSON EngineResult as its last stdout line.
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { LoadedModel, LoadOptions } from "../codegen/module/runtime.js";

export type EngineName = "graphc-baseline" | "graphc-relaxed" | "graphc-relaxed-2t" | "ort-web" | "ort-node";

export interface Job {
  engine: EngineName;
  /** NAME.mjs for graphc engines, the .onnx file for the peers. */
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
  medianMs: number;
  minMs: number;
  iters: number;
  peakRssBytes: number;
  /** The process's CPU time (every thread) per timed run: with threads, how much work a run takes apart from the wall clock. */
  cpuMsPerRun: number;
  outputs: Record<string, number[]>;
}

export interface InputFile {
  [name: string]: { dtype: "f32" | "i32"; shape: number[]; data: number[] };
}

/**
 * This process's peak RSS. On Linux, getrusage's maxRSS survives execve and so starts at the size
 * of the (large) parent; VmHWM belongs to this process's own address space.
 */
function peakRss(): number {
  const hwm = existsSync("/proc/self/status") ? /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8")) : null;
  return (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) * 1024;
}

type Run = () => Promise<Record<string, ArrayLike<number>>>;

async function graphc(job: Job, inputs: InputFile): Promise<Run> {
  const { load } = (await import(pathToFileURL(job.artifact).href)) as { load(o: LoadOptions): Promise<LoadedModel> };
  // The single-thread engines stay on one thread (load()'s default is min(4, the cores)).
  const model = await load({ simd: job.engine === "graphc-baseline" ? "baseline" : "relaxed", threads: job.engine === "graphc-relaxed-2t" ? 2 : 1 });
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.dtype === "f32" ? Float32Array.from(v.data) : Int32Array.from(v.data)]));
  return () => model.run(feeds);
}

async function ort(job: Job, inputs: InputFile): Promise<Run> {
  const web = job.engine === "ort-web";
  const ort = web ? await import("onnxruntime-web") : await import("onnxruntime-node");
  if (web) ort.env.wasm.numThreads = 1;
  const bytes = new Uint8Array(readFileSync(job.artifact));
  const session = await ort.InferenceSession.create(bytes, web ? { executionProviders: ["wasm"] } : { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
  const feeds = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [k, v.dtype === "f32" ? new ort.Tensor("float32", Float32Array.from(v.data), v.shape) : new ort.Tensor("int32", Int32Array.from(v.data), v.shape)]),
  );
  return async () => {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const inputs = JSON.parse(readFileSync(job.inputs, "utf8")) as InputFile;
  const t0 = performance.now();
  const run = await (job.engine.startsWith("graphc") ? graphc : ort)(job, inputs);
  const loadMs = performance.now() - t0;
  let outputs = await run();
  for (let i = 1; i < job.warmup; i++) await run();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (times.length < job.minIters || (times.length < job.maxIters && performance.now() - start < job.seconds * 1000)) {
    const s = performance.now();
    outputs = await run();
    times.push(performance.now() - s);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  const result: EngineResult = {
    loadMs,
    medianMs: times[times.length >> 1]!,
    minMs: times[0]!,
    iters: times.length,
    peakRssBytes: peakRss(),
    cpuMsPerRun: (cpu.user + cpu.system) / 1000 / times.length,
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v)])),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

await main();
