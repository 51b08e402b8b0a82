import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { TargetFile, TargetOptions } from "../../codegen/target.js";
import { UsageError } from "../base/errors.js";
import { calibrationInputs, checkChoice, checkTolerance, hasSeededWeights, type Elaborated, type GenerateOptions, compileTraining, generate, loadTarget, optimise, pipelineFor, relaxedSimdModes, weightsDtypes } from "../driver.js";
import { printGraph } from "../ir/print.js";
import { allPasses, defaultPipeline, getPass } from "../passes/index.js";
import { compileStats, weightsFileStat } from "../passes/stats.js";
import { elaborateOptions, modelOptions, noPositionals, onePath, parse, seedOf, trainOptions, trainOptionsFrom, type Options } from "./args.js";
import type { Command } from "./command.js";
import { cliWeightOptions, inputSamples, modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { writeDiagnostics } from "./command.js";
import { checkOutputDir, writeFiles } from "./outputs.js";
import { formatBytes } from "./table.js";
import { describePrecision } from "../precision.js";

const usage = "graphc compile FILE.nn|FILE.onnx (-o DIR | --stats | --print-after PASS | --print-after-all) [options]";

const options: Options = {
  ...modelOptions,
  ...weightOptions,
  output: { short: "o", value: "DIR", description: "write the ES module, its types, wasm and weights into DIR (made if needed)" },
  target: { value: "wasm|wgsl", default: "wasm", description: "with -o: WebAssembly SIMD or WGSL for WebGPU" },
  "relaxed-simd": { value: "auto|on|off", default: "auto", description: "with -o, wasm: auto ships both builds and picks at load time; off baseline only; on relaxed only" },
  "embed-weights": { description: "with -o, wasm: the wasm and weights inside the .mjs, base64 (one file to ship)" },
  "weights-dtype": { value: "f32|f16|int8", default: "f32", description: "with -o, wasm: how weights.bin stores conv, linear, matmul and embedding weights (f16 half, int8 a quarter: per-output-channel scales); compute stays float32" },
  "weights-tolerance": {
    value: "REL|off",
    default: "f16 1e-3, int8 5e-2",
    description: "with --weights-dtype f16|int8 and calibration inputs: the most any output may move from float32's there (max |out - f32 out| / max |f32 out|); the smallest weights stay float32 until every output is within it. off: no check",
  },
  calibrate: {
    value: "NAME=PATH",
    multiple: true,
    default: "seeded weights: 4 seeded inputs, the biases corrected on the first; a checkpoint: none",
    description: "with --weights-dtype f16|int8: an input like the model's (.npy or raw .bin; one per input, repeated for more samples: the k-th of NAME goes in sample k), on which each layer's bias is corrected for its weights' rounding and the weights are checked",
  },
  passes: { value: "a,b,c", default: "the target's pipeline", description: "the passes to run, in order (see `graphc passes`)" },
  "print-after": { value: "PASS", multiple: true, description: "print the graph after PASS to stdout" },
  "print-after-all": { description: "print the graph after every pass to stdout" },
  stats: { description: "print each pass's node counts, the kernels, the arena, the float32 parameter bytes and (with -o) the bytes of the weights file written" },
  json: { description: "with --stats: one JSON object instead of the table" },
  train: { description: "with -o, wasm: a training module, whose load() gives run, step, setLearningRate, saveWeights and dispose (docs/TRAINING.md); --seed also seeds its dropout masks" },
  ...trainOptions,
};

export const compileCommand: Command = {
  summary: "compile a model to an ES module in DIR (-o; WebAssembly SIMD or WGSL), or optimise it for a look inside (--stats, --print-after)",
  usage,
  options,
  async run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    const out = values.output as string | undefined;
    for (const flag of ["target", "relaxed-simd", "embed-weights", "weights-dtype", "weights-tolerance", "calibrate"]) if (values[flag] !== undefined && out === undefined) throw new UsageError(`--${flag} goes with -o DIR`);
    const relaxedSimd = values["relaxed-simd"] === undefined ? undefined : checkChoice(values["relaxed-simd"], relaxedSimdModes, "--relaxed-simd");
    const weightsDtype = values["weights-dtype"] === undefined ? undefined : checkChoice(values["weights-dtype"], weightsDtypes, "--weights-dtype");
    const targetOptions: TargetOptions = {
      ...(relaxedSimd ? { relaxedSimd } : {}),
      ...(weightsDtype ? { weightsDtype } : {}),
      embedWeights: values["embed-weights"] === true,
      onProgress: (step) => process.stderr.write(`graphc: ${step}...\n`),
    };
    // Only a module written needs a target (and loads its backend).
    const output = out === undefined ? undefined : { dir: out, target: await loadTarget(values.target as string | undefined) };
    if (output?.target.checkOptions?.(targetOptions) !== undefined) throw new UsageError("--relaxed-simd, --embed-weights and --weights-dtype f16|int8 are for --target wasm");
    const passes = typeof values.passes === "string" ? values.passes.split(",").map((p) => p.trim()).filter(Boolean) : undefined;
    const printAfter = new Set((values["print-after"] as string[] | undefined) ?? []);
    for (const name of [...(passes ?? []), ...printAfter])
      if (!getPass(name)) throw new UsageError(`unknown pass \`${name}\` (see \`graphc passes\`)`);
    const pipeline = pipelineFor(output?.target, passes);
    if (values.train) return compileTrainingModule(file, values, targetOptions, passes);
    const trainFlag = Object.keys(trainOptions).find((k) => values[k] !== undefined);
    if (trainFlag !== undefined) throw new UsageError(`--${trainFlag} goes with --train`);
    if (values.json && !values.stats) throw new UsageError("--json goes with --stats");
    // Without any of these the compile would write and print nothing.
    if (out === undefined && !values.stats && values["print-after"] === undefined && !values["print-after-all"])
      throw new UsageError(`give -o DIR to write the compiled module (or --stats / --print-after PASS to look inside)\nusage: ${usage}`);
    if (output) checkOutputDir(output.dir, "-o");
    const start = performance.now();
    const model = modelFromArgs(file, values);
    const calibrated = output ? calibration(model, values, weightsDtype) : {};
    const { graph, stats } = optimise(model.graph, weightsFromArgs(model, values), pipeline, {
      after: (pass, out) => {
        if (values["print-after-all"] || printAfter.has(pass)) process.stdout.write(`; after ${pass}\n${printGraph(out)}`);
      },
    });
    const generated = output ? await generate(graph, output.target, { ...targetOptions, ...calibrated }) : undefined;
    const files = generated?.files;
    if (values.stats) {
      const s = { ...compileStats(graph, stats), ...weightsFileStat(files) };
      if (values.json) process.stdout.write(JSON.stringify(s) + "\n");
      else {
        for (const p of s.passes) process.stdout.write(`${p.name.padEnd(24)} ${String(p.nodesBefore).padStart(6)} -> ${String(p.nodesAfter).padStart(6)} nodes\n`);
        const written = s.weightsFileBytes === undefined ? "" : `, weights file ${s.weightsFileBytes} bytes`;
        process.stdout.write(`kernels ${s.kernels}, arena ${s.arenaBytes} bytes (lower bound ${s.arenaLowerBound}), parameters ${s.parameterBytes} bytes (float32)${written}\n`);
      }
    }
    if (output && files) written(output.dir, files, start);
    if (generated?.precision) process.stderr.write(`graphc: ${describePrecision(generated.precision)}\n`);
    return 0;
  },
};

/** --calibrate's samples (or the seeded ones, for seeded weights) for the weights' bias correction and check, and --weights-tolerance. */
function calibration(model: Elaborated, values: Record<string, unknown>, weightsDtype: TargetOptions["weightsDtype"]): Pick<GenerateOptions, "calibration" | "correctOn" | "weightsTolerance"> {
  const given = values.calibrate === undefined ? undefined : inputSamples(model.graph, values.calibrate, "--calibrate");
  const raw = values["weights-tolerance"] as string | undefined;
  // A number where the text is one, else the text itself (off, or what the error shows).
  const weightsTolerance = raw === undefined ? undefined : checkTolerance(raw.trim() !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw, "--weights-tolerance");
  const options = { ...(weightsDtype ? { weightsDtype } : {}), ...(given ? { calibration: given } : {}), ...(weightsTolerance !== undefined ? { weightsTolerance } : {}), seed: seedOf(values) };
  const { warnings, ...calibrated } = calibrationInputs(model.graph, options, hasSeededWeights(model, cliWeightOptions(values).weights), "--calibrate", "--weights-tolerance");
  for (const w of warnings) process.stderr.write(`${w}\n`);
  return { ...calibrated, ...(weightsTolerance !== undefined ? { weightsTolerance } : {}) };
}

function written(dir: string, files: readonly TargetFile[], start: number): void {
  writeFiles(dir, files);
  const sizes = files.map((f) => `${f.name} ${formatBytes(typeof f.contents === "string" ? Buffer.byteLength(f.contents) : f.contents.byteLength)}`);
  process.stderr.write(`graphc: wrote ${sizes.join(", ")} to ${dir} in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
  process.stderr.write(`graphc: to use it: import { load } from ${JSON.stringify(importSpecifier(join(dir, files.find((f) => f.name.endsWith(".mjs"))!.name)))}\n`);
}

/** compile --train: the training module of FILE in -o DIR. */
async function compileTrainingModule(file: string, values: Record<string, unknown>, targetOptions: TargetOptions, passes: string[] | undefined): Promise<number> {
  const dir = values.output as string | undefined;
  if (dir === undefined) throw new UsageError("--train goes with -o DIR");
  for (const flag of ["stats", "print-after", "print-after-all"]) if (values[flag] !== undefined) throw new UsageError(`--${flag} does not go with --train`);
  if ((values.target ?? "wasm") !== "wasm") throw new UsageError("--train builds a wasm module (--target wasm)");
  if (targetOptions.weightsDtype !== undefined || values.calibrate !== undefined || values["weights-tolerance"] !== undefined)
    throw new UsageError("--weights-dtype, --weights-tolerance and --calibrate do not go with --train: a training module keeps its weights in float32");
  checkOutputDir(dir, "-o");
  const start = performance.now();
  const compiled = await compileTraining({ path: file }, { ...elaborateOptions(values), ...cliWeightOptions(values), ...targetOptions, ...(passes ? { passes } : {}), train: { ...trainOptionsFrom(values), seed: seedOf(values) } });
  writeDiagnostics(compiled.warnings, 0);
  written(dir, compiled.files, start);
  return 0;
}

/** How a module in the working directory imports `path`: "./out/m.mjs", or the absolute path when it lies elsewhere. */
function importSpecifier(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere.startsWith("..") || isAbsolute(fromHere) ? resolve(path) : `./${fromHere.split(sep).join("/")}`;
}

export const passesCommand: Command = {
  summary: "list the optimisation passes and the default pipeline",
  usage: "graphc passes",
  options: {},
  run(argv) {
    noPositionals(parse(argv, {}).positionals, "graphc passes");
    const passes = allPasses();
    const width = Math.max(...passes.map((p) => p.name.length));
    process.stdout.write(passes.map((p) => `${p.name.padEnd(width)}  ${p.description}`).join("\n") + `\n\ndefault pipeline: ${defaultPipeline.join(",")}\n`);
    return 0;
  },
};
