import { isOnnxPath } from "../driver.js";
import { elaborateFile } from "../frontend/index.js";
import { formatType, numel, type Graph } from "../ir/graph.js";
import { modelStats, nodeMacs } from "../ir/stats.js";
import { elaborateOptions, modelOptions, onePath, parse, type Options } from "./args.js";
import { reportDiagnostics, type Command } from "./command.js";
import { modelFromArgs } from "./model.js";
import { renderTable, thousands } from "./table.js";

const usage = "graphc inspect FILE.nn|FILE.onnx [--json] [options]";

const options: Options = { ...modelOptions, json: { description: "print one JSON object {model, inputs, outputs, params, macs, weights} instead of the table" } };

function layerTable(g: Graph): string {
  const rows = g.nodes.map((n) => {
    const params = n.inputs.map((id) => g.weights.find((w) => w.value === id)).filter((w) => w?.trainable).reduce((s, w) => s + numel(w!.type.shape), 0);
    const macs = nodeMacs(g, n.id);
    return [n.path || "-", n.op, n.outputs.map((o) => `[${g.values[o]!.type.shape.join(", ")}]`).join(" "), params ? thousands(params) : "", macs ? thousands(macs) : ""];
  });
  return renderTable(["path", "op", "output shape", "params", "MACs"], rows, new Set([3, 4]));
}

export const inspectCommand: Command = {
  summary: "print a model's layers, shapes, parameter and MAC counts (--json for machines)",
  usage,
  options,
  run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    let g: Graph;
    // An ONNX model is imported (its problems are a CompileError main prints).
    if (isOnnxPath(file)) g = modelFromArgs(file, values).graph;
    else {
      const r = elaborateFile(file, elaborateOptions(values));
      // A graph-less result always carries an error (an empty file included).
      if (reportDiagnostics(r) || !r.graph) return 1;
      g = r.graph;
    }
    const s = modelStats(g);
    if (values.json) {
      process.stdout.write(JSON.stringify({ model: g.name, inputs: s.inputs, outputs: s.outputs, params: s.params, macs: s.macs, weights: s.weights }) + "\n");
      return 0;
    }
    const ports = (ps: typeof s.inputs) => ps.map((p) => `${p.name}: ${formatType(p)}`).join(", ");
    const buffers = g.weights.filter((w) => !w.trainable).length;
    process.stdout.write(
      [
        `model ${g.name}`,
        `inputs:  ${ports(s.inputs)}`,
        `outputs: ${ports(s.outputs)}`,
        "",
        layerTable(g),
        "",
        `params:  ${thousands(s.params)} trainable in ${s.weights.length - buffers} tensors (+ ${buffers} buffers)`,
        `MACs:    ${thousands(s.macs)} (${(s.macs / 1e9).toFixed(3)} G)`,
        `nodes:   ${g.nodes.length}`,
      ].join("\n") + "\n",
    );
    return 0;
  },
};
