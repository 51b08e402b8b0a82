import { elaborateFile } from "../frontend/index.js";
import { elaborateOptions, modelOptions, onePath, parse } from "./args.js";
import { reportDiagnostics, type Command } from "./command.js";

const usage = "graphc check FILE.nn [options]";

export const checkCommand: Command = {
  summary: "parse and elaborate a model; silent and exit 0 when it is well-formed",
  usage,
  options: modelOptions,
  run(argv) {
    const { values, positionals } = parse(argv, modelOptions);
    const r = elaborateFile(onePath(positionals, usage), elaborateOptions(values));
    return reportDiagnostics(r) ? 1 : 0;
  },
};
