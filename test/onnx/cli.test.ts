// `graphc export-onnx`: options, exit codes and messages, running the command object in-process
// inside the CLI's error boundary (test/cli.test.ts covers the built binary end to end).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/base/errors.js";
import { execute } from "../../src/cli/command.js";
import { exportOnnxCommand } from "../../src/cli/export-onnx.js";
import { elaborateFile } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import { loadWeights } from "../../src/weights/load.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import { expectClose, inputsFor, runOrt } from "./helpers.js";
import { captureStderr } from "../support/stderr.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-onnx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = join(dir, "tiny.nn");
writeFileSync(
  model,
  `model tiny(classes: int = 10) {
  input image: f32[1, 3, 16, 16]
  x = relu(bn: batchnorm(c: conv2d(image, 8, 3, stride=2, pad=1, bias=false)))
  output logits = fc: linear(flatten(global_avgpool(x)), classes)
}
`,
);

const stderr = captureStderr();

describe("graphc export-onnx", () => {
  it("writes a model onnxruntime runs, equal to the interpreter on the seeded weights", async () => {
    const out = join(dir, "seeded.onnx");
    expect(exportOnnxCommand.run([model, "-o", out, "--seed", "3", "--set", "classes=5", "--shape", "image=2x3x12x12"])).toBe(0);
    const g = elaborateFile(model, { set: { classes: "5" }, shapes: { image: [2, 3, 12, 12] } }).graph!;
    const { data } = loadWeights(g, { seed: 3 });
    const inputs = inputsFor(g, 1);
    expectClose(g, await runOrt(new Uint8Array(readFileSync(out)), g, inputs), interpret(g, data, inputs), "cli seeded");
  });

  it("reads --weights from a safetensors checkpoint", async () => {
    const g = elaborateFile(model).graph!;
    const { data } = loadWeights(g, { seed: 11 });
    const ckpt = join(dir, "w.safetensors");
    writeFileSync(ckpt, writeSafetensors(g.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: data.get(w.name)! }))));
    const out = join(dir, "ckpt.onnx");
    expect(exportOnnxCommand.run([model, "-o", out, "--weights", ckpt])).toBe(0);
    const inputs = inputsFor(g, 2);
    expectClose(g, await runOrt(new Uint8Array(readFileSync(out)), g, inputs), interpret(g, data, inputs), "cli checkpoint");
  });

  it("needs -o (a usage error, exit 2)", () => {
    expect(() => exportOnnxCommand.run([model])).toThrow(UsageError);
    expect(() => exportOnnxCommand.run([model])).toThrow(/-o/);
    expect(() => exportOnnxCommand.run([model, "-o", join(dir, "x.onnx"), "--seed", "abc"])).toThrow(UsageError);
  });

  it("reports an unreadable weights file in one line, exit 1", async () => {
    expect(await execute("export-onnx", exportOnnxCommand, [model, "-o", join(dir, "x.onnx"), "--weights", join(dir, "missing.safetensors")])).toBe(1);
    expect(stderr.text.trim().split("\n")).toHaveLength(1);
    expect(stderr.text).toMatch(/missing\.safetensors/);
  });

  it("reports a malformed weights file in one line, exit 1", async () => {
    const bad = join(dir, "bad.safetensors");
    writeFileSync(bad, "this is not a safetensors file");
    expect(await execute("export-onnx", exportOnnxCommand, [model, "-o", join(dir, "x.onnx"), "--weights", bad])).toBe(1);
    expect(stderr.text.trim().split("\n")).toHaveLength(1);
    expect(stderr.text).toMatch(/bad\.safetensors/);
  });

  it("reports a checkpoint that lacks the model's weights, exit 1", async () => {
    const ckpt = join(dir, "partial.safetensors");
    writeFileSync(ckpt, writeSafetensors([{ name: "c.weight", shape: [8, 3, 3, 3], data: new Float32Array(8 * 27) }]));
    expect(await execute("export-onnx", exportOnnxCommand, [model, "-o", join(dir, "x.onnx"), "--weights", ckpt])).toBe(1);
    expect(stderr.text.trim().split("\n")).toHaveLength(1);
  });

  it("exits 1 on model errors", async () => {
    const broken = join(dir, "broken.nn");
    writeFileSync(broken, "model b() {\n  input x: f32[1, 3]\n  output y = nope(x)\n}\n");
    expect(await execute("export-onnx", exportOnnxCommand, [broken, "-o", join(dir, "x.onnx")])).toBe(1);
  });
});
