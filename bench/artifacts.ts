// `npm run bench:artifacts`: what a compiled model weighs and how fast it loads, per zoo model
// and weights dtype (f32, f16, int8), next to the ONNX file onnxruntime-web would download
// (src/onnx/export.ts). Each load runs in a fresh Node process: load() (read weights.bin,
// instantiate, prepare: decoding and the weight transforms) and the first run() are timed; the
// outputs of f16 and int8 are compared with f32's. Writes bench/results/DATE-artifacts.md and .json.
//   --models resnet50,mobilenet_v2   --out bench/results   --loads 3 (the median load is reported)
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { compile } from "../src/api.js";
import { elaborateFile } from "../src/frontend/index.js";
import { exportOnnx } from "../src/onnx/export.js";
import { SEEDED_CALIBRATION_SAMPLES } from "../src/driver.js";
import { randomInputs } from "../src/weights/calibrate.js";
import { loadWeights } from "../src/weights/load.js";
import { median } from "./measure.js";

const dtypes = ["f32", "f16", "int8"] as const;
type Dtype = (typeof dtypes)[number];

const allModels = readdirSync("specs").filter((f) => f.endsWith(".nn")).map((f) => f.slice(0, -3)).sort();
const { values } = parseArgs({
  options: {
    models: { type: "string", default: allModels.join(",") },
    out: { type: "string", default: "bench/results" },
    loads: { type: "string", default: "3" },
  },
});
const loads = Number(values.loads);
if (!(loads >= 1)) throw new Error("--loads must be a number >= 1");
const tmp = join(values.out, "tmp", "artifacts");
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface LoadResult {
  loadMs: number;
  firstRunMs: number;
  outputs: Record<string, number[]>;
}

// The child: imports the module, times load() and the first run(), prints the outputs as JSON.
const CHILD = `
const [mjs, inputsFile] = process.argv.slice(-2);
const { readFileSync } = await import("node:fs");
const raw = JSON.parse(readFileSync(inputsFile, "utf8"));
const inputs = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.dtype === "f32" ? Float32Array.from(v.data) : Int32Array.from(v.data)]));
const { load } = await import(mjs);
let t = performance.now();
const model = await load({ simd: "baseline" });
const loadMs = performance.now() - t;
t = performance.now();
const out = await model.run(inputs);
const firstRunMs = performance.now() - t;
console.log(JSON.stringify({ loadMs, firstRunMs, outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v)])) }));
`;

function loadInChild(mjs: string, inputsFile: string): LoadResult {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", CHILD, "--", resolve(mjs), resolve(inputsFile)], { encoding: "utf8", maxBuffer: 2 ** 30 });
  return JSON.parse(out.trim().split("\n").pop()!) as LoadResult;
}

const gz = (b: Uint8Array | string) => gzipSync(b).byteLength;
const bytes = (b: Uint8Array | string) => (typeof b === "string" ? Buffer.byteLength(b) : b.byteLength);

/** max |a - b| / max |b| over the outputs `names`. */
function relDiff(a: Record<string, number[]>, b: Record<string, number[]>, names = Object.keys(b)): number {
  let diff = 0;
  let scale = 0;
  for (const name of names)
    for (let i = 0, ref = b[name]!; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(a[name]![i]! - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
  return diff / scale;
}

/** The output of the largest relDiff on its own, for models of several outputs. */
function worstOutput(a: Record<string, number[]>, b: Record<string, number[]>): { name: string; relDiff: number } | undefined {
  const names = Object.keys(b);
  if (names.length < 2) return undefined;
  return names.map((name) => ({ name, relDiff: relDiff(a, b, [name]) })).reduce((w, o) => (o.relDiff > w.relDiff ? o : w));
}

const argmax = (v: number[]) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

interface Variant {
  dtype: Dtype;
  /** NAME.mjs + NAME.wasm + NAME.weights.bin: what a page loading the baseline build downloads. */
  downloadBytes: number;
  downloadGzipBytes: number;
  /** Every file written (both wasm builds, the .d.ts and .d.mts too). */
  allFilesBytes: number;
  weightsFileBytes: number;
  loadMs: number;
  firstRunMs: number;
  /** max |out - f32 out| / max |f32 out|, over all outputs. */
  relDiffVsF32?: number;
  /** With several outputs: the one whose relDiff on its own is largest. */
  worstOutput?: { name: string; relDiff: number };
  top1AgreesWithF32?: boolean;
  /** f16 / int8: the weights compile kept float32 to meet its tolerance on its calibration samples (seeds 0 to 3; the outputs compared here are on seed 4). */
  keptFloat32?: { count: number; share: number };
}

interface Row {
  model: string;
  parameterBytes: number;
  onnxBytes: number;
  onnxGzipBytes: number;
  variants: Variant[];
}

const MiB = (n: number) => (n / 2 ** 20).toFixed(2);
// The issue's targets for ResNet-50: every file written, against the raw float32 parameters.
const TARGETS: Record<Dtype, number> = { f32: 1.02, f16: 0.51, int8: 0.27 };

/** Writes the report of the models measured so far: a run stopped early still leaves one. */
function writeReport(): void {
  const lines = [
    `# Artifacts: bytes, load time, first run (${new Date().toISOString().slice(0, 10)})`,
    "",
    `${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}; produced by \`npm run bench:artifacts\` (bench/artifacts.ts).`,
    "Download: NAME.mjs + NAME.wasm (baseline) + NAME.weights.bin. All files: everything `compile` writes (both wasm builds, the .d.ts / .d.mts).",
    "Load: load() in a fresh Node process (read weights.bin, instantiate, prepare: decode and transform the weights), median of " + loads + ".",
    "rel diff: max |out - f32 out| / max |f32 out| on seeded weights and random inputs (targets: f16 1e-3, int8 5e-2), over all outputs; in brackets the output of the largest on its own, for models of several.",
    `kept f32: the weights compile kept float32 for every output to meet those bounds on its ${SEEDED_CALIBRATION_SAMPLES} seeded calibration samples (seeds 0 to ${SEEDED_CALIBRATION_SAMPLES - 1}, as \`graphc compile\` does on its defaults; rel diff is on seed ${SEEDED_CALIBRATION_SAMPLES}, an input the check never saw), and their share of the elements the dtype would encode.`,
    "",
    "| model | params f32 MiB | ONNX MiB (gzip) | dtype | download MiB (gzip) | all files MiB | all files / params | load ms | first run ms | rel diff vs f32 | top-1 = f32 | kept f32 |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows)
    for (const v of r.variants)
      lines.push(
        `| ${r.model} | ${MiB(r.parameterBytes)} | ${MiB(r.onnxBytes)} (${MiB(r.onnxGzipBytes)}) | ${v.dtype} | ${MiB(v.downloadBytes)} (${MiB(v.downloadGzipBytes)}) | ${MiB(v.allFilesBytes)} | ${(v.allFilesBytes / r.parameterBytes).toFixed(3)} | ${v.loadMs.toFixed(0)} | ${v.firstRunMs.toFixed(0)} | ${v.relDiffVsF32?.toExponential(1) ?? "-"}${v.worstOutput ? ` (${v.worstOutput.name} ${v.worstOutput.relDiff.toExponential(1)})` : ""} | ${v.top1AgreesWithF32 === undefined ? "-" : v.top1AgreesWithF32 ? "yes" : "no"} | ${v.keptFloat32 ? `${v.keptFloat32.count} (${(100 * v.keptFloat32.share).toFixed(1)}%)` : "-"} |`,
      );
  const missing = models.filter((m) => !rows.some((r) => r.model === m));
  if (missing.length) lines.push("", `Not measured (the run stopped first): ${missing.join(", ")}.`);
  const resnet = rows.find((r) => r.model === "resnet50");
  if (resnet) {
    lines.push("", "## ResNet-50 targets", "");
    for (const v of resnet.variants) {
      const ratio = v.allFilesBytes / resnet.parameterBytes;
      lines.push(`- ${v.dtype}: all files ${ratio.toFixed(3)}x the float32 parameters (target ${TARGETS[v.dtype]}x): ${ratio <= TARGETS[v.dtype] ? "met" : "**not met**"}`);
    }
    const load = resnet.variants.find((v) => v.dtype === "f32")!.loadMs;
    lines.push(`- load time (f32, instantiate + transforms + reading weights.bin): ${load.toFixed(0)} ms (target 300 ms): ${load <= 300 ? "met" : "**not met**"}`);
  }
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(join(values.out, `${date}-artifacts.md`), lines.join("\n") + "\n");
  writeFileSync(join(values.out, `${date}-artifacts.json`), JSON.stringify({ machine: `${cpus()[0]?.model}, Node ${process.version}`, rows }, null, 2) + "\n");
  log(`wrote ${join(values.out, `${date}-artifacts.md`)} (${rows.length} of ${models.length} models)`);
}

const models = values.models.split(",");
const rows: Row[] = [];
for (const model of models) {
  const file = `specs/${model}.nn`;
  const g = elaborateFile(file).graph!;
  log(`${model}: seeded weights`);
  const { data: weights } = loadWeights(g, { seed: 0 });
  const onnx = exportOnnx(g, weights);
  const dir = join(tmp, model);
  mkdirSync(dir, { recursive: true });
  const inputsFile = join(dir, "inputs.json");
  // The first seed after the calibration samples' (compile's seeded weights are checked on seeds 0 to 3).
  const inputs = randomInputs(g, SEEDED_CALIBRATION_SAMPLES);
  writeFileSync(inputsFile, JSON.stringify(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { dtype: v instanceof Float32Array ? "f32" : "i32", data: Array.from(v, Number) }]))));
  const row: Row = { model, parameterBytes: 0, onnxBytes: onnx.byteLength, onnxGzipBytes: gz(onnx), variants: [] };
  let f32: LoadResult | undefined;
  for (const dtype of dtypes) {
    log(`${model}: compiling, weights ${dtype}`);
    // compile's own seeded weights (the ONNX file's: seed 0), calibrated and checked as on its defaults.
    const { files, report } = await compile({ path: file }, { seed: 0, weightsDtype: dtype, onProgress: (step) => log(`${model}: ${step}`) });
    row.parameterBytes = report.stats.parameterBytes;
    const out = join(dir, dtype);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    for (const f of files) writeFileSync(join(out, f.name), f.contents);
    const download = files.filter((f) => /\.(mjs|weights\.bin)$/.test(f.name) || (f.name.endsWith(".wasm") && !f.name.endsWith(".relaxed.wasm")));
    const runs = Array.from({ length: loads }, () => loadInChild(join(out, files.find((f) => f.name.endsWith(".mjs"))!.name), inputsFile));
    const first = runs[0]!;
    f32 ??= first;
    const logits = Object.keys(first.outputs).length === 1 && report.outputs[0]!.shape.length === 2 && report.outputs[0]!.shape[0] === 1 ? report.outputs[0]!.name : undefined;
    row.variants.push({
      dtype,
      downloadBytes: download.reduce((s, f) => s + bytes(f.contents), 0),
      downloadGzipBytes: download.reduce((s, f) => s + gz(f.contents), 0),
      allFilesBytes: files.reduce((s, f) => s + bytes(f.contents), 0),
      weightsFileBytes: report.stats.weightsFileBytes!,
      loadMs: median(runs.map((r) => r.loadMs)),
      firstRunMs: median(runs.map((r) => r.firstRunMs)),
      ...(dtype !== "f32" ? { relDiffVsF32: relDiff(first.outputs, f32.outputs) } : {}),
      ...(dtype !== "f32" && worstOutput(first.outputs, f32.outputs) ? { worstOutput: worstOutput(first.outputs, f32.outputs)! } : {}),
      ...(dtype !== "f32" && logits ? { top1AgreesWithF32: argmax(first.outputs[logits]!) === argmax(f32.outputs[logits]!) } : {}),
      ...(report.precision ? { keptFloat32: { count: report.precision.keptFloat32.length, share: report.precision.keptShare } } : {}),
    });
  }
  rows.push(row);
  writeReport();
  rmSync(dir, { recursive: true, force: true });
}
