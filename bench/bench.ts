// `npm run bench`: graphc's wasm (baseline and relaxed SIMD; relaxed on two threads too) against
// TensorFlow.js (wasm backend), onnxruntime-web (wasm, one and two threads) and onnxruntime-node
// (one thread) on the same weights and inputs. Each engine runs in its own child process
// (bench/engine.ts); this process prepares the artifacts and the report.
//   --models resnet50,mobilenet_v2,bert_base
//   --engines graphc-baseline,graphc-relaxed,graphc-relaxed-2t,tfjs-wasm,ort-web,ort-web-2t,ort-node (default: all)
//   --warmup 3 --min-iters 5 --max-iters 100 --seconds 5   --out bench/results
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compile } from "../src/api.js";
import { optimise } from "../src/driver.js";
import { elaborateFile } from "../src/frontend/index.js";
import type { Graph } from "../src/ir/graph.js";
import { randomInputs } from "../src/weights/calibrate.js";
import { exportOnnx } from "../src/onnx/export.js";
import { loadWeights } from "../src/weights/load.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import type { TensorData } from "../src/weights/tensor.js";
import type { EngineName, EngineResult, InputFile, Job } from "./engine.js";
import { binPath, writeGraphFile } from "./peers/graph-file.js";
import { TFJS_PASSES } from "./peers/tfjs.js";

/** Every engine, with what the report says of it. */
const ENGINES: Record<EngineName, string> = {
  "graphc-baseline": "graphc's wasm module, SIMD128 (one thread)",
  "graphc-relaxed": "graphc's wasm module, relaxed SIMD (one thread)",
  "graphc-relaxed-2t": "graphc's wasm module, relaxed SIMD, load({ threads: 2 }) (the caller and one worker, on a shared memory)",
  "tfjs-wasm": "TensorFlow.js 4.22, tfjs-core + tfjs-backend-wasm (XNNPACK, SIMD), built from graphc's IR after fold-batchnorm, fuse-epilogue and layout (bench/peers/tfjs.ts); one thread: under Node it loads the SIMD binary without threads (WASM_HAS_MULTITHREAD_SUPPORT is false), so setThreadsCount has no effect",
  "ort-web": "onnxruntime-web 1.30, wasm execution provider, numThreads = 1",
  "ort-web-2t": "onnxruntime-web 1.30, wasm execution provider, numThreads = 2",
  "ort-node": "onnxruntime-node 1.30, CPU execution provider, one intra-op thread: the accuracy reference",
};
const engines = Object.keys(ENGINES) as EngineName[];

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "resnet50,mobilenet_v2,bert_base" },
    engines: { type: "string", default: engines.join(",") },
    warmup: { type: "string", default: "3" },
    "min-iters": { type: "string", default: "5" },
    "max-iters": { type: "string", default: "100" },
    seconds: { type: "string", default: "5" },
    out: { type: "string", default: "bench/results" },
  },
});
const picked = values.engines.split(",") as EngineName[];
for (const e of picked) if (!engines.includes(e)) throw new Error(`unknown engine ${e} (engines: ${engines.join(", ")})`);
const count = (name: "warmup" | "min-iters" | "max-iters" | "seconds") => {
  const n = Number(values[name]);
  if (!(n >= 1)) throw new Error(`--${name} must be a number >= 1`);
  return n;
};
const tmp = join(values.out, "tmp");
mkdirSync(tmp, { recursive: true });
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Row {
  model: string;
  engine: EngineName;
  medianMs: number;
  minMs: number;
  iters: number;
  threads: number;
  busyThreads: number | null;
  cpuMsPerRun: number;
  busiestThreadCpuMsPerRun: number | null;
  /** This median / onnxruntime-web's: below 1 is faster. */
  timeVsOrtWeb?: number;
  peakRssMiB: number;
  /** This peak RSS / onnxruntime-web's. */
  rssVsOrtWeb?: number;
  loadMs: number;
  firstRunMs: number;
  compileMs?: number;
  artifactMiB: number;
  /** max |out - ort-node| / max |ort-node| over all outputs. */
  relDiffVsOrtNode?: number;
}

const fileMiB = (...paths: string[]) => paths.reduce((s, p) => s + statSync(p).size, 0) / 2 ** 20;

/** Seeded weights, cached as safetensors: initialising and calibrating ResNet-50 takes ~30 s. */
function weightsFor(model: string, g: Graph): Map<string, TensorData> {
  const cache = join(tmp, `${model}.safetensors`);
  if (existsSync(cache)) return loadWeights(g, { file: cache }).data;
  log(`${model}: initialising weights (cached in ${cache})`);
  const { data } = loadWeights(g, { seed: 0 });
  writeFileSync(cache, writeSafetensors(g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: data.get(w.name)! }))));
  return data;
}

async function prepare(model: string) {
  const file = `specs/${model}.nn`;
  const g = elaborateFile(file).graph!;
  const weights = weightsFor(model, g);
  const inputs: InputFile = {};
  for (const [name, data] of Object.entries(randomInputs(g, 1))) {
    const t = g.values[g.inputs.find((p) => p.name === name)!.value]!.type;
    inputs[name] = { dtype: t.dtype === "f32" ? "f32" : "i32", shape: t.shape, data: Array.from(data, Number) };
  }
  const inputFile = join(tmp, `${model}.inputs.json`);
  writeFileSync(inputFile, JSON.stringify(inputs));
  const onnx = join(tmp, `${model}.onnx`);
  writeFileSync(onnx, exportOnnx(g, weights));
  const irFile = join(tmp, `${model}.graph.json`);
  if (picked.includes("tfjs-wasm")) writeGraphFile(optimise(elaborateFile(file).graph!, weights, TFJS_PASSES).graph, irFile);
  let compileMs = 0;
  const dir = join(tmp, "graphc", model);
  if (picked.some((e) => e.startsWith("graphc"))) {
    log(`${model}: compiling with graphc`);
    const { files, report } = await compile({ path: file }, { weights });
    compileMs = report.compileMs;
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, f.name), f.contents);
  }
  const base = (ext: string) => join(dir, `${g.name}.${ext}`);
  return {
    inputFile,
    compileMs,
    artifact: {
      "graphc-baseline": [base("mjs"), base("wasm"), base("weights.bin")],
      "graphc-relaxed": [base("mjs"), base("relaxed.wasm"), base("weights.bin")],
      "graphc-relaxed-2t": [base("mjs"), base("relaxed.wasm"), base("weights.bin")],
      "tfjs-wasm": [irFile, binPath(irFile)],
      "ort-web": [onnx],
      "ort-web-2t": [onnx],
      "ort-node": [onnx],
    } satisfies Record<EngineName, string[]>,
  };
}

function runEngine(job: Job): EngineResult {
  // Node 20 ships relaxed SIMD behind a flag; later versions have it on.
  const flags = job.engine.startsWith("graphc-relaxed") && Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-wasm-relaxed-simd"] : [];
  const out = execFileSync(process.execPath, [...flags, new URL("./engine.js", import.meta.url).pathname, JSON.stringify(job)], { encoding: "utf8", maxBuffer: 2 ** 30, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.trim().split("\n").pop()!) as EngineResult;
}

function relDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let diff = 0;
  let scale = 0;
  for (const [name, ref] of Object.entries(b)) {
    const got = a[name]!;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
  }
  return diff / scale;
}

/** The issue's targets: time and peak RSS as ratios to onnxruntime-web, ResNet-50's compile time. */
const TIME_TARGET: Partial<Record<EngineName, number>> = { "graphc-baseline": 0.9, "graphc-relaxed": 0.65 };
const RSS_TARGET = 0.5;
/**
 * Every engine's outputs against ORT-node's: max |out - ref| / max |ref| at most this. f32 sums
 * in another order over 50 layers stay near 1e-5 (4e-5 is the largest seen); a wrong pad, layout
 * or weight is off by O(1).
 */
const REL_DIFF_LIMIT = 1e-3;
const COMPILE_TARGET_S: Record<string, number> = { resnet50: 5 };
/** The threads issue's median time ratios of graphc on 2 threads, per model: against itself on 1 thread, and against onnxruntime-web on 2. */
const PAIR_TARGETS: { engine: EngineName; versus: EngineName; ratios: Record<string, number> }[] = [
  { engine: "graphc-relaxed-2t", versus: "graphc-relaxed", ratios: { resnet50: 0.57, bert_base: 0.57 } },
  { engine: "graphc-relaxed-2t", versus: "ort-web-2t", ratios: { resnet50: 0.45, mobilenet_v2: 0.5, bert_base: 0.6 } },
];

const ratio = (x: number | undefined) => x?.toFixed(2) ?? "-";
const verdict = (what: string, value: string, ok: boolean, target: string) => `- ${what}: ${value} (target ${target}): ${ok ? "met" : "**not met**"}`;

function verdicts(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const t = TIME_TARGET[r.engine];
    if (t !== undefined && r.timeVsOrtWeb !== undefined) out.push(verdict(`${r.model} ${r.engine} time / ORT-web`, ratio(r.timeVsOrtWeb), r.timeVsOrtWeb <= t, `<= ${t}`));
    if (r.relDiffVsOrtNode !== undefined && !(r.relDiffVsOrtNode <= REL_DIFF_LIMIT)) out.push(verdict(`${r.model} ${r.engine} outputs vs ORT-node`, r.relDiffVsOrtNode.toExponential(1), false, `<= ${REL_DIFF_LIMIT}`));
    if (r.engine.startsWith("graphc") && r.rssVsOrtWeb !== undefined) out.push(verdict(`${r.model} ${r.engine} peak RSS / ORT-web`, ratio(r.rssVsOrtWeb), r.rssVsOrtWeb <= RSS_TARGET, `<= ${RSS_TARGET}`));
  }
  for (const { engine, versus, ratios } of PAIR_TARGETS)
    for (const [model, target] of Object.entries(ratios)) {
      const [a, b] = [engine, versus].map((e) => rows.find((r) => r.model === model && r.engine === e));
      if (!a || !b) continue;
      out.push(verdict(`${model} ${a.engine} / ${b.engine} time`, ratio(a.medianMs / b.medianMs), a.medianMs / b.medianMs <= target, `<= ${target}`));
      // On a loaded machine the wall clock is the scheduler's; the busiest thread's CPU time is the run's own critical path.
      if (a.busiestThreadCpuMsPerRun !== null && b.busiestThreadCpuMsPerRun !== null) {
        const r = a.busiestThreadCpuMsPerRun / b.busiestThreadCpuMsPerRun;
        out.push(verdict(`${model} ${a.engine} / ${b.engine} busiest-thread CPU time`, ratio(r), r <= target, `<= ${target}`));
      }
    }
  for (const [model, limit] of Object.entries(COMPILE_TARGET_S)) {
    const ms = rows.find((r) => r.model === model && r.compileMs !== undefined)?.compileMs;
    if (ms !== undefined) out.push(verdict(`${model} compile`, `${(ms / 1000).toFixed(1)} s`, ms < limit * 1000, `< ${limit} s`));
  }
  return out;
}

function markdown(rows: Row[], machine: string): string {
  const head = "| model | engine | median ms | min ms | time / ORT-web | threads | busy threads | CPU ms / run | busiest thread CPU ms / run | peak RSS MiB | RSS / ORT-web | load ms | first run ms | compile s | artifact MiB | rel. diff vs ORT-node |";
  const line = (r: Row) =>
    `| ${r.model} | ${r.engine} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} | ${ratio(r.timeVsOrtWeb)} | ${r.threads} | ${r.busyThreads ?? "-"} | ${r.cpuMsPerRun.toFixed(1)} | ${r.busiestThreadCpuMsPerRun?.toFixed(1) ?? "-"} | ${r.peakRssMiB.toFixed(0)} | ${ratio(r.rssVsOrtWeb)} | ${r.loadMs.toFixed(0)} | ${r.firstRunMs.toFixed(0)} | ${r.compileMs === undefined ? "-" : (r.compileMs / 1000).toFixed(1)} | ${r.artifactMiB.toFixed(1)} | ${r.relDiffVsOrtNode?.toExponential(1) ?? "-"} |`;
  const targets = verdicts(rows);
  const used = [...new Set(rows.map((r) => r.engine))];
  return [
    `# graphc benchmark\n\n${machine}\n\n${used.map((e) => `- ${e}: ${ENGINES[e]}`).join("\n")}\n`,
    `time / ORT-web: median latency divided by onnxruntime-web's (below 1 is faster); RSS / ORT-web likewise for peak RSS. threads: what the engine says it computes on; busy threads: the process's threads that did at least half the busiest one's CPU time during the timed runs; CPU ms / run: the process's, every thread; busiest thread CPU ms / run: that thread's, the wall time a run would take with a core per thread (on a loaded machine, where the wall clock is the scheduler's). load ms and first run ms: the engine's load (graphc: load(), workers included) and the first run after it, together the cold start. rel. diff: max |out - ORT-node| / max |ORT-node| over every output, checked <= ${REL_DIFF_LIMIT}.\n`,
    head,
    head.replace(/[^|]+/g, " --- "),
    ...rows.map(line),
    ...(targets.length ? ["\n## Targets\n", ...targets] : []),
    "",
  ].join("\n");
}

const rows: Row[] = [];
for (const model of values.models.split(",")) {
  const prep = await prepare(model);
  const results = new Map<EngineName, EngineResult>();
  for (const engine of picked) {
    log(`${model}: ${engine}`);
    const job: Job = { engine, artifact: prep.artifact[engine][0]!, inputs: prep.inputFile, warmup: count("warmup"), minIters: count("min-iters"), maxIters: count("max-iters"), seconds: count("seconds") };
    results.set(engine, runEngine(job));
  }
  const web = results.get("ort-web");
  const node = results.get("ort-node");
  for (const [engine, r] of results)
    rows.push({
      model,
      engine,
      medianMs: r.medianMs,
      minMs: r.minMs,
      iters: r.iters,
      threads: r.threads,
      busyThreads: r.busyThreads,
      cpuMsPerRun: r.cpuMsPerRun,
      busiestThreadCpuMsPerRun: r.busiestThreadCpuMsPerRun,
      ...(web ? { timeVsOrtWeb: r.medianMs / web.medianMs, rssVsOrtWeb: r.peakRssBytes / web.peakRssBytes } : {}),
      peakRssMiB: r.peakRssBytes / 2 ** 20,
      loadMs: r.loadMs,
      firstRunMs: r.firstRunMs,
      ...(engine.startsWith("graphc") ? { compileMs: prep.compileMs } : {}),
      artifactMiB: fileMiB(...prep.artifact[engine]),
      ...(node ? { relDiffVsOrtNode: relDiff(r.outputs, node.outputs) } : {}),
    });
}

const machine = `${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores), Node ${process.version}, ${new Date().toISOString()}; ${values.warmup} warm-up runs, then ${values["min-iters"]}-${values["max-iters"]} timed runs within ${values.seconds} s`;
const md = markdown(rows, machine);
writeFileSync(join(values.out, "latest.json"), JSON.stringify({ machine, options: values, rows }, null, 2) + "\n");
writeFileSync(join(values.out, "latest.md"), md);
process.stdout.write(md);
const inaccurate = rows.filter((r) => r.relDiffVsOrtNode !== undefined && !(r.relDiffVsOrtNode <= REL_DIFF_LIMIT));
if (inaccurate.length) {
  log(`outputs differ from ORT-node's by more than ${REL_DIFF_LIMIT} of their largest value: ${inaccurate.map((r) => `${r.model} ${r.engine} (${r.relDiffVsOrtNode!.toExponential(1)})`).join(", ")}`);
  process.exitCode = 1;
}
