import { UsageError } from "../base/errors.js";
import { modelOptions, onePath, parse, seedOf, type Options } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputFile, writeFile } from "./outputs.js";
import { formatBytes } from "./table.js";
import { writeSafetensors } from "../weights/safetensors.js";

const usage = "graphc init-weights FILE.nn -o WEIGHTS.safetensors [options]";

const options: Options = {
  ...modelOptions,
  seed: weightOptions.seed!,
  output: { short: "o", value: "WEIGHTS.safetensors", description: "the checkpoint to write (required)" },
};

export const initWeightsCommand: Command = {
  summary: "write the model's seeded default weights as a safetensors checkpoint",
  usage,
  options,
  run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    if (typeof values.output !== "string") throw new UsageError(`missing -o WEIGHTS.safetensors\nusage: ${usage}`);
    const seed = seedOf(values);
    checkOutputFile(values.output, "-o");
    const model = modelFromArgs(file, values);
    const g = model.graph;
    const data = weightsFromArgs(model, values);
    const bytes = writeSafetensors(g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: data.get(w.name)! })), { format: "pt", producer: "graphc", seed: String(seed) });
    writeFile(values.output, bytes);
    process.stderr.write(`graphc: wrote ${g.weights.length} tensors (${formatBytes(bytes.length)}) to ${values.output}\n`);
    return 0;
  },
};
