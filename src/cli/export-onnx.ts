// graphc export-onnx: a model and its weights (a checkpoint or the seeded default) as an ONNX file.
import { writeFileSync } from "node:fs";
import { UsageError } from "../base/errors.js";
import { elaborateFile } from "../frontend/index.js";
import { exportOnnx } from "../onnx/export.js";
import { loadWeights } from "../weights/load.js";
import { WeightsError, type TensorData } from "../weights/tensor.js";
import { elaborateOptions, modelOptions, onePath, parse } from "./args.js";
import { reportDiagnostics, type Command } from "./command.js";

const usage = "graphc export-onnx FILE.nn -o MODEL.onnx [--weights W.safetensors] [--seed N] [--set NAME=VALUE]... [--shape INPUT=DxDx...]... [--model NAME]";

export const exportOnnxCommand: Command = {
  summary: "write a model with its weights as an ONNX file (opset 17)",
  usage,
  run(argv) {
    const { values, positionals } = parse(argv, {
      ...modelOptions,
      output: { type: "string", short: "o" },
      weights: { type: "string" },
      seed: { type: "string" },
    });
    const file = onePath(positionals, usage);
    const out = values.output;
    if (typeof out !== "string" || out === "") throw new UsageError(`missing -o MODEL.onnx\nusage: ${usage}`);
    let seed: number | undefined;
    if (typeof values.seed === "string") {
      if (!/^\d+$/.test(values.seed) || !Number.isSafeInteger(Number(values.seed))) throw new UsageError(`--seed expects a non-negative integer, got \`${values.seed}\``);
      seed = Number(values.seed);
    }
    if (typeof values.weights === "string" && seed !== undefined) throw new UsageError("--seed only applies without --weights");

    const r = elaborateFile(file, elaborateOptions(values));
    if (reportDiagnostics(r)) return 1;
    if (!r.graph) throw new UsageError(`${file} defines no model`);

    let data: Map<string, TensorData>;
    try {
      const loaded = loadWeights(r.graph, typeof values.weights === "string" ? { file: values.weights } : { seed: seed ?? 0 });
      for (const w of loaded.warnings) process.stderr.write(`graphc export-onnx: warning: ${w}\n`);
      data = loaded.data;
    } catch (e) {
      if (e instanceof WeightsError) {
        process.stderr.write(`graphc export-onnx: ${e.message}\n`);
        return 1;
      }
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === "string") {
        process.stderr.write(`graphc export-onnx: cannot read weights ${String(values.weights)}: ${code}\n`);
        return 1;
      }
      throw e;
    }

    const bytes = exportOnnx(r.graph, data);
    try {
      writeFileSync(out, bytes);
    } catch (e) {
      process.stderr.write(`graphc export-onnx: cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 1;
    }
    return 0;
  },
};
