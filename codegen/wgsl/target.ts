// The WebGPU target: one WGSL compute shader per kernel and a small host in the ES module.
import { formatType, numel, type Graph } from "../../src/ir/graph.js";
import { isView } from "../../src/ir/memory.js";
import { isNHWC, unsupported } from "../../src/ir/ops.js";
import { byteCount } from "../../src/ir/rewrite.js";
import { describeNode, type LimitProblem, type Target } from "../target.js";
import { unsupportedOp } from "./kernels.js";
import { emitWgslModule, MAX_BINDING_BYTES } from "./module.js";

/** Every tensor with a GPU buffer of its own (32 bits an element) that a shader cannot bind. */
function bufferProblems(g: Graph): LimitProblem[] {
  return g.values.flatMap((v) => {
    const producer = v.kind === "node" ? g.nodes[v.producer!]! : undefined;
    const bytes = numel(v.type.shape) * 4;
    if (bytes <= MAX_BINDING_BYTES || (producer && isView(producer.op))) return []; // a view shares its input's buffer
    const port = g.inputs.find((p) => p.value === v.id);
    const constant = g.constants.find((c) => c.value === v.id);
    const what = producer ? `${describeNode(producer)} makes` : port ? `input \`${port.name}\` is` : constant?.name ? `weight \`${constant.name}\` is` : "a constant is";
    const limit = `a WebGPU shader binds at most ${byteCount(MAX_BINDING_BYTES)} bytes (${MAX_BINDING_BYTES / 2 ** 20} MiB, the default maxStorageBufferBindingSize)`;
    return [{ message: `the wgsl target: ${what} ${formatType(v.type)}, ${byteCount(bytes)} bytes; ${limit}`, ...(producer ? { node: producer } : {}) }];
  });
}

export const wgslTarget: Target = {
  name: "wgsl",
  description: "WGSL compute shaders for WebGPU: an ES module that takes the caller's GPUDevice, and a weights file",
  // The shaders read NCHW tensors: channels-last would only add transposes.
  pipeline: (standard) => standard.filter((p) => p !== "layout"),
  supports: (_g, node) => unsupportedOp(node.op) ?? (isNHWC(node.attrs) ? unsupported("channels-last (NHWC) tensors") : true),
  checkOptions: (o) =>
    o.relaxedSimd !== undefined || o.embedWeights || (o.weightsDtype ?? "f32") !== "f32" ? "relaxed SIMD, embedded weights and f16 / int8 weights are options of the wasm target" : undefined,
  limits: bufferProblems,
  emit: (graph) => emitWgslModule(graph, graph.name),
};
