import type { TargetOptions } from "../../codegen/target.js";
import { UsageError } from "../base/errors.js";
import { checkChoice, generate, loadTarget, optimise, pipelineFor, relaxedSimdModes } from "../driver.js";
import { printGraph } from "../ir/print.js";
import { allPasses, defaultPipeline, getPass } from "../passes/index.js";
import { compileStats } from "../passes/stats.js";
import { modelOptions, noPositionals, onePath, parse } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputDir, writeFiles } from "./outputs.js";

const usage =
  "graphc compile FILE.nn [-o DIR [--target wasm|wgsl] [--relaxed-simd=auto|on|off] [--embed-weights]] [--passes=a,b,c] [--print-after=PASS]... [--print-after-all] [--stats [--json]] [--weights W.safetensors] [--seed N] [--set NAME=VALUE]... [--shape INPUT=DxDx...]...";

export const compileCommand: Command = {
  summary: "compile a model to an ES module in DIR (-o; WebAssembly SIMD or WGSL), or optimise it for a look inside (--stats, --print-after)",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...modelOptions,
      ...weightOptions,
      passes: { type: "string" },
      "print-after": { type: "string", multiple: true },
      "print-after-all": { type: "boolean" },
      stats: { type: "boolean" },
      json: { type: "boolean" },
      output: { type: "string", short: "o" },
      target: { type: "string" },
      "relaxed-simd": { type: "string" },
      "embed-weights": { type: "boolean" },
    });
    const file = onePath(positionals, usage);
    const out = values.output as string | undefined;
    for (const flag of ["target", "relaxed-simd", "embed-weights"]) if (values[flag] !== undefined && out === undefined) throw new UsageError(`--${flag} goes with -o DIR`);
    const relaxedSimd = values["relaxed-simd"] === undefined ? undefined : checkChoice(values["relaxed-simd"], relaxedSimdModes, "--relaxed-simd");
    const targetOptions: TargetOptions = {
      ...(relaxedSimd ? { relaxedSimd } : {}),
      embedWeights: values["embed-weights"] === true,
      onProgress: (step) => process.stderr.write(`graphc: ${step}...\n`),
    };
    // Only a module written needs a target (and loads its backend).
    const output = out === undefined ? undefined : { dir: out, target: await loadTarget(values.target as string | undefined) };
    if (output?.target.checkOptions?.(targetOptions) !== undefined) throw new UsageError("--relaxed-simd and --embed-weights are for --target wasm");
    const passes = typeof values.passes === "string" ? values.passes.split(",").map((p) => p.trim()).filter(Boolean) : undefined;
    const printAfter = new Set((values["print-after"] as string[] | undefined) ?? []);
    for (const name of [...(passes ?? []), ...printAfter])
      if (!getPass(name)) throw new UsageError(`unknown pass \`${name}\` (see \`graphc passes\`)`);
    const pipeline = pipelineFor(output?.target, passes);
    if (values.json && !values.stats) throw new UsageError("--json goes with --stats");
    if (output) checkOutputDir(output.dir, "-o");
    const start = performance.now();
    const g = modelFromArgs(file, values);
    const { graph, stats } = optimise(g, weightsFromArgs(g, values), pipeline, {
      after: (pass, out) => {
        if (values["print-after-all"] || printAfter.has(pass)) process.stdout.write(`; after ${pass}\n${printGraph(out)}`);
      },
    });
    if (values.stats) {
      const s = compileStats(graph, stats);
      if (values.json) process.stdout.write(JSON.stringify(s) + "\n");
      else {
        for (const p of s.passes) process.stdout.write(`${p.name.padEnd(24)} ${String(p.nodesBefore).padStart(6)} -> ${String(p.nodesAfter).padStart(6)} nodes\n`);
        process.stdout.write(`kernels ${s.kernels}, arena ${s.arenaBytes} bytes (lower bound ${s.arenaLowerBound}), weights ${s.weightBytes} bytes\n`);
      }
    }
    if (output) {
      const { files } = generate(graph, output.target, targetOptions);
      writeFiles(output.dir, files);
      const sizes = files.map((f) => `${f.name} ${formatBytes(typeof f.contents === "string" ? Buffer.byteLength(f.contents) : f.contents.byteLength)}`);
      process.stderr.write(`graphc: wrote ${sizes.join(", ")} to ${output.dir} in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
    }
    return 0;
  },
};

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export const passesCommand: Command = {
  summary: "list the optimisation passes and the default pipeline",
  usage: "graphc passes",
  run(argv) {
    noPositionals(parse(argv, {}).positionals, "graphc passes");
    const passes = allPasses();
    const width = Math.max(...passes.map((p) => p.name.length));
    process.stdout.write(passes.map((p) => `${p.name.padEnd(width)}  ${p.description}`).join("\n") + `\n\ndefault pipeline: ${defaultPipeline.join(",")}\n`);
    return 0;
  },
};
