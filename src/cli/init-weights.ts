import { UsageError } from "../base/errors.js";
import { modelOptions, onePath, parse, seedOf } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightsFromArgs } from "./model.js";
import { checkOutputFile, writeFile } from "./outputs.js";
import { writeSafetensors } from "../weights/safetensors.js";

const usage = "graphc init-weights FILE.nn -o WEIGHTS.safetensors [--seed N] [--set NAME=VALUE]... [--shape INPUT=DxDx...]...";

export const initWeightsCommand: Command = {
  summary: "write the model's seeded default weights as a safetensors checkpoint",
  usage,
  run(argv) {
    const { values, positionals } = parse(argv, { ...modelOptions, seed: { type: "string" }, output: { type: "string", short: "o" } });
    const file = onePath(positionals, usage);
    if (typeof values.output !== "string") throw new UsageError(`missing -o WEIGHTS.safetensors\nusage: ${usage}`);
    const seed = seedOf(values);
    checkOutputFile(values.output, "-o");
    const g = modelFromArgs(file, values);
    const data = weightsFromArgs(g, values);
    const bytes = writeSafetensors(g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: data.get(w.name)! })), { format: "pt", producer: "graphc", seed: String(seed) });
    writeFile(values.output, bytes);
    process.stderr.write(`wrote ${g.weights.length} tensors (${(bytes.length / 2 ** 20).toFixed(1)} MiB) to ${values.output}\n`);
    return 0;
  },
};
