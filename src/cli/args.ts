// Command-line parsing shared by the graphc commands.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../base/errors.js";
import { checkDims, checkSeed } from "../driver.js";
import type { ElaborateOptions } from "../frontend/index.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Options every command that reads a model accepts. */
export const modelOptions: Options = {
  set: { type: "string", multiple: true },
  shape: { type: "string", multiple: true },
  model: { type: "string" },
};

export function parse(argv: string[], options: Options): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function pairs(items: unknown, flag: string): [string, string][] {
  return ((items as string[] | undefined) ?? []).map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects NAME=VALUE, got \`${item}\``);
    return [item.slice(0, eq), item.slice(eq + 1)];
  });
}

/** A decimal integer's value; any other text stays text, for the driver's checks to show as given. */
const decimal = (text: string): number | string => (/^\d+$/.test(text) ? Number(text) : text);

/** --set k=v, --shape name=1x3x224x224 and --model into frontend options. */
export function elaborateOptions(values: Record<string, unknown>): ElaborateOptions {
  const shapes: Record<string, number[]> = {};
  for (const [name, dims] of pairs(values.shape, "--shape")) shapes[name] = checkDims(dims.split(/[x,]/).map(decimal), `--shape ${name}=${dims}`);
  const opts: ElaborateOptions = { set: Object.fromEntries(pairs(values.set, "--set")), shapes };
  if (typeof values.model === "string") opts.model = values.model;
  return opts;
}

/** --seed N (default 0): decimal digits only, so "", "0x10" and "1e3" are refused. */
export function seedOf(values: Record<string, unknown>): number {
  return checkSeed(typeof values.seed === "string" ? decimal(values.seed) : 0, "--seed");
}

export function onePath(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one .nn file${positionals.length > 1 ? `, got ${positionals.length}: ${positionals.join(" ")}` : ""}\nusage: ${usage}`);
  return positionals[0]!;
}

export function noPositionals(positionals: string[], usage: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\`\nusage: ${usage}`);
}
