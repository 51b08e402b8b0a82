// One engine timing one model, in its own process so its peak RSS is its own. Reads a JSON job
// from argv[2], prints a JSON EngineResult as its last stdout line.
import { existsSync, readdirSync, readFileSync } from "node:fs";
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
  /**
   * The busiest thread's CPU time per timed run (Linux; 10 ms ticks over all runs): on a loaded
   * machine, the wall time the run would take with a core per thread (waits at barriers sleep).
   */
  busiestThreadCpuMsPerRun?: number;
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

/** CPU clock ticks (utime + stime) of each thread of this process, by thread id; empty off Linux. */
function threadTicks(): Map<string, number> {
  const dir = "/proc/self/task";
  if (!existsSync(dir)) return new Map();
  return new Map(
    readdirSync(dir).flatMap((t) => {
      const stat = existsSync(`${dir}/${t}/stat`) ? readFileSync(`${dir}/${t}/stat`, "utf8") : "";
      // After "(comm) ": state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return stat ? [[t, Number(fields[11]) + Number(fields[12])] as [string, number]] : [];
    }),
  );
}
/** Linux's USER_HZ: ticks per second of /proc/PID/stat. */
const TICKS_PER_S = 100;

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
  const ticks0 = threadTicks();
  const start = performance.now();
  while (times.length < job.minIters || (times.length < job.maxIters && performance.now() - start < job.seconds * 1000)) {
    const s = performance.now();
    outputs = await run();
    times.push(performance.now() - s);
  }
  const cpu = process.cpuUsage(cpu0);
  const busiest = Math.max(0, ...[...threadTicks()].map(([t, n]) => n - (ticks0.get(t) ?? 0)));
  times.sort((a, b) => a - b);
  const result: EngineResult = {
    loadMs,
    medianMs: times[times.length >> 1]!,
    minMs: times[0]!,
    iters: times.length,
    peakRssBytes: peakRss(),
    cpuMsPerRun: (cpu.user + cpu.system) / 1000 / times.length,
    ...(ticks0.size ? { busiestThreadCpuMsPerRun: (busiest * 1000) / TICKS_PER_S / times.length } : {}),
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v)])),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

await main();
