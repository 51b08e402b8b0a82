// Comparisons, where, logical_not, constant tensors and scale_shift from the language to a
// running module: the Hugging Face attention-mask idioms, bool outputs (Uint8Array of 0 / 1 from
// the wasm module), integer comparisons, constants as operands and under constant folding, and
// per-channel affines folding into the conv before them (the kernel count drops).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { execute } from "../src/cli/command.js";
import { runCommand } from "../src/cli/run.js";
import { compile, instantiate } from "../src/api.js";
import { elaborateSource } from "../src/frontend/index.js";
import { interpret } from "../src/interp/index.js";
import { exportOnnx } from "../src/onnx/export.js";
import { optimise } from "../src/driver.js";
import { defaultPipeline } from "../src/passes/index.js";
import { loadWeights } from "../src/weights/load.js";
import { readNpy } from "../src/weights/npy.js";
import { expectOutputsClose } from "./module/compare.js";
import { enableRelaxedSimd } from "./module/helpers.js";
import { runOrt } from "./onnx/helpers.js";

beforeAll(enableRelaxedSimd);

const MASK = `model mask() {
  input x: f32[2, 8]
  input mask: f32[2, 8]
  output additive = x + where(mask == 0, -1e9, 0.0)
  output hf = x + (1.0 - mask) * -10000.0
  output keep = mask != 0
  output dropped = !(mask > 0.5)
  output clipped = where(x < -1.0, -1.0, where(x > 1, 1.0, x))
}`;

const mask = Float32Array.from({ length: 16 }, (_, i) => (i % 8 < 5 - (i >> 3) ? 1 : 0));
const x = Float32Array.from({ length: 16 }, (_, i) => (i - 7.5) / 3);

/** The interpreter's outputs for `source` (seeded weights; no i64 outputs here, so numbers) and the graph. */
function reference(source: string, inputs: Record<string, Float32Array | Int32Array>) {
  const g = elaborateSource(source, "<source>").graph!;
  const { data } = loadWeights(g, { seed: 0 });
  return { g, data, want: interpret(g, data, inputs) as Record<string, Float32Array | Int32Array> };
}

describe("comparisons and where", () => {
  it("the attention-mask idioms and bool outputs agree on the interpreter, wasm (both SIMD builds) and ONNX Runtime", async () => {
    const { g, data, want } = reference(MASK, { x, mask });
    expect(Array.from(want.keep!)).toEqual(Array.from(mask));
    expect(Array.from(want.dropped!)).toEqual(Array.from(mask, (m) => 1 - m));
    expect(Array.from(want.additive!)).toEqual(Array.from(x, (v, i) => Math.fround(v + (mask[i] ? 0 : -1e9))));
    expect(Array.from(want.clipped!)).toEqual(Array.from(x, (v) => Math.min(Math.max(v, -1), 1)));

    const result = await compile(MASK);
    expect(result.report.outputs.map((p) => p.dtype)).toEqual(["f32", "f32", "bool", "bool", "f32"]);
    expect(String(result.files.find((f) => f.name === "mask.d.ts")!.contents)).toContain('"keep": Uint8Array;');
    for (const simd of ["baseline", "relaxed"] as const) {
      const got = await (await instantiate(result, { simd })).run({ x, mask });
      expect(got.keep, "a bool output comes back as bytes").toBeInstanceOf(Uint8Array);
      expectOutputsClose(got, want, simd, 0, 0);
    }
    const ort = await runOrt(exportOnnx(g, data), g, { x, mask });
    expectOutputsClose(Object.fromEntries(Object.entries(ort).map(([k, o]) => [k, o.data as Float32Array])), want, "onnx", 0, 0);
  });

  it("graphc run --out writes a bool output as an int32 .npy of 0 and 1 on every backend", async () => {
    const dir = mkdtempSync(join(tmpdir(), "graphc-logic-"));
    const file = join(dir, "m.nn");
    writeFileSync(file, "model m() {\n  input x: f32[2, 3]\n  output keep = x > 0\n}\n");
    const saved: number[][] = [];
    for (const backend of ["interp", "wasm"]) {
      expect(await execute("run", runCommand, [file, "--backend", backend, "--out", join(dir, backend)])).toBe(0);
      const t = readNpy(readFileSync(join(dir, backend, "keep.npy")));
      expect(t.dtype, backend).toBe("i32");
      saved.push(Array.from(t.data as Int32Array));
    }
    expect(saved[1]).toEqual(saved[0]);
    expect(saved[0]!.every((v) => v === 0 || v === 1)).toBe(true);
  });

  it("compares integer tensors and selects among them", async () => {
    const src = `model ids() {
  input ids: i32[7]
  output nonzero = ids != 0
  output small = where(ids >= 2, ids, 0)
  output ones = ids == 1
  output flipped = where(!(ids < 3), 10, -10)
}`;
    const ids = Int32Array.of(0, 1, 2, 3, -4, 1, 100);
    const { want } = reference(src, { ids });
    expect(Array.from(want.nonzero!)).toEqual([0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(want.small!)).toEqual([0, 0, 2, 3, 0, 0, 100]);
    expect(Array.from(want.flipped!)).toEqual([-10, -10, -10, 10, -10, -10, 10]);
    const got = await (await instantiate(await compile(src))).run({ ids });
    expectOutputsClose(got, want, "wasm", 0, 0);
  });

  it("keeps == and != on a tensor and a non-number compile-time (`mask == none`)", () => {
    const src = `block f(x: tensor, mask = none) {
  if mask == none { return x }
  return x * mask
}
model m() {
  input x: f32[3]
  output y = f(x)
}`;
    const g = elaborateSource(src, "<source>").graph!;
    expect(g.nodes).toHaveLength(0);
  });
});

describe("constant tensors", () => {
  const src = `model norm() {
  input x: f32[1, 3, 2, 2]
  mean = reshape(tensor([0.485, 0.456, 0.406]), [1, 3, 1, 1])
  std = reshape(tensor([[0.229], [0.224], [0.225]]), [3, 1, 1])
  output y = (x - mean) / std
  output z = x * full([1, 3, 1, 1], 2.0) + ones([2, 2]) - zeros([1])
  output i = tensor([[1, 2], [3, 4]], dtype="i32") * 3
  output pos = where(tensor([1.0, -1.0, 2.0]) > 0, 1.0, 0.0) + sum(x, [0, 1, 2, 3])
  output neg = tensor([1, -1]) < 0
}`;
  const input = Float32Array.from({ length: 12 }, (_, k) => k / 12);

  it("are constants the interpreter and the module agree on", async () => {
    const { g, want } = reference(src, { x: input });
    expect(g.values.filter((v) => v.kind === "const").map((v) => v.type.shape)).toEqual(expect.arrayContaining([[3], [3, 1], [1, 3, 1, 1], [2, 2], [1], [2, 2]]));
    const m = [0.485, 0.456, 0.406].map(Math.fround);
    const s = [0.229, 0.224, 0.225].map(Math.fround);
    expect(Array.from(want.y!)).toEqual(Array.from(input, (v, k) => Math.fround(Math.fround(v - m[k >> 2]!) / s[k >> 2]!)));
    expect(Array.from(want.z!)).toEqual(Array.from(input, (v) => Math.fround(v * 2 + 1)));
    expect(Array.from(want.i!)).toEqual([3, 6, 9, 12]);
    expect(Array.from(want.neg!)).toEqual([0, 1]);
    expectOutputsClose(await (await instantiate(await compile(src))).run({ x: input }), want, "wasm", 0, 0);
  });

  it("fold: no node is left computing on constants alone, and the folded graph exports to ONNX (a bool initializer)", async () => {
    const g0 = elaborateSource(src, "<source>").graph!;
    const { graph } = optimise(g0, loadWeights(g0, { seed: 0 }).data, ["constant-fold", "dce"]);
    const constantOnly = graph.nodes.filter((n) => n.inputs.every((v) => graph.values[v]!.kind === "const"));
    expect(constantOnly.map((n) => n.op)).toEqual([]);
    expect(graph.nodes.some((n) => n.op === "reshape")).toBe(false);
    // The comparisons and the where folded: a bool constant among them.
    expect(graph.nodes.map((n) => n.op).filter((op) => ["greater", "less", "where"].includes(op))).toEqual([]);
    expect(graph.values[graph.outputs.find((p) => p.name === "neg")!.value]).toMatchObject({ kind: "const", type: { dtype: "bool", shape: [2] } });
    const ort = await runOrt(exportOnnx(graph, new Map()), graph, { x: input });
    const { want } = reference(src, { x: input });
    // 1e-6 relative, 1e-7 absolute: ORT's division and 12-term sum may round differently from the interpreter's double ones.
    expectOutputsClose(Object.fromEntries(Object.entries(ort).map(([k, o]) => [k, o.data as Float32Array])), want, "onnx", 1e-6, 1e-7);
  });
});

describe("per-channel affines fold into the conv before them", () => {
  const src = (affine: string) => `model m() {
  input x: f32[1, 2, 5, 5]
  y = c: conv2d(x, 3, 3, pad=1)
  output out = ${affine}
}`;
  const input = Float32Array.from({ length: 50 }, (_, k) => Math.sin(k));

  it.each([
    ["y * reshape(tensor([0.5, -2.0, 3.0]), [3, 1, 1]) + reshape(tensor([1.0, 2.0, 3.0]), [1, 3, 1, 1])"],
    ["(y - full([3, 1, 1], 0.25)) * 4.0"],
    ["a: scale_shift(y)"],
  ])("%s: the conv's kernels alone, the same outputs", async (affine) => {
    const { want } = reference(src(affine), { x: input });
    const conv = (await compile(src("y"))).report.stats.kernels;
    const folded = await compile(src(affine));
    expect(folded.report.stats.kernels).toBe(conv);
    const unfolded = await compile(src(affine), { passes: defaultPipeline.filter((p) => p !== "fold-batchnorm") });
    expect(unfolded.report.stats.kernels).toBe(conv + 1);
    expectOutputsClose(await (await instantiate(folded)).run({ x: input }), want, "folded", 1e-5, 1e-6);
  });

  it("leaves an affine alone where the conv output has another reader or the constant varies along another axis", async () => {
    const conv = (await compile(src("y"))).report.stats.kernels;
    const shared = await compile(src("y * reshape(tensor([0.5, -2.0, 3.0]), [3, 1, 1]) + y"));
    expect(shared.report.stats.kernels).toBe(conv + 1);
    const rows = src("y * reshape(tensor([1.0, 2.0, 3.0, 4.0, 5.0]), [5, 1])");
    const { want } = reference(rows, { x: input });
    const compiled = await compile(rows);
    expect(compiled.report.stats.kernels).toBe(conv + 1);
    expectOutputsClose(await (await instantiate(compiled)).run({ x: input }), want, "rows", 1e-5, 1e-6);
  });
});
