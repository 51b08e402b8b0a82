#!/usr/bin/env node
// graphc: the command-line entry.
import { UsageError } from "../base/errors.js";
import { CompileError } from "../driver.js";
import { writeDiagnostics, type Command } from "./command.js";
import { inspectCommand } from "./inspect.js";
import { checkCommand } from "./check.js";
import { initWeightsCommand } from "./init-weights.js";
import { runCommand } from "./run.js";
import { InterpError } from "../interp/index.js";
import { WeightsError } from "../weights/tensor.js";
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
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`graphc ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof CompileError) {
      writeDiagnostics(e.diagnostics, e.diagnostics.length);
      return 1;
    }
    // Bad data (a malformed checkpoint or input, an id out of range): the user's, not ours.
    if (e instanceof WeightsError || e instanceof InterpError) {
      process.stderr.write(`graphc ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
