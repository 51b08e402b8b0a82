#!/usr/bin/env node
// graphc: the command-line entry.
import { renderDiagnostic, UsageError, type ElaborateResult } from "../frontend/index.js";
import { inspectCommand } from "./inspect.js";
import { checkCommand } from "./check.js";

export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): number;
}

const commands: Record<string, Command> = {
  check: checkCommand,
  inspect: inspectCommand,
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    "graphc — a declarative model-graph compiler",
    "",
    "usage: graphc <command> [options]",
    "",
    "commands:",
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `graphc <command> --help` for a command's options.",
  ].join("\n");
}

/** Prints diagnostics to stderr; true when any is an error. */
export function reportDiagnostics(r: ElaborateResult): boolean {
  for (const d of r.diagnostics) process.stderr.write(renderDiagnostic(d, r.sources) + "\n\n");
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  if (errors > 0) process.stderr.write(`${errors} error${errors === 1 ? "" : "s"}\n`);
  return errors > 0;
}

function main(argv: string[]): number {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help() + "\n");
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`graphc: unknown command \`${name}\`\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n`);
    return 0;
  }
  try {
    return cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`graphc ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
