// graphc viz: a picture of a model's graph, before the pass pipeline or after one of its passes,
// as a static SVG or a zoomable, searchable HTML page.
import { extname } from "node:path";
import { UsageError } from "../base/errors.js";
import { optimise, pipelineFor } from "../driver.js";
import { renderHtml } from "../viz/html.js";
import { renderSvg } from "../viz/svg.js";
import { buffersOf, graphView } from "../viz/view.js";
import { modelOptions, onePath, parse, seedOf, type Options } from "./args.js";
import type { Command } from "./command.js";
import { modelFromArgs, weightOptions, weightsFromArgs } from "./model.js";
import { checkOutputFile, writeFile } from "./outputs.js";
import { formatBytes } from "./table.js";

const usage = "graphc viz FILE.nn -o GRAPH.svg|GRAPH.html [--after PASS|all] [options]";

const options: Options = {
  ...modelOptions,
  ...weightOptions,
  output: { short: "o", value: "GRAPH.svg|GRAPH.html", description: "the picture to write (required): .svg a static drawing, .html zoomable and searchable" },
  after: { value: "PASS|all", default: "before the pipeline", description: "draw the graph after this pass of the standard pipeline (see `graphc passes`), or after all of them" },
};

const formats = [".svg", ".html"];

export const vizCommand: Command = {
  summary: "draw a model's graph (ops, shapes, parameters, weights; fused kernels as groups) as SVG or searchable HTML",
  usage,
  options,
  run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    const out = values.output;
    if (typeof out !== "string") throw new UsageError(`give -o GRAPH.svg (a static drawing) or -o GRAPH.html (zoomable, searchable)\nusage: ${usage}`);
    const format = extname(out).toLowerCase();
    if (!formats.includes(format)) throw new UsageError(`-o ${out}: the picture is a .svg or a .html file`);
    const after = values.after as string | undefined;
    const pipeline = pipelineFor(undefined);
    const passes = after === undefined ? [] : after === "all" ? pipeline : pipeline.slice(0, pipeline.indexOf(after) + 1);
    if (after !== undefined && passes.length === 0) throw new UsageError(`--after ${after}: not a pass of the pipeline (${pipeline.join(", ")}) nor all`);
    // Before the pipeline the picture reads no weights: a weights option there would do nothing.
    for (const flag of Object.keys(weightOptions)) if (after === undefined && values[flag] !== undefined) throw new UsageError(`--${flag} goes with --after PASS`);
    seedOf(values);
    checkOutputFile(out, "-o");
    const model = modelFromArgs(file, values);
    const buffers = buffersOf(model.graph);
    const graph = after === undefined ? model.graph : optimise(model.graph, weightsFromArgs(model, values), passes).graph;
    const view = graphView(graph, { buffers });
    const contents = format === ".svg" ? renderSvg(view).svg : renderHtml(view);
    writeFile(out, contents);
    const kernels = view.boxes.filter((b) => b.contents).length;
    const when = after === undefined ? "before the passes" : `after ${after === "all" ? "the pipeline" : after}`;
    process.stderr.write(`graphc: wrote ${out} (${graph.name} ${when}: ${graph.nodes.length} nodes, ${kernels} fused kernels; ${formatBytes(Buffer.byteLength(contents))})\n`);
    return 0;
  },
};
