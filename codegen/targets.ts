// Every compile target by name: what `--target` and compile({ target }) choose from.
import { UsageError } from "../src/base/errors.js";
import type { Target } from "./target.js";
import { wasmTarget } from "./wasm/target.js";
import { wgslTarget } from "./wgsl/target.js";

export const targets = { wasm: wasmTarget, wgsl: wgslTarget } as const satisfies Record<string, Target>;

export type TargetName = keyof typeof targets;

const byName = new Map<string, Target>(Object.entries(targets));

/** The target called `name`; a UsageError lists the available ones. */
export function targetNamed(name: string): Target {
  const target = byName.get(name);
  if (!target) throw new UsageError(`unknown target \`${name}\` (available: ${[...byName.keys()].join(", ")})`);
  return target;
}
