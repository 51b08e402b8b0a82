// Shared by the commands that need an elaborated model and its weights: the driver's first two
// stages, with the command line's messages.
import { existsSync } from "node:fs";
import { UsageError } from "../base/errors.js";
import { elaborate, modelWeights } from "../driver.js";
import type { Graph } from "../ir/graph.js";
import type { TensorData } from "../weights/tensor.js";
import { elaborateOptions } from "./args.js";
import { writeDiagnostics } from "./command.js";

/** The model of FILE; its errors are a CompileError (main prints them). */
export function modelFromArgs(file: string, values: Record<string, unknown>): Graph {
  const { graph, warnings } = elaborate({ path: file }, elaborateOptions(values));
  writeDiagnostics(warnings, 0);
  return graph;
}

export const weightOptions = {
  weights: { type: "string" },
  seed: { type: "string" },
  "allow-unexpected": { type: "boolean" },
} as const;

export function seedOf(values: Record<string, unknown>): number {
  const seed = Number(values.seed ?? 0);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be an integer in [0, 2^32), got ${String(values.seed)}`);
  return seed;
}

/** --weights W.safetensors, or the seeded default (announced: it runs the interpreter once). */
export function weightsFromArgs(g: Graph, values: Record<string, unknown>): Map<string, TensorData> {
  const file = values.weights as string | undefined;
  if (file !== undefined && !existsSync(file)) throw new UsageError(`cannot read weights file ${file}`);
  if (file === undefined && g.nodes.some((n) => n.op === "batchnorm"))
    process.stderr.write(`graphc: no --weights: seeded weights, BatchNorm statistics calibrated by one interpreter pass...\n`);
  const { data, warnings } = modelWeights(g, { weights: file, seed: seedOf(values), allowUnexpected: values["allow-unexpected"] === true });
  for (const w of warnings) process.stderr.write(`${w}\n`);
  return data;
}
