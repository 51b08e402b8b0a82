#!/usr/bin/env node
// graphc: the command-line entry.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { optionsHelp } from "./args.js";
import { execute, type Command } from "./command.js";
import { inspectCommand } from "./inspect.js";
import { checkCommand } from "./check.js";
import { initWeightsCommand } from "./init-weights.js";
import { runCommand } from "./run.js";
import { exportOnnxCommand } from "./export-onnx.js";
import { importCommand } from "./import-onnx.js";
import { compileCommand, passesCommand } from "./compile.js";
import { vizCommand } from "./viz.js";

const commands: Record<string, Command> = {
  compile: compileCommand,
  passes: passesCommand,
  check: checkCommand,
  inspect: inspectCommand,
  run: runCommand,
  "init-weights": initWeightsCommand,
  "export-onnx": exportOnnxCommand,
  import: importCommand,
  viz: vizCommand,
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
    "Run `graphc <command> --help` for a command's options; `graphc --version` prints the version.",
  ].join("\n");
}

/** graphc's package.json: the nearest one named graphc above this file (dist/src/cli, or a test's own build). */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    let pkg: { name?: unknown; version?: unknown };
    try {
      pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as typeof pkg;
    } catch {
      continue;
    }
    if (pkg.name === "graphc" && typeof pkg.version === "string") return pkg.version;
  }
  return "unknown (no package.json found)";
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help() + "\n");
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`graphc ${version()}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    process.stderr.write(`graphc: unknown command \`${name}\`\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${cmd.summary}\n\nusage: ${cmd.usage}\n\noptions:\n${optionsHelp(cmd.options)}\n`);
    return 0;
  }
  return execute(name, cmd, rest);
}

process.exitCode = await main(process.argv.slice(2));
