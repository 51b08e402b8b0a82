import { bindWeights } from "../ir/rewrite.js";
import { printGraph } from "../ir/print.js";
import { allPasses, defaultPipeline, getPass, runPipeline } from "../passes/index.js";
import { compileStats } from "../passes/stats.js";
import { modelOptions, onePath, parse, UsageError } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";

const usage =
  "graphc compile FILE.nn [--passes=a,b,c] [--print-after=PASS]... [--print-after-all] [--stats [--json]] [--weights W.safetensors] [--seed N] [--set NAME=VALUE]... [--shape INPUT=DxDx...]...";

export const compileCommand: Command = {
  summary: "optimise a model through the pass pipeline (--stats, --print-after for a look inside)",
  usage,
  run(argv) {
    const { values, positionals } = parse(argv, {
      ...modelOptions,
      ...weightOptions,
      passes: { type: "string" },
      "print-after": { type: "string", multiple: true },
      "print-after-all": { type: "boolean" },
      stats: { type: "boolean" },
      json: { type: "boolean" },
    });
    const file = onePath(positionals, usage);
    const pipeline = typeof values.passes === "string" ? values.passes.split(",").map((p) => p.trim()).filter(Boolean) : [...defaultPipeline];
    const printAfter = new Set((values["print-after"] as string[] | undefined) ?? []);
    for (const name of [...pipeline, ...printAfter])
      if (!getPass(name)) throw new UsageError(`unknown pass \`${name}\` (see \`graphc passes\`)`);
    if (values.json && !values.stats) throw new UsageError("--json goes with --stats");
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
    return 0;
  },
};

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
