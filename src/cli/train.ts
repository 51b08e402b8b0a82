// graphc train: a training module compiled in a temporary folder, stepped over .npy arrays (one
// example per leading index, shuffled with the seed, the last partial batch of each pass dropped),
// and the trained weights written as safetensors.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { LoadedTrainer } from "../../codegen/module/runtime.js";
import { UsageError } from "../base/errors.js";
import { compileTraining, elaborate } from "../driver.js";
import { InterpError } from "../interp/index.js";
import { formatType, numel } from "../ir/graph.js";
import { stream } from "../weights/init.js";
import { inputData, readNpyFile, type Tensor } from "../weights/npy.js";
import { fail, type TensorData } from "../weights/tensor.js";
import { elaborateOptions, modelOptions, onePath, pairs, parse, positiveInteger, trainOptions, trainOptionsFrom, type Options } from "./args.js";
import { writeDiagnostics, type Command } from "./command.js";
import { cliWeightOptions, weightOptions } from "./model.js";
import { checkOutputFile, writeFile, writeFiles } from "./outputs.js";

const usage = "graphc train FILE.nn --data INPUT=ARRAY.npy ... --steps N -o OUT.safetensors [options]";

const options: Options = {
  ...modelOptions,
  ...weightOptions,
  seed: { value: "N", default: "0", description: "the seed of the default weights, of the shuffle and of dropout's masks, a decimal integer in [0, 2^32)" },
  data: { value: "INPUT=ARRAY.npy", multiple: true, description: "the examples of a model input, one per leading index (every input needs one; all hold the same count)" },
  steps: { value: "N", description: "how many steps to train (required)" },
  ...trainOptions,
  batch: { value: "N", default: "the examples given, at most 32", description: "examples per step" },
  output: { short: "o", value: "OUT.safetensors", description: "where to write the trained weights (required)" },
};

interface Dataset {
  count: number;
  arrays: Map<string, { data: TensorData; rowSize: number; shape: number[]; path: string; dtype: Tensor["dtype"] }>;
}

function readData(values: Record<string, unknown>): Dataset {
  const arrays: Dataset["arrays"] = new Map();
  for (const [name, path] of pairs(values.data, "--data")) {
    if (arrays.has(name)) throw new UsageError(`--data ${name} is given twice`);
    if (path === "") throw new UsageError(`--data ${name}= needs the path of an .npy file`);
    const t = readNpyFile(path);
    // A NaN or an infinity in the data would show up as a diverging loss, blamed on the learning rate.
    const bad = t.dtype === "f32" ? (t.data as Float32Array).findIndex((v) => !Number.isFinite(v)) : -1;
    if (bad >= 0) fail("non_finite", path, `element ${bad} (example ${Math.floor(bad / numel(t.shape.slice(1)))}) is ${(t.data as Float32Array)[bad]}`);
    if (t.shape.length === 0) throw new UsageError(`--data ${name}=${path}: a scalar; the array needs one example per leading index`);
    arrays.set(name, { data: t.data, rowSize: numel(t.shape.slice(1)), shape: t.shape, path, dtype: t.dtype });
  }
  if (arrays.size === 0) throw new UsageError(`give the training data with --data INPUT=ARRAY.npy\nusage: ${usage}`);
  const counts = new Set([...arrays.values()].map((a) => a.shape[0]!));
  if (counts.size > 1) throw new UsageError(`the --data arrays hold different numbers of examples: ${[...arrays].map(([n, a]) => `${n} ${a.shape[0]}`).join(", ")}`);
  return { count: [...counts][0]!, arrays };
}

/** Examples `rows` of every array, stacked into one batch. */
function gather(d: Dataset, rows: number[]): Record<string, TensorData> {
  return Object.fromEntries(
    [...d.arrays].map(([name, a]) => {
      const out = new (a.data.constructor as new (n: number) => TensorData)(rows.length * a.rowSize);
      rows.forEach((r, i) => (out as Float32Array).set((a.data as Float32Array).subarray(r * a.rowSize, (r + 1) * a.rowSize), i * a.rowSize));
      return [name, out];
    }),
  );
}

export const trainCommand: Command = {
  summary: "train a model on .npy arrays (wasm, in this process) and write the trained weights as safetensors",
  usage,
  options,
  async run(argv) {
    const { values, positionals } = parse(argv, options);
    const file = onePath(positionals, usage);
    if (typeof values.output !== "string") throw new UsageError(`missing -o OUT.safetensors\nusage: ${usage}`);
    const steps = positiveInteger(values, "steps");
    if (steps === undefined) throw new UsageError(`missing --steps N\nusage: ${usage}`);
    checkOutputFile(values.output, "-o");
    const train = trainOptionsFrom(values);
    const data = readData(values);
    const batch = train.batch ?? Math.min(data.count, 32);
    if (batch > data.count) throw new UsageError(`--batch ${batch} is more than the ${data.count} examples given`);
    const elaborated = elaborateOptions(values);
    // The declared inputs (default shapes), to check the data's names before the compile.
    const declared = elaborate({ path: file }, { ...elaborated, shapes: {} }).graph;
    const inputs = declared.inputs.map((p) => p.name);
    const missing = inputs.find((n) => !data.arrays.has(n));
    if (missing) throw new UsageError(`no --data for input ${missing}`);
    const extra = [...data.arrays.keys()].find((n) => !inputs.includes(n));
    if (extra) throw new UsageError(`--data ${extra}: the model has no input ${extra} (inputs: ${inputs.join(", ")})`);
    // The data give the shapes, not the ranks or the dtypes (f32, or integers of either width for an integer input).
    for (const p of declared.inputs) {
      const a = data.arrays.get(p.name)!;
      const type = declared.values[p.value]!.type;
      const expects = `but the model's input ${p.name} is ${formatType(type)}`;
      a.data = inputData({ dtype: a.dtype, shape: a.shape, data: a.data }, type.dtype as Tensor["dtype"], a.path, expects);
      if (a.shape.length !== type.shape.length) fail("shape_mismatch", a.path, `has shape [${a.shape.join(", ")}] ${expects}: its rank must be the same`);
    }
    // Each input takes its data's shape, the leading dimension the batch; a --shape must agree with the data.
    const shapes = Object.fromEntries(
      [...data.arrays].map(([name, a]) => {
        const given = elaborated.shapes?.[name];
        if (given && given.slice(1).join() !== a.shape.slice(1).join()) throw new UsageError(`--shape ${name}=${given.join("x")} does not fit its --data, one example of shape ${a.shape.slice(1).join("x") || "[]"}`);
        return [name, [batch, ...a.shape.slice(1)]];
      }),
    );
    const weights = cliWeightOptions(values);
    process.stderr.write(`graphc: compiling the training step of ${file} (batch ${batch})...\n`);
    const compiled = await compileTraining({ path: file }, { ...elaborated, shapes, ...weights, relaxedSimd: "off", train: { ...train, batch, seed: weights.seed ?? 0 } });
    writeDiagnostics(compiled.warnings, 0);
    const dir = mkdtempSync(join(tmpdir(), "graphc-train-"));
    let trainer: LoadedTrainer;
    try {
      writeFiles(dir, compiled.files);
      const mjs = compiled.files.find((f) => f.name.endsWith(".mjs"))!.name;
      trainer = await ((await import(pathToFileURL(join(dir, mjs)).href)) as { load(): Promise<LoadedTrainer> }).load();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const next = stream(weights.seed ?? 0, "graphc train: shuffle");
    let order: number[] = [];
    const every = Math.max(1, Math.floor(steps / 20));
    let running = 0;
    const start = performance.now();
    for (let s = 1; s <= steps; s++) {
      // A fresh shuffle (Fisher-Yates) whenever less than a batch is left.
      if (order.length < batch) {
        order = Array.from({ length: data.count }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = next() % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      // The module refuses bad values in the data (an id outside its embedding) with a RangeError.
      const out = await trainer.step(gather(data, order.splice(0, batch))).catch((e: unknown) => Promise.reject(e instanceof RangeError ? new InterpError(`step ${s}: ${e.message}`) : e));
      const loss = (out[compiled.training.loss] as Float32Array)[0]!;
      if (!Number.isFinite(loss)) throw new UsageError(`step ${s}: the loss is ${loss}; try a smaller --lr`);
      // The running loss: an exponential average over about the last 10 steps.
      running = s === 1 ? loss : 0.9 * running + 0.1 * loss;
      if (s === 1 || s % every === 0 || s === steps) process.stderr.write(`graphc: step ${s}/${steps}  loss ${loss.toPrecision(4)}  running loss ${running.toPrecision(4)}  (${((performance.now() - start) / 1000).toFixed(1)} s)\n`);
    }
    const bytes = trainer.saveWeights();
    trainer.dispose();
    writeFile(values.output, bytes);
    process.stderr.write(`graphc: wrote the trained weights (${compiled.model.weights.length} tensors, after ${steps} steps) to ${values.output}\n`);
    return 0;
  },
};
