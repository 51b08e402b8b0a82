// Where a model's time goes on 1 and 2 threads (issue 12), kernel by kernel, and A/B wall times.
// Run compiled, as `npm run bench` is (binaryen loads slowly under TS loaders):
//   tsc -p bench/tsconfig.json --outDir bench/results/tmp/dist
//   node --experimental-wasm-relaxed-simd bench/results/tmp/dist/bench/threads-profile.js profile --model resnet50 [--threads 2] [--runs 20] [--top 25]
//     A profiling build (buildWasm's `profile`: an import marks each kernel and barrier) on its
//     own thread harness: per kernel, the 1-thread time, the 2-thread wall time and each thread's
//     busy time (the kernel's span less its inner barrier waits); kernels on thread 0 alone are
//     marked serial. Barriers and barrier sleeps (the spin ran out) per run.
//   node ... threads-profile.js barrier [--runs 200]
//     The cost of a barrier: a chain of 200 tiny kernels on 1 and 2 threads.
//   node ... threads-profile.js compile --model resnet50 --out DIR
//     The model's module (as `graphc compile` writes it) into DIR, to A/B against another checkout's.
//   node ... threads-profile.js ab --model resnet50 DIR_A DIR_B [--runs 15] [--rounds 2]
//     Both modules in one process on 1 and 2 threads, runs interleaved: wall medians and the
//     busiest thread's CPU time per run (Linux /proc, 10 ms ticks summed over the runs).
//   ... ab ... --quiet 0 [--runs 2] [--rounds 1000] [--seconds 120]: short rounds, and the
//     figures of only those before each of whose runs no other task was runnable (/proc/stat
//     procs_running): a shared machine's quiet moments.
// Weights are seeded (cached as bench/results/tmp/MODEL.safetensors, as bench.ts does).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { wasmTarget } from "../codegen/wasm/target.js";
import { buildWasm, type WasmBuild } from "../codegen/wasm/module.js";
import { CONTROL } from "../codegen/wasm/threads.js";
import { onSharedMemory } from "../codegen/module/threads.js";
import type { LoadedModel, LoadOptions } from "../codegen/module/runtime.js";
import { compile } from "../src/api.js";
import { elaborate, lower, optimise, pipelineFor } from "../src/driver.js";
import { elaborateFile } from "../src/frontend/index.js";
import type { Graph } from "../src/ir/graph.js";
import { randomInputs } from "../src/weights/calibrate.js";
import { loadWeights } from "../src/weights/load.js";
import { median } from "./measure.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import type { TensorData } from "../src/weights/tensor.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string", default: "resnet50" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
    top: { type: "string", default: "30" },
    out: { type: "string" },
    quiet: { type: "string" },
    seconds: { type: "string", default: "120" },
  },
});
const [mode, ...dirs] = positionals;
const tmp = "bench/results/tmp";
const log = (s: string) => process.stderr.write(`threads-profile: ${s}\n`);

function weightsFor(model: string, g: Graph): Map<string, TensorData> {
  const cache = join(tmp, `${model}.safetensors`);
  if (existsSync(cache)) return loadWeights(g, { file: cache }).data;
  log(`${model}: initialising weights (cached in ${cache})`);
  const { data } = loadWeights(g, { seed: 0 });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(cache, writeSafetensors(g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: data.get(w.name)! }))));
  return data;
}

// ---- profile -------------------------------------------------------------------------------

/**
 * Per call of `run`, per thread: [busy ms, inner barriers, ms waiting in them, ms from this
 * kernel's start to the next's (thread 0: the wall), barrier sleeps (inside it or in the barrier
 * after it; the first barrier's with kernel 0)].
 */
const SLOTS = 5;

/**
 * The profile.mark import of one thread, accumulating into `acc` (calls + 1 rows of SLOTS); the
 * phases are threads.ts PROFILE_PHASE's numbers. As source text for the workers too, so it uses
 * nothing from outside.
 */
function makeMark(acc: Float64Array) {
  let cur = -1;
  let inKernel = false;
  let kernelAt = 0;
  let startedAt = 0;
  let barrierAt = 0;
  let inner = 0;
  return (call: number, phase: number) => {
    const now = performance.now();
    if (phase === 5) acc[Math.max(cur, 0) * 5 + 4]! += 1;
    else if (phase === 1) {
      if (cur >= 0) acc[cur * 5 + 3]! += now - startedAt;
      cur = call;
      startedAt = now;
      kernelAt = now;
      inner = 0;
      inKernel = true;
    } else if (phase === 2) {
      acc[call * 5]! += now - kernelAt - inner;
      inKernel = false;
    } else if (phase === 3) barrierAt = now;
    else if (phase === 4 && inKernel) {
      inner += now - barrierAt;
      acc[cur * 5 + 1]! += 1;
      acc[cur * 5 + 2]! += now - barrierAt;
    } else if (phase === 0 && call === 0) cur = -1;
  };
}

const WORKER = `
const { parentPort } = require("node:worker_threads");
parentPort.once("message", async (d) => {
  const acc = new Float64Array(d.acc);
  const mark = (${makeMark.toString()})(acc);
  const instance = await WebAssembly.instantiate(d.module, { env: { memory: d.memory }, profile: { mark } });
  instance.exports.thread(d.id, d.count, 1);
  parentPort.postMessage("ready");
  instance.exports.work(0);
});
`;

interface Harness {
  run(): void;
  /** Each thread's accumulators. */
  acc: Float64Array[];
  stop(): void;
}

async function harness(build: WasmBuild, count: number, inputs: Record<string, Float32Array | Int32Array>): Promise<Harness> {
  const calls = build.profiled!.length + 1;
  const pages = Math.ceil(build.memoryBytes / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const module = await WebAssembly.compile(onSharedMemory(build.wasm) as Uint8Array<ArrayBuffer>);
  const acc = Array.from({ length: count }, () => new Float64Array(new SharedArrayBuffer(calls * SLOTS * 8)));
  const instance = await WebAssembly.instantiate(module, { env: { memory }, profile: { mark: makeMark(acc[0]!) } });
  const ex = instance.exports as { prepare(i: number): void; run(): void; thread(id: number, count: number, mayWait: number): void };
  const bytes = new Uint8Array(memory.buffer);
  let at = 0;
  build.weightSegments.forEach((n, i) => {
    bytes.set(build.weights.subarray(at, at + n), build.weightsOffset);
    ex.prepare(i);
    at += n;
  });
  for (const p of build.inputs) bytes.set(new Uint8Array(inputs[p.name]!.buffer), p.offset);
  ex.thread(0, count, 1);
  const workers: Worker[] = [];
  for (let id = 1; id < count; id++) {
    const w = new Worker(WORKER, { eval: true });
    workers.push(w);
    const ready = new Promise((r) => w.once("message", r));
    w.postMessage({ module, memory, id, count, acc: acc[id]!.buffer });
    await ready;
  }
  const words = new Int32Array(memory.buffer, build.control, CONTROL.bytes / 4);
  return {
    run() {
      if (count > 1) {
        Atomics.add(words, CONTROL.run / 4, 1);
        Atomics.notify(words, CONTROL.run / 4);
      }
      ex.run();
    },
    acc,
    stop() {
      Atomics.store(words, CONTROL.stop / 4, 1);
      Atomics.add(words, CONTROL.run / 4, 1);
      Atomics.notify(words, CONTROL.run / 4);
      for (const w of workers) void w.terminate();
    },
  };
}

/** One figure per kernel: the sums over `runs` runs, per run. */
interface KernelRow {
  i: number;
  what: string;
  serial: boolean;
  t1: number;
  wall: number;
  busy: number[];
  inner: number;
  /** Barrier sleeps per run, every thread. */
  sleeps: number;
}

function describe(g: Graph, node: number | undefined, fn: string): string {
  if (node === undefined) return fn;
  const n = g.nodes[node]!;
  const shape = (v: number) => g.values[v]!.type.shape.join("x");
  const attrs = n.op === "conv2d" ? ` k${(n.attrs as { kernel?: unknown }).kernel ?? ""}${n.attrs.stride ? ` s${String(n.attrs.stride)}` : ""}${n.attrs.groups ? ` g${String(n.attrs.groups)}` : ""}` : "";
  return `${n.op}${attrs} ${n.inputs.slice(0, 2).map(shape).join(",")} -> ${shape(n.outputs[0]!)}`;
}

async function profile(): Promise<void> {
  const model = values.model;
  const file = `specs/${model}.nn`;
  const g0 = elaborateFile(file).graph!;
  const weights = weightsFor(model, g0);
  const g = lower(optimise(g0, weights, pipelineFor(wasmTarget)).graph, wasmTarget);
  log(`${model}: building the profiling wasm`);
  const build = buildWasm(g, { relaxed: true, profile: true });
  const inputs = randomInputs(g, 1) as Record<string, Float32Array | Int32Array>;
  const runs = Number(values.runs);
  const threads = Number(values.threads);
  const results: { count: number; acc: Float64Array[]; walls: number[] }[] = [];
  for (const count of [1, threads]) {
    const h = await harness(build, count, inputs);
    for (let i = 0; i < 3; i++) h.run();
    for (const a of h.acc) a.fill(0);
    const walls: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      h.run();
      walls.push(performance.now() - t);
    }
    results.push({ count, acc: h.acc.map((a) => a.map((x) => x / runs)), walls });
    h.stop();
  }
  const [one, many] = results as [(typeof results)[0], (typeof results)[0]];
  const calls = build.profiled!;
  const rows: KernelRow[] = calls.map((c, i) => ({
    i,
    what: describe(g, c.node, c.fn),
    serial: !c.parallel,
    t1: one.acc[0]![i * SLOTS]!,
    wall: many.acc[0]![i * SLOTS + 3]!,
    busy: many.acc.map((a) => a[i * SLOTS]!),
    inner: many.acc[0]![i * SLOTS + 1]!,
    sleeps: many.acc.reduce((n, a) => n + a[i * SLOTS + 4]!, 0),
  }));
  const sum = (f: (r: KernelRow) => number) => rows.reduce((s, r) => s + f(r), 0);
  const busiest = many.acc.map((_, t) => sum((r) => r.busy[t]!));
  const barriers = rows.reduce((s, r, i) => s + r.inner + (i > 0 && (r.serial ? !rows[i - 1]!.serial : true) ? 1 : 0), 1);
  const fmt = (x: number) => x.toFixed(3).padStart(8);
  console.log(`${model}: ${rows.length} kernels (${rows.filter((r) => r.serial).length} on thread 0 alone), ~${barriers} barriers per run on ${threads} threads`);
  console.log(`wall median: 1 thread ${median(one.walls).toFixed(2)} ms, ${threads} threads ${median(many.walls).toFixed(2)} ms (ratio ${(median(many.walls) / median(one.walls)).toFixed(3)}); min ${Math.min(...one.walls).toFixed(2)} / ${Math.min(...many.walls).toFixed(2)}`);
  console.log(`sum of kernel times: 1 thread ${sum((r) => r.t1).toFixed(2)} ms; ${threads} threads: wall ${sum((r) => r.wall).toFixed(2)} ms, busy per thread ${busiest.map((b) => b.toFixed(2)).join(" / ")} ms (busiest / 1t = ${(Math.max(...busiest) / sum((r) => r.t1)).toFixed(3)})`);
  const maxBusy = sum((r) => Math.max(...r.busy));
  console.log(`of the ${threads}-thread wall: busiest thread per kernel ${maxBusy.toFixed(2)} ms (imbalance over the mean ${(maxBusy - sum((r) => r.busy.reduce((a, b) => a + b, 0) / threads)).toFixed(2)} ms), waiting beyond that ${(sum((r) => r.wall) - maxBusy).toFixed(2)} ms; CPU inflation (sum of busy / t1) ${(sum((r) => r.busy.reduce((a, b) => a + b, 0)) / sum((r) => r.t1)).toFixed(3)}`);
  console.log(`barrier sleeps (the spin ran out) per run: ${many.acc.map((a) => a.filter((_, k) => k % SLOTS === 4).reduce((x, y) => x + y, 0).toFixed(1)).join(" / ")} by thread`);
  // Time lost per kernel: its 2-thread wall less an even split of its 1-thread time.
  const lost = (r: KernelRow) => r.wall - r.t1 / threads;
  console.log(`lost (wall - t1/${threads}) in total ${sum(lost).toFixed(2)} ms; in serial kernels ${sum((r) => (r.serial ? lost(r) : 0)).toFixed(2)} ms`);
  console.log(`\n   # | t1 ms    | wall ms  | busy ms per thread        | inner barriers | sleeps | lost ms  | kernel`);
  for (const r of [...rows].sort((a, b) => lost(b) - lost(a)).slice(0, Number(values.top)))
    console.log(`${String(r.i).padStart(4)} |${fmt(r.t1)}  |${fmt(r.wall)}  | ${r.busy.map(fmt).join(" ")} | ${String(r.inner).padStart(5)} | ${r.sleeps.toFixed(1).padStart(6)} |${fmt(lost(r))}  | ${r.serial ? "[serial] " : ""}${r.what}`);
  // By op: where the lost time is.
  const byOp = new Map<string, [number, number, number]>();
  for (const r of rows) {
    const op = r.what.split(" ")[0]!;
    const e = byOp.get(op) ?? [0, 0, 0];
    byOp.set(op, [e[0] + r.t1, e[1] + r.wall, e[2] + 1]);
  }
  console.log(`\nby op: t1 ms, wall ms, count`);
  for (const [op, [t1, wall, n]] of [...byOp].sort((a, b) => b[1][1] - a[1][1])) console.log(`  ${op.padEnd(20)} ${fmt(t1)} ${fmt(wall)} ${String(n).padStart(5)}`);
}

/** The cost of a barrier: a chain of tiny kernels (softmax over 64 floats, ~0.1 µs each), each one barrier, on 1 and 2 threads. */
async function barrier(): Promise<void> {
  const kernels = 200;
  const lines = ["  input x: f32[4, 16]", ...Array.from({ length: kernels }, (_, i) => `  x${i + 1} = softmax(${i ? `x${i}` : "x"}, axis=-1)`), `  output y = x${kernels}`];
  const { graph } = elaborate({ path: "barrier.nn", text: `model chain() {\n${lines.join("\n")}\n}\n` });
  const g = lower(optimise(graph, new Map(), pipelineFor(wasmTarget)).graph, wasmTarget);
  const build = buildWasm(g, { relaxed: true, profile: true });
  const inputs = randomInputs(g, 1) as Record<string, Float32Array | Int32Array>;
  const runs = Number(values.runs);
  const per: number[] = [];
  for (const count of [1, Number(values.threads)]) {
    const h = await harness(build, count, inputs);
    for (let i = 0; i < 10; i++) h.run();
    const walls: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      h.run();
      walls.push(performance.now() - t);
    }
    h.stop();
    per.push((median(walls) * 1000) / build.profiled!.length);
  }
  console.log(`${build.profiled!.length} kernels: ${per[0]!.toFixed(2)} µs each on 1 thread, ${per[1]!.toFixed(2)} µs on ${values.threads}: a barrier ~${(per[1]! - per[0]!).toFixed(2)} µs (profiling marks included)`);
}

// ---- compile and A/B -------------------------------------------------------------------------

async function compileTo(): Promise<void> {
  const model = values.model;
  const out = values.out;
  if (!out) throw new Error("compile: --out DIR");
  const file = `specs/${model}.nn`;
  const weights = weightsFor(model, elaborateFile(file).graph!);
  const { files } = await compile({ path: file }, { weights });
  mkdirSync(out, { recursive: true });
  for (const f of files) writeFileSync(join(out, f.name), f.contents);
  log(`${model}: wrote ${files.map((f) => f.name).join(", ")} to ${out}`);
}

/** CPU ticks of each of this process's threads. */
function threadTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    const f = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks.set(tid, Number(f[11]) + Number(f[12]));
  }
  return ticks;
}

async function ab(): Promise<void> {
  if (dirs.length < 1) throw new Error("ab: DIR_A [DIR_B ...]");
  const runs = Number(values.runs);
  const model = values.model;
  const g = elaborateFile(`specs/${model}.nn`).graph!;
  const feeds = randomInputs(g, 1) as Record<string, Float32Array | Int32Array>;
  interface Entry {
    name: string;
    model: LoadedModel;
    walls: number[];
    ticks: Map<string, number>;
  }
  const entries: Entry[] = [];
  for (const dir of dirs) {
    const mjs = readdirSync(dir).find((f) => f.endsWith(".mjs"))!;
    const { load } = (await import(pathToFileURL(resolve(dir, mjs)).href)) as { load(o: LoadOptions): Promise<LoadedModel> };
    for (const threads of [1, Number(values.threads)]) {
      const m = await load({ simd: "relaxed", threads });
      for (let i = 0; i < 3; i++) await m.run(feeds);
      entries.push({ name: `${dir} ${threads}t`, model: m, walls: [], ticks: new Map() });
    }
  }
  if (values.quiet !== undefined) return quietRounds(entries, feeds, Number(values.quiet));
  console.log(`${model}: ${runs} runs x ${values.rounds} rounds, interleaved`);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const e of entries) {
      e.walls = [];
      e.ticks = new Map();
    }
    for (let r = 0; r < runs; r++)
      for (const e of entries) {
        const before = threadTicks();
        const t = performance.now();
        await e.model.run(feeds);
        e.walls.push(performance.now() - t);
        for (const [tid, n] of threadTicks()) e.ticks.set(tid, (e.ticks.get(tid) ?? 0) + n - (before.get(tid) ?? 0));
      }
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`round ${round + 1} (load ${load}):`);
    for (const e of entries) {
      const busiest = (Math.max(...e.ticks.values()) * 10) / runs;
      console.log(`  ${e.name.padEnd(50)} median ${median(e.walls).toFixed(2).padStart(8)} ms  min ${Math.min(...e.walls).toFixed(2).padStart(8)} ms  busiest thread CPU ${busiest.toFixed(1).padStart(7)} ms/run`);
    }
    for (let k = 0; k + 1 < entries.length; k += 2) {
      const [a, b] = [entries[k]!, entries[k + 1]!];
      console.log(`  ${a.name.split(" ")[0]}: 2t/1t median ${(median(b.walls) / median(a.walls)).toFixed(3)}, min ${(Math.min(...b.walls) / Math.min(...a.walls)).toFixed(3)}`);
    }
  }
  for (const e of entries) e.model.dispose();
}

/** Runnable tasks on the machine besides the reader (/proc/stat procs_running, which counts it). */
const othersRunning = () => Number(/^procs_running (\d+)/m.exec(readFileSync("/proc/stat", "utf8"))![1]) - 1;

/**
 * Rounds of `runs` interleaved runs until --rounds or --seconds; the figures of the rounds before
 * each of whose runs at most `quiet` other tasks were runnable.
 */
async function quietRounds(entries: { name: string; model: LoadedModel }[], feeds: Record<string, Float32Array | Int32Array>, quiet: number): Promise<void> {
  const runs = Number(values.runs);
  const walls = entries.map(() => [] as number[]);
  let [rounds, kept] = [0, 0];
  const end = performance.now() + Number(values.seconds) * 1000;
  while (rounds < Number(values.rounds) && performance.now() < end) {
    const round = entries.map(() => [] as number[]);
    let busiest = 0;
    for (let r = 0; r < runs; r++)
      for (const [k, e] of entries.entries()) {
        busiest = Math.max(busiest, othersRunning());
        const t = performance.now();
        await e.model.run(feeds);
        round[k]!.push(performance.now() - t);
      }
    rounds++;
    if (Math.max(busiest, othersRunning()) > quiet) continue;
    kept++;
    round.forEach((w, k) => walls[k]!.push(...w));
  }
  console.log(`${values.model}: ${kept} of ${rounds} rounds of ${runs} runs had at most ${quiet} other tasks runnable before each run`);
  if (!kept) return;
  entries.forEach((e, k) => console.log(`  ${e.name.padEnd(50)} median ${median(walls[k]!).toFixed(2).padStart(8)} ms  min ${Math.min(...walls[k]!).toFixed(2).padStart(8)} ms  (${walls[k]!.length} runs)`));
  for (let k = 0; k + 1 < entries.length; k += 2)
    console.log(`  ${entries[k]!.name.split(" ")[0]}: 2t/1t median ${(median(walls[k + 1]!) / median(walls[k]!)).toFixed(3)}, min ${(Math.min(...walls[k + 1]!) / Math.min(...walls[k]!)).toFixed(3)}`);
  for (const e of entries) e.model.dispose();
}

const modes: Record<string, () => Promise<void>> = { profile, barrier, compile: compileTo, ab };
if (!mode || !modes[mode]) throw new Error(`mode: ${Object.keys(modes).join(" | ")}`);
await modes[mode]();
