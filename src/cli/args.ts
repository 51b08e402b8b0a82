// Command-line parsing shared by the graphc commands.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../base/errors.js";
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

/** --set k=v, --shape name=1x3x224x224 and --model into frontend options. */
export function elaborateOptions(values: Record<string, unknown>): ElaborateOptions {
  const shapes: Record<string, number[]> = {};
  for (const [name, dims] of pairs(values.shape, "--shape")) {
    const parsed = dims.split(/[x,]/).map((d) => Number(d));
    if (parsed.length === 0 || parsed.some((d) => !Number.isInteger(d) || d < 1)) throw new UsageError(`--shape ${name}=${dims}: dimensions must be positive integers separated by x, e.g. 1x3x224x224`);
    shapes[name] = parsed;
  }
  const opts: ElaborateOptions = { set: Object.fromEntries(pairs(values.set, "--set")), shapes };
  if (typeof values.model === "string") opts.model = values.model;
  return opts;
}

export function onePath(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one .nn file\nusage: ${usage}`);
  return positionals[0]!;
}
