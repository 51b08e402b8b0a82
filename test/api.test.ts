// The package API: compile() in memory from a source string or a path, its options and errors,
// and instantiate() on the result (the same loader as the generated module).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile, CompileError, instantiate, UsageError, WeightsError } from "../src/api.js";
import { elaborateSource } from "../src/frontend/index.js";
import { interpret } from "../src/interp/index.js";
import { loadWeights } from "../src/weights/load.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import { expectOutputsClose } from "./module/compare.js";
import { enableRelaxedSimd } from "./module/helpers.js";

beforeAll(enableRelaxedSimd);

const source = `model tiny(hidden: int = 8) {
  input x: f32[1, 4]
  h = fc1: linear(x, hidden)
  output y = fc2: linear(relu(h), 3)
}
`;
const x = Float32Array.of(0.5, -1, 2, 0.25);

function reference(hidden = 8, seed = 0) {
  const g = elaborateSource(source, "<source>", { set: { hidden } }).graph!;
  const { data } = loadWeights(g, { seed });
  return { g, data, y: interpret(g, data, { x }) };
}

describe("compile()", () => {
  it("compiles a source string to module files, a report and a loadable result", async () => {
    const result = await compile(source);
    expect(result.files.map((f) => f.name).sort()).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.relaxed.wasm", "tiny.wasm", "tiny.weights.bin"]);
    const { report } = result;
    expect(report.model).toBe("tiny");
    expect(report.inputs).toEqual([{ name: "x", dtype: "f32", shape: [1, 4] }]);
    expect(report.outputs).toEqual([{ name: "y", dtype: "f32", shape: [1, 3] }]);
    expect(report.diagnostics).toEqual([]);
    expect(report.stats.parameterBytes).toBe((4 * 8 + 8 + 8 * 3 + 3) * 4);
    // Each of the four tensors padded to 16 bytes, then the 8-byte build id.
    expect(report.stats.weightsFileBytes).toBe((32 + 8 + 24 + 4) * 4 + 8);
    expect(report.compileMs).toBeGreaterThan(0);
    expect(Object.keys(report.phasesMs)).toEqual(["frontend", "weights", "passes", "codegen"]);
    for (const simd of ["baseline", "relaxed"] as const) {
      const model = await instantiate(result, { simd });
      expect(model.simd).toBe(simd);
      expectOutputsClose(await model.run({ x }), reference().y, simd, 1e-5, 1e-6);
    }
  });

  it("takes a path, --set, seeds, a weights map or a safetensors file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "graphc-api-"));
    writeFileSync(join(dir, "tiny.nn"), source);
    const ref = reference(5, 3);
    const fromSeed = await compile({ path: join(dir, "tiny.nn") }, { set: { hidden: 5 }, seed: 3 });
    expectOutputsClose(await (await instantiate(fromSeed)).run({ x }), ref.y, "seed", 1e-5, 1e-6);
    const fromMap = await compile(source, { set: { hidden: 5 }, weights: ref.data });
    expectOutputsClose(await (await instantiate(fromMap)).run({ x }), ref.y, "map", 1e-5, 1e-6);
    const file = join(dir, "w.safetensors");
    writeFileSync(file, writeSafetensors(ref.g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: ref.data.get(w.name)! }))));
    const fromFile = await compile(source, { set: { hidden: 5 }, weights: file });
    expectOutputsClose(await (await instantiate(fromFile)).run({ x }), ref.y, "safetensors", 1e-5, 1e-6);
  });

  it("ships one build for relaxedSimd on / off, and everything in the .mjs with embedWeights", async () => {
    expect((await compile(source, { relaxedSimd: "off" })).files.map((f) => f.name).sort()).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.wasm", "tiny.weights.bin"]);
    const on = await compile(source, { relaxedSimd: "on" });
    expect(on.files.map((f) => f.name).sort()).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.relaxed.wasm", "tiny.weights.bin"]);
    expect((await instantiate(on)).simd).toBe("relaxed");
    const embedded = await compile(source, { embedWeights: true });
    expect(embedded.files.map((f) => f.name).sort()).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs"]);
    expectOutputsClose(await (await instantiate(embedded)).run({ x }), reference().y, "embedded", 1e-5, 1e-6);
  });

  it("compiles for wgsl: the module and its types and weights, nothing for instantiate()", async () => {
    const result = await compile(source, { target: "wgsl" });
    expect(result.files.map((f) => f.name).sort()).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.weights.bin"]);
    expect(result.report.inputs).toEqual([{ name: "x", dtype: "f32", shape: [1, 4] }]);
    expect(result.report.stats.parameterBytes).toBe((4 * 8 + 8 + 8 * 3 + 3) * 4);
    expect(result.module).toBeUndefined();
    await expect(instantiate(result)).rejects.toThrow(UsageError);
    await expect(compile(source, { target: "wgsl", relaxedSimd: "on" })).rejects.toThrow(/options of the wasm target/);
  });

  it("throws CompileError with rendered diagnostics on model errors", async () => {
    const err = await compile("model bad() {\n  input x: f32[1, 4]\n  output y = nope(x)\n}\n").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    const { diagnostics, message } = err as CompileError;
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatch(/unknown name `nope`/);
    expect(diagnostics[0]).toContain("<source>:3");
    expect(message).toContain(diagnostics[0]);
  });

  it("rejects bad options and weights", async () => {
    await expect(compile(source, { target: "webgpu" as never })).rejects.toThrow(/unknown target `webgpu` \(available: wasm, wgsl\)/);
    await expect(compile(source, { relaxedSimd: "maybe" as never })).rejects.toThrow(/relaxedSimd must be "auto", "on" or "off"/);
    await expect(compile(source, { passes: ["dce", "nope"] })).rejects.toThrow(/unknown pass "nope"/);
    await expect(compile(source, { set: { depth: 3 } })).rejects.toThrow(/no parameter `depth`/);
    await expect(compile("block b(x) {\n  return relu(x)\n}\n")).rejects.toThrow(/defines no model/);
    const { data } = reference();
    const short = new Map(data);
    short.set("fc1.weight", new Float32Array(3));
    await expect(compile(source, { weights: short })).rejects.toThrow(WeightsError);
    short.delete("fc1.weight");
    await expect(compile(source, { weights: short })).rejects.toThrow(/missing 1 weight\(s\): fc1.weight/);
  });
});
