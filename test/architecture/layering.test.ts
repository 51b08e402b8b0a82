// The dependency direction of grammar/, src/ and codegen/, read from their import lines (type-only
// imports count too: they tie the files together just the same): no file imports itself through
// others, and each layer imports only the layers beneath it. The driver (src/driver.ts, the API,
// the CLI) sits on top and may import anything; the backends under codegen/ know the IR, never
// the frontend, the passes, the interpreter or the weights; the drawings (src/viz/) read the IR alone.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "../support/cli.js";

type Layer = "base" | "grammar" | "ir" | "autodiff" | "frontend" | "interp" | "passes" | "weights" | "onnx" | "codegen" | "viz" | "driver";

/** Which layers each may import besides its own; the driver may import every one. */
const allowed: Record<Exclude<Layer, "driver">, readonly Layer[]> = {
  base: [],
  grammar: ["base"],
  ir: ["base"],
  autodiff: ["ir", "base"],
  frontend: ["grammar", "ir", "base"],
  interp: ["ir", "base"],
  passes: ["ir", "interp", "base"],
  weights: ["ir", "interp", "base"],
  onnx: ["ir", "weights", "base"],
  codegen: ["ir", "base"],
  viz: ["ir", "base"],
};

const folders: [prefix: string, layer: Layer][] = [
  ["src/base/", "base"],
  ["grammar/", "grammar"],
  ["src/ir/", "ir"],
  ["src/autodiff/", "autodiff"],
  ["src/frontend/", "frontend"],
  ["src/interp/", "interp"],
  ["src/passes/", "passes"],
  ["src/weights/", "weights"],
  ["src/onnx/", "onnx"],
  ["codegen/", "codegen"],
  ["src/viz/", "viz"],
  ["src/cli/", "driver"],
  ["src/driver.ts", "driver"],
  ["src/api.ts", "driver"],
  ["src/precision.ts", "driver"],
];

function layerOf(file: string): Layer | undefined {
  return folders.find(([prefix]) => file.startsWith(prefix))?.[1];
}

/** The module specifiers of `import ... from`, `export ... from`, `import "..."` and `import("...")`. */
function specifiers(source: string): string[] {
  const forms = [/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/gm, /^\s*import\s*["']([^"']+)["']/gm, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  return forms.flatMap((form) => [...source.matchAll(form)].map((m) => m[1]!));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f).split("\\").join("/"))
    .sort();
}

/** Each file's imports of ours, as paths relative to the repository root. */
function importGraph(): Map<string, string[]> {
  const files = ["grammar", "src", "codegen"].flatMap(sourceFiles);
  return new Map(
    files.map((file) => {
      const relativeImports = specifiers(readFileSync(join(root, file), "utf8")).filter((s) => s.startsWith("."));
      const targets = relativeImports.map((s) => relative(root, resolve(root, dirname(file), s)).split("\\").join("/").replace(/\.js$/, ".ts"));
      return [file, [...new Set(targets)]];
    }),
  );
}

/** Every import cycle, once each, as "a -> b -> a". */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

const graph = importGraph();

describe("the import graph", () => {
  it("is read from every form of import", () => {
    const source = [
      'import { a,\n  b } from "./multi-line.js";',
      'import type { T } from "../type-only.js";',
      'export { c } from "./re-export.js";',
      'export * from "./star.js";',
      'import "./side-effect.js";',
      'const later = await import("./dynamic.js");',
      "const text = `no import here`;",
    ].join("\n");
    expect(specifiers(source).sort()).toEqual(["../type-only.js", "./dynamic.js", "./multi-line.js", "./re-export.js", "./side-effect.js", "./star.js"]);
  });

  it("finds every cycle", () => {
    const fixture = new Map([["a", ["b"]], ["b", ["c", "a"]], ["c", ["c"]], ["d", ["a"]]]);
    expect(cycles(fixture).sort()).toEqual(["a -> b -> a", "c -> c"]);
  });

  it("covers files that each belong to a layer and import files that exist", () => {
    expect([...graph.keys()].filter((f) => !layerOf(f)).map((f) => `${f} belongs to no layer: give it a rule`)).toEqual([]);
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${file} imports ${t}, which is not there`));
    expect(missing).toEqual([]);
  });

  it("has no cycles", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("points down: each layer imports only the layers beneath it", () => {
    const violations = [...graph].flatMap(([file, targets]) => {
      const from = layerOf(file)!;
      if (from === "driver") return [];
      return targets.flatMap((target) => {
        const to = layerOf(target)!;
        return to === from || allowed[from].includes(to) ? [] : [`${file} imports ${target} (${from} may not import ${to})`];
      });
    });
    expect(violations).toEqual([]);
  });
});
