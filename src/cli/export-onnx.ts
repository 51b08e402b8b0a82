// graphc export-onnx: a model and its weights (a checkpoint or the seeded default) as an ONNX file.
import { UsageError } from "../base/errors.js";
import { exportOnnx } from "../onnx/export.js";
import { modelOptions, onePath, parse, seedOf } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputFile, writeFile } from "./outputs.js";

const usage = "graphc export-onnx FILE.nn -o MODEL.onnx [--weights W.safetensors] [--seed N] [--set NAME=VALUE]... [--shape INPUT=DxDx...]... [--model NAME]";

export const exportOnnxCommand: Command = {
  summary: "write a model with its weights as an ONNX file (opset 17)",
  usage,
  run(argv) {
    const { values, positionals } = parse(argv, { ...modelOptions, ...weightOptions, output: { type: "string", short: "o" } });
    const file = onePath(positionals, usage);
    const out = values.output;
    if (typeof out !== "string" || out === "") throw new UsageError(`missing -o MODEL.onnx\nusage: ${usage}`);
    seedOf(values);
    if (typeof values.weights === "string" && values.seed !== undefined) throw new UsageError("--seed only applies without --weights");
    checkOutputFile(out, "-o");
    const g = modelFromArgs(file, values);
    writeFile(out, exportOnnx(g, weightsFromArgs(g, values)));
    return 0;
  },
};
