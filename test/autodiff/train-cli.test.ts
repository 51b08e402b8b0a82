// graphc train and graphc compile --train, run as a user runs them: siamese_contrastive (8x8
// images, dim 8) on a synthetic two-class set of pairs written as .npy files here.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { execute } from "../../src/cli/command.js";
import { trainCommand } from "../../src/cli/train.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { writeNpy } from "../../src/weights/npy.js";
import { cliBuild, root } from "../support/cli.js";
import { captureStderr } from "../support/stderr.js";

const { build, graphc } = cliBuild("train-cli", { timeoutMs: 120_000 });
const spec = join(root, "specs/siamese_contrastive.nn");
const dir = mkdtempSync(join(tmpdir(), "graphc-train-cli-"));
const N = 32;
const small = ["--set", "dim=8", "--shape", "image_a=1x3x8x8", "--shape", "image_b=1x3x8x8"];

/** Class 0: horizontal stripes, class 1: vertical ones, each with noise; label 0 for a same-class pair, 1 otherwise. */
function dataset(): void {
  let state = 12345;
  const noise = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.6;
  const image = (cls: number) => Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(((cls === 0 ? Math.floor((i % 64) / 8) : i % 8) * Math.PI) / 2) + noise());
  const [a, b, label] = [new Float32Array(N * 192), new Float32Array(N * 192), new Float32Array(N)];
  for (let n = 0; n < N; n++) {
    const [ca, cb] = [n % 2, Math.floor(n / 2) % 2];
    a.set(image(ca), n * 192);
    b.set(image(cb), n * 192);
    label[n] = ca === cb ? 0 : 1;
  }
  writeFileSync(join(dir, "a.npy"), writeNpy([N, 3, 8, 8], a));
  writeFileSync(join(dir, "b.npy"), writeNpy([N, 3, 8, 8], b));
  writeFileSync(join(dir, "label.npy"), writeNpy([N], label));
}

beforeAll(() => {
  build();
  dataset();
});

const data = () => ["--data", `image_a=${join(dir, "a.npy")}`, "--data", `image_b=${join(dir, "b.npy")}`, "--data", `label=${join(dir, "label.npy")}`];

it("graphc train: the running loss falls over 60 Adam steps, and the trained weights are written", { timeout: 120_000 }, async () => {
  const out = join(dir, "trained.safetensors");
  const r = await graphc("train", spec, ...small, ...data(), "--steps", "60", "--batch", "8", "--optimizer", "adam", "--lr", "0.01", "--seed", "3", "-o", out);
  expect(r.code, r.stderr).toBe(0);
  const lines = [...r.stderr.matchAll(/step (\d+)\/60 {2}loss (\S+) {2}running loss (\S+)/g)].map((m) => ({ step: Number(m[1]), loss: Number(m[2]), running: Number(m[3]) }));
  expect(lines.at(-1)!.step).toBe(60);
  // The contrastive loss of random embeddings is about 0.5 here; training separates the classes.
  expect(lines.at(-1)!.running, r.stderr).toBeLessThan(0.5 * lines[0]!.loss);
  expect(r.stderr).toMatch(/wrote the trained weights \(\d+ tensors, after 60 steps\) to .*trained\.safetensors/);
  const saved = readSafetensors(new Uint8Array(readFileSync(out)));
  expect((saved.get("tower.features.0.1.num_batches_tracked")!.data as BigInt64Array)[0]).toBe(120n);
  // The file is a checkpoint graphc reads.
  const check = await graphc("run", spec, ...small, "--shape", "label=1", "--weights", out);
  expect(check.code, check.stderr).toBe(0);
});

it("graphc train with dropout: the same --seed draws the same masks and writes the same weights", { timeout: 120_000 }, async () => {
  const model = join(dir, "mlp.nn");
  writeFileSync(model, `model mlp() {
  input x: f32[1, 16]
  input y: f32[1, 1]
  p = fc2: linear(dropout(relu(fc1: linear(x, 32)), p=0.5), 1)
  output loss = mean((p - y) * (p - y), [0, 1])
}`);
  const x = Float32Array.from({ length: 32 * 16 }, (_, i) => Math.sin(i * 0.37));
  writeFileSync(join(dir, "x.npy"), writeNpy([32, 16], x));
  writeFileSync(join(dir, "y.npy"), writeNpy([32, 1], Float32Array.from({ length: 32 }, (_, n) => x[n * 16]! - x[n * 16 + 1]!)));
  const trained = async (seed: string, out: string) => {
    const r = await graphc("train", model, "--data", `x=${join(dir, "x.npy")}`, "--data", `y=${join(dir, "y.npy")}`, "--steps", "10", "--batch", "8", "--seed", seed, "-o", join(dir, out));
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(join(dir, out));
  };
  expect(await trained("5", "a.safetensors")).toEqual(await trained("5", "b.safetensors"));
});

it("graphc compile --train writes the training module; its options are in --help", async () => {
  const out = join(dir, "module");
  const r = await graphc("compile", spec, ...small, "--shape", "label=1", "--train", "--batch", "2", "--optimizer", "adamw", "--relaxed-simd", "off", "-o", out);
  expect(r.code, r.stderr).toBe(0);
  expect(readdirSync(out).sort()).toContain("siamese_contrastive.train.wasm");
  expect(existsSync(join(out, "siamese_contrastive.mjs"))).toBe(true);
  const help = await graphc("compile", "--help");
  for (const flag of ["--train", "--loss OUTPUT", "--optimizer sgd|adam|adamw", "--lr X", "--batch N", "--train-only PATTERN"]) expect(help.stdout).toContain(flag);
  const usage = await graphc("compile", spec, "--lr", "0.1", "-o", out);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain("--lr goes with --train");
}, 120_000);

it("graphc train: a missing input's data and a bad option are usage errors", async () => {
  const missing = await graphc("train", spec, ...small, "--data", `image_a=${join(dir, "a.npy")}`, "--data", `image_b=${join(dir, "b.npy")}`, "--steps", "1", "-o", join(dir, "x.safetensors"));
  expect(missing.code, missing.stderr).toBe(2);
  expect(missing.stderr).toContain("no --data for input label");
  const bad = await graphc("train", spec, ...data(), "--steps", "1", "--lr", "fast", "-o", join(dir, "x.safetensors"));
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--lr expects a number, got `fast`");
}, 120_000);

describe("graphc train's mistakes, in the CLI's error boundary (in-process)", () => {
  const stderr = captureStderr();

  it("data of the wrong dtype or rank or with a NaN, an empty --data path, an option the optimizer would ignore, a step count past 2^53: one named line each", async () => {
    const model = join(dir, "mistakes.nn");
    writeFileSync(model, "model mistakes() {\n  input x: f32[1, 4]\n  input y: f32[1, 1]\n  output loss = mean(fc: linear(x, 1) - y, [0, 1])\n}\n");
    writeFileSync(join(dir, "x4.npy"), writeNpy([8, 4], new Float32Array(32)));
    writeFileSync(join(dir, "xi.npy"), writeNpy([8, 4], new Int32Array(32)));
    writeFileSync(join(dir, "x3.npy"), writeNpy([8, 2, 2], new Float32Array(32)));
    writeFileSync(join(dir, "y1.npy"), writeNpy([8, 1], new Float32Array(8)));
    writeFileSync(join(dir, "xnan.npy"), writeNpy([8, 4], Float32Array.from({ length: 32 }, (_, i) => (i === 13 ? NaN : 0))));
    const run = (x: string, ...rest: string[]) => ["train", model, "--data", `x=${x && join(dir, x)}`, "--data", `y=${join(dir, "y1.npy")}`, "--steps", "1", "-o", join(dir, "never.safetensors"), ...rest];
    for (const [argv, code, line] of [
      [run("xi.npy"), 1, `${join(dir, "xi.npy")}: holds i32 data but the model's input x is f32[1, 4]`],
      [run("xnan.npy"), 1, `${join(dir, "xnan.npy")}: element 13 (example 3) is NaN`],
      [run(""), 2, "--data x= needs the path of an .npy file"],
      [run("x3.npy"), 1, `${join(dir, "x3.npy")}: has shape [8, 2, 2] but the model's input x is f32[1, 4]: its rank must be the same`],
      [run("x4.npy", "--optimizer", "adam", "--momentum", "0.9"), 2, "--momentum is for sgd; adam has betas"],
      [run("x4.npy", "--weight-decay=-1"), 2, "--weight-decay must be a number >= 0, got -1"],
      [run("x4.npy", "--optimizer", "rmsprop"), 2, "--optimizer must be \"sgd\", \"adam\" or \"adamw\", got \"rmsprop\""],
      [run("x4.npy", "--steps", "2"), 2, "--steps is given twice"],
      [[...run("x4.npy").filter((a) => a !== "--steps" && a !== "1"), "--steps", "99999999999999999999"], 2, "--steps expects a positive integer, got `99999999999999999999`"],
    ] as const) {
      stderr.clear();
      expect(await execute("train", trainCommand, argv.slice(1)), stderr.text).toBe(code);
      expect(stderr.text).toBe(`graphc train: ${line}\n`);
    }
    expect(existsSync(join(dir, "never.safetensors"))).toBe(false);
  });

  it("ids: i64 data for an i32 input is narrowed; one outside the embedding is a data error naming the step (was a stack trace)", async () => {
    const model = join(dir, "ids.nn");
    writeFileSync(model, "model ids() {\n  input ids: i32[1, 2]\n  input y: f32[1, 1]\n  output loss = mean(fc: linear(mean(tok: embedding(ids, 4, 2), [1]), 1) - y, [0, 1])\n}\n");
    writeFileSync(join(dir, "ids-bad.npy"), writeNpy([4, 2], BigInt64Array.of(0n, 1n, 2n, 3n, 4n, 4n, 4n, 4n)));
    writeFileSync(join(dir, "y4.npy"), writeNpy([4, 1], new Float32Array(4)));
    const argv = [model, "--data", `ids=${join(dir, "ids-bad.npy")}`, "--data", `y=${join(dir, "y4.npy")}`, "--steps", "1", "--batch", "4", "-o", join(dir, "never.safetensors")];
    expect(await execute("train", trainCommand, argv), stderr.text).toBe(1);
    expect(stderr.text).toMatch(/graphc train: step 1: graphc model "ids": input "ids"\[\d\] = 4 is outside \[0, 4\): an embedding of 4 rows reads it as an id\n$/);
    expect(stderr.text).not.toContain("    at ");
  });
});
