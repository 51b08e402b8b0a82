// ONNX model -> .nn source text and a weights map: the one import path (`graphc import` writes
// both; compile/run/inspect of an .onnx file and compile() of ONNX bytes elaborate the text with
// the map as the weights).
//
// Nodes are visited in their (topological) order. A node whose inputs are all constants is
// evaluated (fold.ts): shape subgraphs and weight preparations disappear for the static input
// shapes. Any other node becomes .nn statements named after its outputs, through its entry in
// the op table (ops.ts). Weights are bound by label: an operator that owns weights (conv2d,
// batchnorm, linear, layernorm, embedding, prelu, parameter) is labelled so that its weights'
// .nn names are the ONNX initializer names when the label syntax can spell them, and otherwise a
// readable sanitised form, with the ONNX name kept in `onnxNames` (and in the .nn as a comment).
//
// Dynamic input dimensions must be given (`shapes`): a missing one is an error naming the input
// and the dimension, never a silent default. They become model parameters whose defaults are the
// given sizes; the shapes inside the model are folded for those sizes, which an assert states.
import { UsageError } from "../base/errors.js";
import type { TensorData } from "../weights/tensor.js";
import { dtypeOf, identifier, Importer, KEYWORDS } from "./ctx.js";
import { OnnxImportError, readOnnx, typeName, type OnnxModel } from "./model.js";
import { FLOOR_OPSET, OPS, requiredInputs, TOP_OPSET } from "./ops.js";

export { OnnxImportError } from "./model.js";

export interface ImportOptions {
  /** Sizes of the inputs (all of an input's dims; a dynamic one must be given). */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** The model's name (default: the ONNX graph's name). */
  name?: string;
}

export interface Imported {
  name: string;
  /** The .nn source. */
  source: string;
  /** Every weight by its .nn name. */
  weights: Map<string, TensorData>;
  /** .nn weight name -> ONNX name, where they differ. */
  onnxNames: Map<string, string>;
  /** Shapes of the weights, by .nn name (for the safetensors file). */
  shapes: Map<string, number[]>;
  warnings: string[];
}

/** The model's inputs with every dim known: the ONNX dims, `shapes` for the rest. */
function inputShapes(model: OnnxModel, shapes: Readonly<Record<string, readonly number[]>>, file: string) {
  const problems: string[] = [];
  // A shape for an input the model lacks is a usage error, as it is for a .nn model.
  const misgiven: string[] = [];
  const names = new Set(model.inputs.map((p) => p.name));
  for (const name of Object.keys(shapes)) if (!names.has(name)) misgiven.push(`--shape ${name}: ${file} has no input \`${name}\` (inputs: ${[...names].join(", ")})`);
  const ports = model.inputs.map((p) => {
    const given = shapes[p.name];
    const dtype = dtypeOf(p.elemType);
    // Element type 0 is UNDEFINED: no tensor type at all (a sequence, a map) or an untyped one.
    if (!dtype) problems.push(`input \`${p.name}\`: ${p.elemType === 0 ? "not a tensor of a known element type" : `${typeName(p.elemType)} inputs are not supported`} (float, int32 and int64 tensors are)`);
    else if (!p.shaped && !given) problems.push(`input \`${p.name}\`: the model gives no shape; give it with --shape ${p.name}=DxDx...`);
    if (given && given.length !== p.dims.length && p.shaped) problems.push(`--shape ${p.name}: the input has ${p.dims.length} dims [${p.dims.map((d) => d ?? "?").join(", ")}], got ${given.length}`);
    const dims = (given && !p.shaped ? given.map(() => undefined) : p.dims).map((d, i) => {
      const size = given?.[i];
      if (typeof d === "number") {
        if (size !== undefined && size !== d) problems.push(`--shape ${p.name}: dim ${i} is ${d} in the model, got ${size}`);
        return { size: d };
      }
      return { size: size ?? 0, param: d ?? `${p.name}_dim${i}`, missing: size === undefined };
    });
    const missing = dims.flatMap((d, i) => ("missing" in d && d.missing ? [`${i} (${d.param})`] : []));
    if (missing.length) {
      const example = p.dims.map((d, i) => (typeof d === "number" ? d : (given?.[i] ?? "N"))).join("x");
      problems.push(`input \`${p.name}\`: dim${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} dynamic; give the input's size with --shape ${p.name}=${example} (a number for each N)`);
    }
    return { port: p, dtype: dtype ?? "f32", dims };
  });
  if (misgiven.length) throw new UsageError(misgiven.join("\n"));
  if (problems.length) throw new OnnxImportError(problems);
  return ports;
}

/** What the graph must be before any node is imported: each value defined once, each output defined, each node's required inputs given. */
function checkStructure(model: OnnxModel, file: string): void {
  const problems: string[] = [];
  const where = (n: OnnxModel["nodes"][number]) => `${n.op} node \`${n.name}\` (opset ${model.opset})`;
  const definedBy = new Map<string, string>();
  const define = (name: string, by: string) => {
    const before = definedBy.get(name);
    if (before !== undefined) problems.push(`${file}: value \`${name}\` is defined twice, by ${before} and by ${by}`);
    else definedBy.set(name, by);
  };
  for (const name of model.initializers.keys()) define(name, `initializer \`${name}\``);
  for (const p of model.inputs) define(p.name, `input \`${p.name}\``);
  for (const n of model.nodes) {
    for (const o of n.outputs) if (o) define(o, `the ${where(n)}`);
    if (n.domain || !Object.hasOwn(OPS, n.op)) continue;
    const required = requiredInputs(n.op, model.opset);
    const given = n.inputs.slice(0, required).filter((i) => i !== "").length;
    if (given < required) problems.push(`${where(n)}: ${n.op} needs ${required} input${required === 1 ? "" : "s"}, it has ${given}`);
  }
  for (const o of model.outputs) if (!definedBy.has(o.name)) problems.push(`${file}: output \`${o.name}\` is not computed by any node, nor an input or initializer`);
  if (problems.length) throw new OnnxImportError(problems);
}

/** ONNX bytes -> .nn source and weights. `file` names the model in messages. */
export function importOnnx(bytes: Uint8Array, file: string, options: ImportOptions = {}): Imported {
  const model = readOnnx(bytes, file);
  if (model.opset < FLOOR_OPSET || model.opset > TOP_OPSET) throw new OnnxImportError([`${file}: opset ${model.opset} is not supported (opsets ${FLOOR_OPSET} to ${TOP_OPSET} are)`]);
  checkStructure(model, file);
  const imp = new Importer(model, OPS);
  const ports = inputShapes(model, options.shapes ?? {}, file);

  // Dynamic dims become model parameters, named after their dim_param.
  const params = new Map<string, number>();
  const header: string[] = [];
  const inputLines = ports.map(({ port, dtype, dims }) => {
    const name = imp.varName(port.name);
    const text = dims.map((d) => {
      if (d.param === undefined) return String(d.size);
      const p = identifier(d.param);
      if (params.has(p) && params.get(p) !== d.size) throw new OnnxImportError([`dynamic dim ${d.param} is given two sizes, ${params.get(p)} and ${d.size}`]);
      params.set(p, d.size);
      return p;
    });
    imp.define(port.name, { kind: "tensor", name, dims: dims.map((d) => d.size), dtype });
    return `  input ${name}: ${dtype}[${text.join(", ")}]${name !== port.name ? `  # ONNX input ${port.name}` : ""}`;
  });
  for (const p of params.keys()) imp.varName(p);

  imp.run();

  const outputLines = model.outputs.map((o) => {
    const v = imp.lookup(o.name);
    const t = v.kind === "tensor" ? v : imp.constTensor(v, o.name);
    // `output` may rebind a variable's name: the port keeps the ONNX name where it can.
    const name = identifier(o.name);
    return `  output ${name} = ${t.name}${name !== o.name ? `  # ONNX output ${o.name}` : ""}`;
  });

  const modelName = sanitizeModelName(options.name ?? model.graphName ?? "model");
  header.push(`# Imported from ${file} by graphc (ONNX opset ${model.opset}${model.producer ? `, made by ${model.producer}` : ""}).`);
  if (imp.onnxNames.size) header.push("# Weights whose ONNX names the label syntax cannot spell are renamed; the comments and the weights file's metadata give the ONNX names.");
  const signature = [...params].map(([p, size]) => `${p}: int = ${size}`).join(", ");
  const body: string[] = [];
  if (params.size) {
    const cond = [...params].map(([p, size]) => `${p} == ${size}`).join(" && ");
    const sizes = [...params].map(([p, size]) => `${p}=${size}`).join(", ");
    body.push(`  assert ${cond}, "the shapes inside were folded for ${sizes}: import the .onnx again with --shape for other sizes"`);
  }
  const source = [...header, `model ${modelName}(${signature}) {`, ...body, ...inputLines, ...imp.lines, ...outputLines, "}", ""].join("\n");
  return { name: modelName, source, weights: imp.weights, onnxNames: imp.onnxNames, shapes: imp.weightShapes, warnings: imp.warnings };
}

export function sanitizeModelName(name: string): string {
  let n = name.replace(/[^A-Za-z0-9_]+/g, "_");
  if (n === "" || /^\d/.test(n)) n = `m${n}`;
  return KEYWORDS.has(n) ? `${n}_` : n;
}
