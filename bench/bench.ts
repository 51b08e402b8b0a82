// `npm run bench`: graphc's wasm (baseline and relaxed SIMD on one thread, relaxed on two) against
// onnxruntime-web (wasm, one thread) and onnxruntime-node (one thread) on the same weights and
// inputs. Each engine runs in its own child process (bench/engine.ts); this process prepares the
// artifacts and the report.
//   --models resnet50,mobilenet_v2,bert_base   --engines graphc-baseline,graphc-relaxed,ort-web,ort-node
//   --warmup 3 --min-iters 5 --max-iters 100 --seconds 5   --out bench/results
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compile } from "../src/api.js";
import { elaborateFile } from "../src/frontend/index.js";
import type { Graph } from "../src/ir/graph.js";
import { randomInputs } from "../src/weights/calibrate.js";
import { exportOnnx } from "../src/onnx/export.js";
import { loadWeights } from "../src/weights/load.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import type { TensorData } from "../src/weights/tensor.js";
import type { EngineName, EngineResult, InputFile, Job } from "./engine.js";

const engines: EngineName[] = ["graphc-baseline", "graphc-relaxed", "graphc-relaxed-2t", "ort-web", "ort-node"];

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
  cpuMsPerRun: number;
  busiestThreadCpuMsPerRun?: number;
  /** This median / onnxruntime-web's: below 1 is faster. */
  timeVsOrtWeb?: number;
  peakRssMiB: number;
  /** This peak RSS / onnxruntime-web's. */
  rssVsOrtWeb?: number;
  loadMs: number;
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
      "graphc-relaxed-2t": [base("mjs"), base("relaxed.threads.wasm"), base("weights.bin")],
      "ort-web": [onnx],
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
const COMPILE_TARGET_S: Record<string, number> = { resnet50: 5 };
/** graphc on 2 threads against itself on 1 (the threads issue): median time ratio. */
const THREADS_TARGET = { engine: "graphc-relaxed-2t", versus: "graphc-relaxed", models: ["resnet50", "bert_base"], ratio: 0.57 } as const;

const ratio = (x: number | undefined) => x?.toFixed(2) ?? "-";
const verdict = (what: string, value: string, ok: boolean, target: string) => `- ${what}: ${value} (target ${target}): ${ok ? "met" : "**not met**"}`;

function verdicts(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const t = TIME_TARGET[r.engine];
    if (t !== undefined && r.timeVsOrtWeb !== undefined) out.push(verdict(`${r.model} ${r.engine} time / ORT-web`, ratio(r.timeVsOrtWeb), r.timeVsOrtWeb <= t, `<= ${t}`));
    if (r.engine.startsWith("graphc") && r.rssVsOrtWeb !== undefined) out.push(verdict(`${r.model} ${r.engine} peak RSS / ORT-web`, ratio(r.rssVsOrtWeb), r.rssVsOrtWeb <= RSS_TARGET, `<= ${RSS_TARGET}`));
  }
  for (const model of THREADS_TARGET.models) {
    const [two, one] = [THREADS_TARGET.engine, THREADS_TARGET.versus].map((e) => rows.find((r) => r.model === model && r.engine === e));
    if (!two || !one) continue;
    out.push(verdict(`${model} ${two.engine} / ${one.engine} time`, ratio(two.medianMs / one.medianMs), two.medianMs / one.medianMs <= THREADS_TARGET.ratio, `<= ${THREADS_TARGET.ratio}`));
    // On a loaded machine the wall clock is the scheduler's; the busiest thread's CPU time is the run's own critical path.
    if (two.busiestThreadCpuMsPerRun !== undefined && one.busiestThreadCpuMsPerRun !== undefined) {
      const r = two.busiestThreadCpuMsPerRun / one.busiestThreadCpuMsPerRun;
      out.push(verdict(`${model} ${two.engine} / ${one.engine} busiest-thread CPU time`, ratio(r), r <= THREADS_TARGET.ratio, `<= ${THREADS_TARGET.ratio}`));
    }
  }
  for (const [model, limit] of Object.entries(COMPILE_TARGET_S)) {
    const ms = rows.find((r) => r.model === model && r.compileMs !== undefined)?.compileMs;
    if (ms !== undefined) out.push(verdict(`${model} compile`, `${(ms / 1000).toFixed(1)} s`, ms < limit * 1000, `< ${limit} s`));
  }
  return out;
}

function markdown(rows: Row[], machine: string): string {
  const head = "| model | engine | median ms | min ms | CPU ms / run | busiest thread CPU ms / run | time / ORT-web | peak RSS MiB | RSS / ORT-web | load ms | compile s | artifact MiB | rel. diff vs ORT-node |";
  const line = (r: Row) =>
    `| ${r.model} | ${r.engine} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} | ${r.cpuMsPerRun.toFixed(1)} | ${r.busiestThreadCpuMsPerRun?.toFixed(1) ?? "-"} | ${ratio(r.timeVsOrtWeb)} | ${r.peakRssMiB.toFixed(0)} | ${ratio(r.rssVsOrtWeb)} | ${r.loadMs.toFixed(0)} | ${r.compileMs === undefined ? "-" : (r.compileMs / 1000).toFixed(1)} | ${r.artifactMiB.toFixed(1)} | ${r.relDiffVsOrtNode?.toExponential(1) ?? "-"} |`;
  const targets = verdicts(rows);
  return [
    `# graphc benchmark\n\n${machine}\n\ntime / ORT-web: median latency divided by onnxruntime-web's (below 1 is faster); RSS / ORT-web likewise for peak RSS.\n`,
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
      cpuMsPerRun: r.cpuMsPerRun,
      ...(r.busiestThreadCpuMsPerRun !== undefined ? { busiestThreadCpuMsPerRun: r.busiestThreadCpuMsPerRun } : {}),
      ...(web ? { timeVsOrtWeb: r.medianMs / web.medianMs, rssVsOrtWeb: r.peakRssBytes / web.peakRssBytes } : {}),
      peakRssMiB: r.peakRssBytes / 2 ** 20,
      loadMs: r.loadMs,
      ...(engine.startsWith("graphc") ? { compileMs: prep.compileMs } : {}),
      artifactMiB: fileMiB(...prep.artifact[engine]),
      ...(node ? { relDiffVsOrtNode: relDiff(r.outputs, node.outputs) } : {}),
    });
}

const machine = `${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, ${new Date().toISOString()}; one thread per engine (graphc-relaxed-2t: two); ${values.warmup} warm-up runs, then ${values["min-iters"]}-${values["max-iters"]} timed runs within ${values.seconds} s`;
const md = markdown(rows, machine);
writeFileSync(join(values.out, "latest.json"), JSON.stringify({ machine, options: values, rows }, null, 2) + "\n");
writeFileSync(join(values.out, "latest.md"), md);
process.stdout.write(md);
