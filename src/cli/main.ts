#!/usr/bin/env node
// graphc: the command-line entry.
import { execute, type Command } from "./command.js";
import { inspectCommand } from "./inspect.js";
import { checkCommand } from "./check.js";
import { initWeightsCommand } from "./init-weights.js";
import { runCommand } from "./run.js";
import { exportOnnxCommand } from "./export-onnx.js";
import { compileCommand, passesCommand } from "./compile.js";

const commands: Record<string, Command> = {
  compile: compileCommand,
  passes: passesCommand,
  check: checkCommand,
  inspect: inspectCommand,
  run: runCommand,
  "init-weights": initWeightsCommand,
  "export-onnx": exportOnnxCommand,
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

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help() + "\n");
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    process.stderr.write(`graphc: unknown command \`${name}\`\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n`);
    return 0;
  }
  return execute(name, cmd, rest);
}

process.exitCode = await main(process.argv.slice(2));
