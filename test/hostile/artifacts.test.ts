// Compiled artifacts that are not what they seem: weights or wasm files another compile wrote
// (same names, same sizes) next to a module, a compile that fails while writing over an older one,
// embedding ids out of range. load() refuses foreign files by name, a failed compile leaves the
// old files as they were, and run() names the input and the position instead of trapping.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, instantiate } from "../../src/api.js";
import { execute } from "../../src/cli/command.js";
import { compileCommand } from "../../src/cli/compile.js";
import { runCommand } from "../../src/cli/run.js";
import { writeNpy } from "../../src/weights/npy.js";
import { enableRelaxedSimd, importModule, writeFiles } from "../module/helpers.js";
import { captureStderr } from "../support/stderr.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-hostile-artifacts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(enableRelaxedSimd);

const tiny = `model tiny() {
  input x: f32[1, 4]
  output y = fc: linear(x, 3)
}
`;

const stderr = captureStderr();

describe("files another compile wrote are refused by name", () => {
  it("wasm: a weights file or a .wasm of the same size from another seed", async () => {
    const [one, two] = await Promise.all([compile(tiny, { seed: 1 }), compile(tiny, { seed: 2 })]);
    const ours = (name: string) => one.files.find((f) => f.name === name)!.contents;
    const theirs = (name: string) => two.files.find((f) => f.name === name)!.contents;
    expect(theirs("tiny.weights.bin")).toHaveLength(ours("tiny.weights.bin").length);

    const mixed = writeFiles(one.files);
    writeFileSync(join(mixed, "tiny.weights.bin"), theirs("tiny.weights.bin"));
    const { load } = await importModule(mixed, "tiny.mjs");
    await expect(load()).rejects.toThrow(/^graphc model "tiny": tiny\.weights\.bin was not built with this module \(its build id is [0-9a-f]{16}, the module's is [0-9a-f]{16}\): use the files of one compile together, or compile again$/);
    await expect(load({ weights: ours("tiny.weights.bin") as Uint8Array })).resolves.toBeDefined();

    // One thread or more (on a shared memory made from it), load() reads the one .wasm.
    const wasm = writeFiles(one.files);
    writeFileSync(join(wasm, "tiny.wasm"), theirs("tiny.wasm"));
    const second = await importModule(wasm, "tiny.mjs");
    for (const threads of [1, 2]) await expect(second.load({ simd: "baseline", threads })).rejects.toThrow(/tiny\.wasm was not built with this module/);
    const plain = await importModule(writeFiles(one.files), "tiny.mjs");
    await expect(plain.load({ simd: "baseline", threads: 1, wasm: new Uint8Array(16) })).rejects.toThrow(/options\.wasm is not a WebAssembly module/);

    // A half-written weights file: the id at its end is missing.
    const half = writeFiles(one.files);
    const weights = ours("tiny.weights.bin") as Uint8Array;
    writeFileSync(join(half, "tiny.weights.bin"), weights.subarray(0, weights.length - 4));
    await expect((await importModule(half, "tiny.mjs")).load()).rejects.toThrow(/tiny\.weights\.bin holds \d+ bytes, the module's weights file \d+: it is not the weights this module was built with/);

    // In memory too: parts of two compiles.
    await expect(instantiate({ module: { ...one.module, weights: two.module.weights } })).rejects.toThrow(/options\.weights was not built with this module/);
  });

  it("wgsl: a weights file of the same size from another seed", async () => {
    const [one, two] = await Promise.all([compile(tiny, { seed: 1, target: "wgsl" }), compile(tiny, { seed: 2, target: "wgsl" })]);
    const theirs = two.files.find((f) => f.name === "tiny.weights.bin")!.contents as Uint8Array;
    const mixed = writeFiles(one.files);
    writeFileSync(join(mixed, "tiny.weights.bin"), theirs);
    const { load } = (await import(pathToFileURL(join(mixed, "tiny.mjs")).href)) as { load(o: object): Promise<unknown> };
    // The weights are checked before the device is used: a stand-in device is enough.
    const device = { createComputePipelineAsync: () => undefined };
    await expect(load({ device })).rejects.toThrow(/^tiny: tiny\.weights\.bin was not built with this module \(its build id is [0-9a-f]{16}, the module's is [0-9a-f]{16}\)/);
    await expect(load({ device, weights: theirs.subarray(1) })).rejects.toThrow(/^tiny: options\.weights holds \d+ bytes, the module's weights file \d+/);
  });
});

describe("a compile that fails while writing", () => {
  it("leaves the old files as they were, and no temporary files", async () => {
    const model = join(dir, "tiny.nn");
    writeFileSync(model, tiny);
    const out = join(dir, "out");
    expect(await execute("compile", compileCommand, [model, "-o", out, "--seed", "1"]), stderr.text).toBe(0);
    const before = new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f))]));
    // Something in the way of the last file: the compile fails after writing the others.
    rmSync(join(out, "tiny.weights.bin"));
    mkdirSync(join(out, "tiny.weights.bin"));
    before.delete("tiny.weights.bin");
    expect(await execute("compile", compileCommand, [model, "-o", out, "--seed", "2"])).toBe(2);
    expect(stderr.text).toContain(`graphc compile: cannot write ${join(out, "tiny.weights.bin")}: a directory is in the way`);
    expect(readdirSync(out).sort()).toEqual([...before.keys(), "tiny.weights.bin"].sort());
    for (const [f, bytes] of before) expect(readFileSync(join(out, f)).equals(bytes), f).toBe(true);
  });
});

describe("embedding ids out of range", () => {
  const embedding = (ids: string) => `model emb() {
  input ids: i64[1, 4]
  output y = tok: embedding(${ids}, 5, 3)
}
`;

  it("from an input: the input and the position, as the interpreter's check names them", async () => {
    const model = await instantiate(await compile(embedding("ids"), { relaxedSimd: "off" }));
    await expect(model.run({ ids: BigInt64Array.of(0n, 1n, 7n, 2n) })).rejects.toThrow(new RangeError('graphc model "emb": input "ids"[2] = 7 is outside [0, 5): an embedding of 5 rows reads it as an id'));
    await expect(model.run({ ids: Int32Array.of(0, -1, 1, 2) })).rejects.toThrow(/input "ids"\[1\] = -1 is outside \[0, 5\)/);
    expect((await model.run({ ids: Int32Array.of(4, 3, 2, 1) })).y).toHaveLength(12);
  });

  it("a gather's ids from an input lie in [-d, d)", async () => {
    const src = "model g() {\n  input x: f32[2, 3]\n  input ids: i32[2]\n  output y = gather(x, ids, axis=1)\n}\n";
    const model = await instantiate(await compile(src, { relaxedSimd: "off" }));
    await expect(model.run({ x: new Float32Array(6), ids: Int32Array.of(-4, 0) })).rejects.toThrow(new RangeError('graphc model "g": input "ids"[0] = -4 is outside [-3, 3): a gather reads it as an index into 3 (negative ones from the end)'));
    expect((await model.run({ x: new Float32Array(6), ids: Int32Array.of(-3, 2) })).y).toHaveLength(4);
  });

  // On one thread the model runs on after the error; on several the threads are out of step, and
  // later runs say to load it again (README, threads).
  it.each([1, 2])("computed inside the model: a named RangeError, not a wasm trap (%i threads)", async (threads) => {
    const model = await instantiate(await compile(embedding("ids + 3"), { relaxedSimd: "off" }), { threads });
    const e = await model.run({ ids: Int32Array.of(0, 1, 2, 3) }).catch((e: unknown) => e);
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/^graphc model "emb": an embedding id computed inside the model is outside its table/);
    const next = model.run({ ids: Int32Array.of(0, 1, 1, 0) });
    if (threads === 1) expect((await next).y).toHaveLength(12);
    else await expect(next).rejects.toThrow(/a thread trapped in an earlier run, which leaves the threads out of step: load the model again/);
    model.dispose();
  });

  it("graphc run --backend wasm: exit 1 with the message", async () => {
    const model = join(dir, "emb.nn");
    writeFileSync(model, embedding("ids"));
    const ids = join(dir, "ids.npy");
    writeFileSync(ids, writeNpy([1, 4], BigInt64Array.of(0n, 9n, 1n, 2n)));
    expect(await execute("run", runCommand, [model, "--backend", "wasm", "--input", `ids=${ids}`])).toBe(1);
    expect(stderr.text).toMatch(/\ngraphc run: graphc model "emb": input "ids"\[1\] = 9 is outside \[0, 5\)/);
    expect(stderr.text).not.toContain("    at ");
  });
});
