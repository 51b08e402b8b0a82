// graphc export-onnx: a model and its weights (a checkpoint or the seeded default) as an ONNX file.
import { UsageError } from "../base/errors.js";
import { exportOnnx } from "../onnx/export.js";
import { modelOptions, onePath, parse, seedOf, type Options } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputFile, writeFile } from "./outputs.js";
import { formatBytes } from "./table.js";

const usage = "graphc export-onnx FILE.nn -o MODEL.onnx [options]";

const options: Options = { ...modelOptions, ...weightOptions, output: { short: "o", value: "MODEL.onnx", description: "the ONNX file to write (required)" } };

export const exportOnnxCommand: Command = {
  summary: "write a model with its weights as an ONNX file (opset 17)",
  usage,
  options,
  run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    const out = values.output;
    if (typeof out !== "string" || out === "") throw new UsageError(`missing -o MODEL.onnx\nusage: ${usage}`);
    seedOf(values);
    if (typeof values.weights === "string" && values.seed !== undefined) throw new UsageError("--seed only applies without --weights");
    checkOutputFile(out, "-o");
    const model = modelFromArgs(file, values);
    const g = model.graph;
    const bytes = exportOnnx(g, weightsFromArgs(model, values));
    writeFile(out, bytes);
    process.stderr.write(`graphc: wrote ${g.name} (opset 17, ${formatBytes(bytes.byteLength)}) to ${out}\n`);
    return 0;
  },
};
