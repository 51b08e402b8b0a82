// Writing a compiled module (any target's files) to a temporary directory and importing it as a
// user would.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import type { LoadedModel, LoadOptions } from "../../codegen/module/runtime.js";
import type { TargetFile } from "../../codegen/target.js";

/** Node 20 needs this before the first wasm compile to accept relaxed SIMD (Node 22+ has it on). */
export function enableRelaxedSimd(): void {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
}

export function writeFiles(files: readonly TargetFile[], dir = mkdtempSync(join(tmpdir(), "graphc-module-"))): string {
  for (const f of files) writeFileSync(join(dir, f.name), f.contents);
  return dir;
}

export interface GeneratedModule {
  load(options?: LoadOptions): Promise<LoadedModel>;
}

export async function importModule(dir: string, mjs: string): Promise<GeneratedModule> {
  return (await import(pathToFileURL(join(dir, mjs)).href)) as GeneratedModule;
}
