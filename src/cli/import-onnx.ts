// graphc import: an ONNX model as readable .nn source and a safetensors file of its weights,
// which `graphc compile DIR/NAME.nn --weights DIR/NAME.safetensors` compiles to the same model
// compile/run of the .onnx gives (both go through the driver's importModel).
import { basename, join } from "node:path";
import { UsageError } from "../base/errors.js";
import { elaborate, importModel, readOnnxFile } from "../driver.js";
import { sanitizeModelName } from "../onnx/import.js";
import { writeSafetensors } from "../weights/safetensors.js";
import { elaborateOptions, onePath, parse, type Options } from "./args.js";
import type { Command } from "./command.js";
import { writeDiagnostics } from "./command.js";
import { checkOutputDir, writeFiles } from "./outputs.js";
import { formatBytes } from "./table.js";

const usage = "graphc import MODEL.onnx -o DIR [--shape INPUT=DxDx...] [--name NAME]";

const options: Options = {
  output: { short: "o", value: "DIR", description: "write NAME.nn and NAME.safetensors into DIR (made if needed; required)" },
  shape: { value: "INPUT=DxDx...", multiple: true, description: "the input's size, needed for each dynamic dim (e.g. --shape x=1x3x48x192)" },
  name: { value: "NAME", default: "the file's base name", description: "the model's name and the files' base name" },
};

export const importCommand: Command = {
  summary: "convert an ONNX model to .nn source and a safetensors checkpoint (shape subgraphs folded for the given input sizes)",
  usage,
  options,
  run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    const dir = values.output;
    if (typeof dir !== "string") throw new UsageError(`missing -o DIR\nusage: ${usage}`);
    if (values.name !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(values.name as string)) throw new UsageError(`--name must be an identifier (letters, digits, _), got \`${values.name}\``);
    if (values.name !== undefined && sanitizeModelName(values.name as string) !== values.name) throw new UsageError(`--name: \`${values.name}\` is a keyword of the .nn language`);
    checkOutputDir(dir, "-o");
    const shapes = elaborateOptions(values).shapes;
    const name = (values.name as string | undefined) ?? basename(file).replace(/\.onnx$/i, "");
    const imported = importModel(readOnnxFile(file), file, { ...(shapes ? { shapes } : {}), name });
    writeDiagnostics(imported.warnings.map((w) => `warning: ${w}`), 0);
    // The source must elaborate: a model graphc wrote but cannot read is a bug, caught here.
    elaborate({ path: join(dir, `${imported.name}.nn`), text: imported.source });
    const tensors = [...imported.weights].map(([n, data]) => ({ name: n, shape: imported.shapes.get(n)!, data }));
    const metadata = { format: "pt", producer: "graphc import", source: basename(file), ...(imported.onnxNames.size ? { onnx_names: JSON.stringify(Object.fromEntries(imported.onnxNames)) } : {}) };
    const weights = writeSafetensors(tensors, metadata);
    writeFiles(dir, [
      { name: `${imported.name}.nn`, contents: imported.source },
      { name: `${imported.name}.safetensors`, contents: weights },
    ]);
    process.stderr.write(`graphc: wrote ${imported.name}.nn and ${imported.name}.safetensors (${tensors.length} tensors, ${formatBytes(weights.byteLength)}) to ${dir}\n`);
    return 0;
  },
};
