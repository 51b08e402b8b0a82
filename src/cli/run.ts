import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { TargetOptions } from "../../codegen/target.js";
import { UsageError } from "../base/errors.js";
import { compileGraph, plan } from "../driver.js";
import { formatType, numel, type Graph, type TensorType } from "../ir/graph.js";
import { randomInputs } from "../weights/calibrate.js";
import { interpret, InterpError } from "../interp/index.js";
import { writeNpy } from "../weights/npy.js";
import type { TensorData } from "../weights/tensor.js";
import { modelOptions, onePath, parse, seedOf, type Options } from "./args.js";
import type { Command } from "./command.js";
import { inputFiles, modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputDir, writeFiles } from "./outputs.js";
import { MAX_THREADS } from "../../codegen/wasm/thread-limits.js";

const usage = "graphc run FILE.nn|FILE.onnx [options]";

const backends = ["interp", "wasm", "wgsl"];

const options: Options = {
  ...modelOptions,
  ...weightOptions,
  input: { value: "NAME=PATH", multiple: true, default: "seeded random data", description: "an input from a .npy or raw little-endian .bin file" },
  out: { value: "DIR", description: "also write each output as DIR/NAME.npy" },
  backend: { value: backends.join("|"), default: "interp", description: "the reference interpreter, the compiled wasm module, or WGSL on Dawn" },
  threads: { value: "N", default: "min(4, cores)", description: "wasm: the threads the module runs on (1 to 16)" },
};

/** Node 20's V8 has relaxed SIMD behind this flag only (Node 22 has it on; NODE_OPTIONS refuses the flag). */
const relaxedSimdFlag = "--experimental-wasm-relaxed-simd";

interface Runner {
  run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  what: string;
  /** What must stay referenced while the runner is used (Dawn's instance and adapter). */
  keepAlive?: unknown;
}

/** What the generated module's load() gives, as far as `graphc run` uses it. */
interface LoadedModule {
  /** wasm: the SIMD build it picked and its threads. */
  simd?: string;
  threads?: number;
  /** bool outputs come back as Uint8Array. */
  run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData | Uint8Array>>;
}

/** bool outputs as the interpreter gives them, Int32Array of 0 and 1 (so `--out` writes them as int32 .npy files on every backend). */
const boolsAsInt32 = (outputs: Record<string, TensorData | Uint8Array>): Record<string, TensorData> =>
  Object.fromEntries(Object.entries(outputs).map(([name, data]) => [name, data instanceof Uint8Array ? Int32Array.from(data) : data]));

/** Compiles the model through the driver, as `graphc compile -o` would, into a temporary folder, and imports and loads the module from there. */
async function loadCompiled(g: Graph, weights: Map<string, TensorData>, target: string, options: TargetOptions, loadOptions: object): Promise<Pick<LoadedModule, "simd" | "threads"> & Pick<Runner, "run">> {
  const { files } = await compileGraph(g, weights, await plan({ target, ...options }), options);
  const dir = mkdtempSync(join(tmpdir(), `graphc-${target}-`));
  try {
    for (const f of files) writeFileSync(join(dir, f.name), f.contents);
    const mjs = files.find((f) => f.name.endsWith(".mjs"))!.name;
    const mod = (await import(pathToFileURL(join(dir, mjs)).href)) as { load(o: object): Promise<LoadedModule> };
    const model = await mod.load(loadOptions);
    // A module refuses bad input values (ids out of its table) with a RangeError: bad data, as the interpreter's InterpError is.
    const dataError = (e: unknown) => Promise.reject(e instanceof RangeError ? new InterpError(e.message) : e);
    return { ...model, run: (inputs) => model.run(inputs).then(boolsAsInt32, dataError) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Only the SIMD build this engine runs. */
async function wasmRunner(g: Graph, weights: Map<string, TensorData>, threads: number | undefined): Promise<Runner> {
  const start = performance.now();
  const { relaxedSimdSupported } = await import("../../codegen/module/runtime.js");
  const relaxed = relaxedSimdSupported();
  if (!relaxed && process.versions.node.startsWith("20."))
    process.stderr.write(`graphc: running the baseline SIMD build; for relaxed SIMD, Node 20 needs a flag: node ${relaxedSimdFlag} ${process.argv[1]} run ...\n`);
  const model = await loadCompiled(g, weights, "wasm", { relaxedSimd: relaxed ? "on" : "off", onProgress: (step) => process.stderr.write(`graphc: ${step}...\n`) }, threads === undefined ? {} : { threads });
  process.stderr.write(`compiled ${g.name} for wasm in ${((performance.now() - start) / 1000).toFixed(2)} s\n`);
  return { run: (inputs) => model.run(inputs), what: `wasm (${model.simd} SIMD, ${model.threads} thread${model.threads === 1 ? "" : "s"})` };
}

/** On Dawn (SwiftShader without a GPU). */
async function wgslRunner(g: Graph, weights: Map<string, TensorData>): Promise<Runner> {
  const start = performance.now();
  const { createNodeDevice } = await import("../../codegen/wgsl/node.js");
  const { device, keepAlive } = await createNodeDevice();
  const model = await loadCompiled(g, weights, "wgsl", {}, { device });
  process.stderr.write(`compiled ${g.name} for WGSL in ${((performance.now() - start) / 1000).toFixed(2)} s\n`);
  return { run: (inputs) => model.run(inputs), what: "wgsl (Dawn)", keepAlive };
}

function summary(name: string, t: TensorType, data: TensorData): string {
  const xs = Array.from(data as ArrayLike<number | bigint>, Number);
  let [min, max, sum] = [Infinity, -Infinity, 0];
  for (const v of xs) [min, max, sum] = [Math.min(min, v), Math.max(max, v), sum + v];
  const lines = [`${name}: ${formatType(t)}  min ${min.toPrecision(6)}  max ${max.toPrecision(6)}  mean ${(sum / xs.length).toPrecision(6)}`];
  if (isClassifierOutput(name, t)) {
    const [rows, classes] = t.shape as [number, number];
    for (let row = 0; row < rows; row++) {
      const top = xs.slice(row * classes, (row + 1) * classes).map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
      lines.push(`  top-5${rows > 1 ? ` [${row}]` : ""}: ${top.map(([v, i]) => `${i} (${v.toPrecision(5)})`).join(", ")}`);
    }
  }
  return lines.join("\n");
}

/** Outputs whose name says they are vectors of features, where a top-5 would mean nothing. */
const featureOutputName = /embedding|distance|hidden|pooler|feature|loss/i;

/** Scores over classes: an f32 [N, C] with more than five classes, not named as features (README, "The command line"). */
function isClassifierOutput(name: string, t: TensorType): boolean {
  return t.dtype === "f32" && t.shape.length === 2 && t.shape[1]! > 5 && !featureOutputName.test(name);
}

function inputsFromArgs(g: Graph, values: Record<string, unknown>): Record<string, TensorData> {
  const given = inputFiles(g, values.input, "--input");
  const missing = g.inputs.filter((p) => !(p.name in given)).map((p) => p.name);
  if (Object.keys(given).length > 0 && missing.length > 0) process.stderr.write(`graphc: no --input for ${missing.join(", ")}: using seeded random data\n`);
  return { ...randomInputs(g, seedOf(values)), ...given };
}

/** --threads N: an integer in [1, MAX_THREADS], for the wasm backend. */
function threadsFrom(value: unknown, backend: string): number | undefined {
  if (value === undefined) return undefined;
  if (backend !== "wasm") throw new UsageError("--threads is for --backend wasm");
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < 1 || n > MAX_THREADS) throw new UsageError(`--threads must be an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(value)}`);
  return n;
}

export const runCommand: Command = {
  summary: "run a model on inputs (.npy or raw .bin) and print or save its outputs",
  usage,
  options,
  async run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    const backend = (values.backend as string | undefined) ?? "interp";
    if (!backends.includes(backend)) throw new UsageError(`unknown backend \`${backend}\` (available: ${backends.join(", ")})`);
    if (typeof values.out === "string") checkOutputDir(values.out, "--out");
    const threads = threadsFrom(values.threads, backend);
    const model = modelFromArgs(file, values);
    const g = model.graph;
    const inputs = inputsFromArgs(g, values);
    const weights = weightsFromArgs(model, values);
    const runner: Runner =
      backend === "wasm" ? await wasmRunner(g, weights, threads) : backend === "wgsl" ? await wgslRunner(g, weights) : { run: async (ins) => interpret(g, weights, ins), what: backend };
    const start = performance.now();
    const outputs = await runner.run(inputs);
    process.stderr.write(`ran ${g.name} on ${runner.what} in ${((performance.now() - start) / 1000).toFixed(2)} s\n`);
    for (const p of g.outputs) process.stdout.write(summary(p.name, g.values[p.value]!.type, outputs[p.name]!) + "\n");
    if (typeof values.out === "string") {
      const files = g.outputs.map((p) => {
        const t = g.values[p.value]!.type;
        if (numel(t.shape) !== outputs[p.name]!.length) throw new Error(`output ${p.name} has the wrong size`);
        return { name: `${p.name}.npy`, contents: writeNpy(t.shape, outputs[p.name]!) };
      });
      writeFiles(values.out, files);
      process.stderr.write(`wrote ${g.outputs.map((p) => `${p.name}.npy`).join(", ")} to ${values.out}\n`);
    }
    return 0;
  },
};
