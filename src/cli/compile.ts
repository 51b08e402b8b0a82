import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RelaxedSimd } from "../../codegen/module/index.js";
import { bindWeights } from "../ir/rewrite.js";
import { printGraph } from "../ir/print.js";
import { allPasses, defaultPipeline, getPass, pipelineFor, runPipeline, targets, type Target } from "../passes/index.js";
import { compileStats } from "../passes/stats.js";
import { modelOptions, onePath, parse, UsageError } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";

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
    const target = (values.target ?? "wasm") as Target;
    if (!targets.includes(target)) throw new UsageError(`unknown target \`${target}\` (available: ${targets.join(", ")})`);
    if (target === "wgsl" && (values["relaxed-simd"] !== undefined || values["embed-weights"])) throw new UsageError("--relaxed-simd and --embed-weights are for --target wasm");
    const pipeline = typeof values.passes === "string" ? values.passes.split(",").map((p) => p.trim()).filter(Boolean) : pipelineFor(target);
    if (target === "wgsl" && pipeline.includes("layout")) throw new UsageError("--target wgsl runs on NCHW tensors: leave `layout` out of --passes");
    const printAfter = new Set((values["print-after"] as string[] | undefined) ?? []);
    for (const name of [...pipeline, ...printAfter])
      if (!getPass(name)) throw new UsageError(`unknown pass \`${name}\` (see \`graphc passes\`)`);
    if (values.json && !values.stats) throw new UsageError("--json goes with --stats");
    const start = performance.now();
    const relaxedSimd = (values["relaxed-simd"] ?? "auto") as RelaxedSimd;
    if (!["auto", "on", "off"].includes(relaxedSimd)) throw new UsageError(`--relaxed-simd must be auto, on or off, got \`${relaxedSimd}\``);
    const g = modelFromArgs(file, values);
    if (!g) return 1;
    const bound = bindWeights(g, weightsFromArgs(g, values));
    const { graph, stats } = runPipeline(bound, pipeline, {
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
    if (out !== undefined) {
      // The backends load only when a module is written (Binaryen alone takes ~0.4 s to load).
      const files =
        target === "wgsl"
          ? (await import("../../codegen/wgsl/module.js")).emitWgslModule(graph, graph.name).files.map((f) => ({ name: f.path, contents: f.contents }))
          : (await import("../../codegen/module/index.js")).buildModule(graph, { relaxedSimd, embedWeights: values["embed-weights"] === true, onProgress: (step) => process.stderr.write(`graphc: ${step}...\n`) }).files;
      mkdirSync(out, { recursive: true });
      for (const f of files) writeFileSync(join(out, f.name), f.contents);
      const sizes = files.map((f) => `${f.name} ${formatBytes(typeof f.contents === "string" ? Buffer.byteLength(f.contents) : f.contents.byteLength)}`);
      process.stderr.write(`graphc: wrote ${sizes.join(", ")} to ${out} in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
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
    parse(argv, {});
    const passes = allPasses();
    const width = Math.max(...passes.map((p) => p.name.length));
    process.stdout.write(passes.map((p) => `${p.name.padEnd(width)}  ${p.description}`).join("\n") + `\n\ndefault pipeline: ${defaultPipeline.join(",")}\n`);
    return 0;
  },
};
