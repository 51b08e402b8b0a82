// Shared by the commands that need an elaborated model and its weights: the driver's first two
// stages, with the command line's messages.
import { UsageError } from "../base/errors.js";
import { elaborate, hasSeededWeights, modelWeights, type Elaborated, type WeightOptions } from "../driver.js";
import type { Graph } from "../ir/graph.js";
import { readInputFile } from "../weights/npy.js";
import type { TensorData } from "../weights/tensor.js";
import { elaborateOptions, pairs, seedOf, type Options } from "./args.js";
import { writeDiagnostics } from "./command.js";

/** The inputs given as NAME=PATH items of `flag` (.npy or raw little-endian .bin files), by name. */
export function inputFiles(g: Graph, items: unknown, flag: string): Record<string, TensorData> {
  const samples = inputSamples(g, items, flag);
  if (samples.length > 1) throw new UsageError(`${flag} gives input \`${Object.keys(samples[1]!)[0]}\` twice`);
  return samples[0] ?? {};
}

/** NAME=PATH items as samples of the inputs: the k-th item naming an input is that input in sample k, and every sample names every input that any does. */
export function inputSamples(g: Graph, items: unknown, flag: string): Record<string, TensorData>[] {
  const samples: Record<string, TensorData>[] = [];
  for (const item of (items as string[] | undefined) ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects NAME=PATH, got \`${item}\``);
    const name = item.slice(0, eq);
    const port = g.inputs.find((p) => p.name === name);
    if (!port) throw new UsageError(`model ${g.name} has no input \`${name}\` (inputs: ${g.inputs.map((p) => p.name).join(", ")})`);
    const k = samples.findIndex((sample) => !(name in sample));
    const sample = k < 0 ? samples[samples.push({}) - 1]! : samples[k]!;
    sample[name] = readInputFile(item.slice(eq + 1), name, g.values[port.value]!.type);
  }
  const named = new Set(samples.flatMap((sample) => Object.keys(sample)));
  for (const [k, sample] of samples.entries())
    for (const name of named) if (!(name in sample)) throw new UsageError(`${flag} gives input \`${name}\` ${k} time${k > 1 ? "s" : ""} but others ${samples.length} times: give each input once per sample`);
  return samples;
}

/** The model of FILE (.nn, or .onnx imported with its weights); its errors are a CompileError (main prints them). */
export function modelFromArgs(file: string, values: Record<string, unknown>): Elaborated {
  const model = elaborate({ path: file }, elaborateOptions(values));
  writeDiagnostics(model.warnings, 0);
  return model;
}

export const weightOptions: Options = {
  weights: { value: "W.safetensors|W.pth", default: "seeded weights", description: "the model's weights, a safetensors or PyTorch (torch.save) checkpoint" },
  seed: { value: "N", default: "0", description: "the seed of the default weights and random inputs, a decimal integer in [0, 2^32)" },
  rename: { value: "OLD=NEW", multiple: true, description: "rewrite checkpoint names starting with OLD to start with NEW, in order (e.g. --rename module.=)" },
  strict: { description: "missing unread buffers (num_batches_tracked) and checkpoint tensors the model does not declare are errors" },
  "allow-unexpected": { description: "checkpoint tensors the model does not declare are warnings, even with --strict" },
};

/** The weight options of the command line as the driver takes them (the weights read by it). */
export function cliWeightOptions(values: Record<string, unknown>): WeightOptions {
  const file = values.weights as string | undefined;
  if (file === "") throw new UsageError("--weights needs a .safetensors or .pt/.pth file");
  return { ...(file !== undefined ? { weights: file } : {}), seed: seedOf(values), strict: values.strict === true, allowUnexpected: values["allow-unexpected"] === true, rename: pairs(values.rename, "--rename") };
}

/** --weights W.safetensors (or W.pth), an ONNX model's own weights, or the seeded default (announced: it runs the interpreter once). */
export function weightsFromArgs(model: Elaborated, values: Record<string, unknown>): Map<string, TensorData> {
  const g = model.graph;
  const options = cliWeightOptions(values);
  if (hasSeededWeights(model, options.weights) && g.nodes.some((n) => n.op === "batchnorm"))
    process.stderr.write(`graphc: no --weights: seeded weights, BatchNorm statistics calibrated by one interpreter pass...\n`);
  const { data, warnings } = modelWeights(g, { ...options, weights: options.weights ?? model.weights });
  for (const w of warnings) process.stderr.write(`${w}\n`);
  return data;
}
