import { isOnnxPath } from "../driver.js";
import { elaborateFile } from "../frontend/index.js";
import { elaborateOptions, modelOptions, onePath, parse } from "./args.js";
import { reportDiagnostics, type Command } from "./command.js";
import { modelFromArgs } from "./model.js";

const usage = "graphc check FILE.nn|FILE.onnx [options]";

export const checkCommand: Command = {
  summary: "parse and elaborate a model; silent and exit 0 when it is well-formed",
  usage,
  options: modelOptions,
  run(argv) {
    const { values, positionals } = parse(argv, modelOptions);
    const file = onePath(positionals, usage);
    // An ONNX model is imported; its problems are a CompileError main prints.
    if (isOnnxPath(file)) {
      modelFromArgs(file, values);
      return 0;
    }
    const r = elaborateFile(file, elaborateOptions(values));
    return reportDiagnostics(r) ? 1 : 0;
  },
};
