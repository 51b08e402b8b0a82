// Command-line parsing shared by the graphc commands.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../base/errors.js";
import { checkCompileOptions, checkDims, checkSeed, type TrainOptions } from "../driver.js";
import type { ElaborateOptions } from "../frontend/index.js";

/** One command-line option, declared once: parseArgs' config and the --help text both come from it. */
export interface Option {
  /** The value's placeholder in the help (e.g. "DIR"); an option without one is a flag. */
  value?: string;
  short?: string;
  /** May be given more than once. */
  multiple?: boolean;
  /** What applies when the option is absent, as the help shows it. */
  default?: string;
  description: string;
}

/** A command's options by long name (without the dashes). */
export type Options = Readonly<Record<string, Option>>;

/** Every command takes it; main answers it before the command runs. */
const helpOption: Options = { help: { short: "h", description: "print this help" } };

/** Options every command that reads a model accepts. */
export const modelOptions: Options = {
  set: { value: "NAME=VALUE", multiple: true, description: "set a model parameter (e.g. --set classes=10)" },
  shape: { value: "INPUT=DxDx...", multiple: true, description: "give an input another shape (e.g. --shape image=4x3x224x224)" },
  model: { value: "NAME", default: "the file's last model", description: "which model of the file" },
};

/** What a training compile takes (compile --train, graphc train): docs/TRAINING.md. */
export const trainOptions: Options = {
  loss: { value: "OUTPUT", default: "loss", description: "the output to minimise (one f32 value)" },
  optimizer: { value: "sgd|adam|adamw", default: "sgd", description: "PyTorch's torch.optim formulas" },
  lr: { value: "X", default: "0.01 for sgd, 0.001 for adam and adamw", description: "the learning rate" },
  momentum: { value: "X", default: "0", description: "sgd: the momentum" },
  "weight-decay": { value: "X", default: "0; adamw 0.01", description: "L2 penalty (sgd, adam) or decoupled weight decay (adamw)" },
  batch: { value: "N", default: "the inputs' own leading dimensions", description: "examples per step: the leading dimension of every input (its declared or --shape shape otherwise)" },
  "train-only": { value: "PATTERN", multiple: true, default: "every trainable weight", description: "train only the weights matching PATTERN (`*` is any run of characters, e.g. classifier.*)" },
};

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A count flag (--batch, --steps): a positive decimal integer that a double holds exactly; undefined when not given. */
export function positiveInteger(values: Record<string, unknown>, flag: string): number | undefined {
  const text = values[flag] as string | undefined;
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--${flag} expects a positive integer, got \`${text}\``);
  return Number(text);
}

/** The training options of the command line, checked as compile()'s are. */
export function trainOptionsFrom(values: Record<string, unknown>): TrainOptions {
  const number = (flag: string) => {
    const text = values[flag] as string | undefined;
    if (text === undefined) return undefined;
    if (!NUMBER.test(text)) throw new UsageError(`--${flag} expects a number, got \`${text}\``);
    return Number(text);
  };
  const batch = positiveInteger(values, "batch");
  const train: TrainOptions = {
    ...(values.loss !== undefined ? { loss: values.loss as string } : {}),
    ...(values.optimizer !== undefined ? { optimizer: values.optimizer as TrainOptions["optimizer"] } : {}),
    ...(values.lr !== undefined ? { lr: number("lr")! } : {}),
    ...(values.momentum !== undefined ? { momentum: number("momentum")! } : {}),
    ...(values["weight-decay"] !== undefined ? { weightDecay: number("weight-decay")! } : {}),
    ...(batch !== undefined ? { batch } : {}),
    ...(values["train-only"] !== undefined ? { trainOnly: values["train-only"] as string[] } : {}),
  };
  try {
    return checkCompileOptions({ train }).train!;
  } catch (e) {
    // The checks name compile()'s options (train.lr, weightDecay); here the flags are what was typed.
    if (!(e instanceof UsageError)) throw e;
    throw new UsageError(e.message.replace(/^(?:train\.)?(\w+)/, (name, key: string) => (Object.hasOwn(trainFlags, key) ? `--${trainFlags[key]}` : name)));
  }
}

/** compile()'s train option -> its flag. */
const trainFlags: Record<string, string> = { loss: "loss", optimizer: "optimizer", lr: "lr", momentum: "momentum", weightDecay: "weight-decay", batch: "batch", trainOnly: "train-only" };

export function parse(argv: string[], options: Options): { values: Record<string, unknown>; positionals: string[] } {
  const config: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, o] of Object.entries({ ...options, ...helpOption }))
    config[name] = { type: o.value === undefined ? "boolean" : "string", ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // parseArgs keeps the last of a repeated value; the ones before would be dropped without a word.
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || t.value === undefined || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`${t.rawName} is given twice`);
    seen.add(t.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/** The options' part of a command's --help: one line each, with its default. */
export function optionsHelp(options: Options): string {
  const entries = Object.entries({ ...options, ...helpOption }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value === undefined ? "" : ` ${o.value}`}${o.multiple ? " ..." : ""}`;
    return [flag, `${o.description}${o.default === undefined ? "" : ` (default: ${o.default})`}`] as const;
  });
  const width = Math.max(...entries.map(([flag]) => flag.length));
  return entries.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`).join("\n");
}

export function pairs(items: unknown, flag: string): [string, string][] {
  return ((items as string[] | undefined) ?? []).map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects NAME=VALUE, got \`${item}\``);
    return [item.slice(0, eq), item.slice(eq + 1)];
  });
}

/** pairs() as a record: a NAME given twice is an error, not the last one silently winning. */
function uniquePairs(items: unknown, flag: string): Record<string, string> {
  const given = pairs(items, flag);
  const names = new Set<string>();
  for (const [name] of given) {
    if (names.has(name)) throw new UsageError(`${flag} ${name} is given twice`);
    names.add(name);
  }
  return Object.fromEntries(given);
}

/** A decimal integer's value; any other text stays text, for the driver's checks to show as given. */
const decimal = (text: string): number | string => (/^\d+$/.test(text) ? Number(text) : text);

/** --set k=v, --shape name=1x3x224x224 and --model into frontend options. */
export function elaborateOptions(values: Record<string, unknown>): ElaborateOptions {
  const shapes: Record<string, number[]> = {};
  for (const [name, dims] of Object.entries(uniquePairs(values.shape, "--shape"))) shapes[name] = checkDims(dims.split(/[x,]/).map(decimal), `--shape ${name}=${dims}`);
  const opts: ElaborateOptions = { set: uniquePairs(values.set, "--set"), shapes };
  if (typeof values.model === "string") opts.model = values.model;
  return opts;
}

/** --seed N (default 0): decimal digits only, so "", "0x10" and "1e3" are refused. */
export function seedOf(values: Record<string, unknown>): number {
  return checkSeed(typeof values.seed === "string" ? decimal(values.seed) : 0, "--seed");
}

export function onePath(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one .nn or .onnx file${positionals.length > 1 ? `, got ${positionals.length}: ${positionals.join(" ")}` : ""}\nusage: ${usage}`);
  return positionals[0]!;
}

export function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\`\nusage: ${usage}`);
}
