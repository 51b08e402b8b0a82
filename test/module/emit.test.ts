// The generated ES module around hand-written wasm builds (test/module/fake.ts): files, loading
// from files / embedded / bytes, SIMD selection, input validation, escaping, and the .d.ts.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { emitModule, type ModuleFile } from "../../codegen/module/emit.js";
import { loadParts, relaxedSimdSupported } from "../../codegen/module/runtime.js";
import { fakeBuild, fakePorts, plainNames, type FakeNames } from "./fake.js";
import { enableRelaxedSimd, importModule, writeFiles } from "./helpers.js";

beforeAll(enableRelaxedSimd);

type Mode = "auto" | "on" | "off";

function emit(mode: Mode = "auto", embedWeights = false, name = "tiny", names: FakeNames = plainNames) {
  return emitModule({
    name,
    ...fakePorts(names),
    ...(mode !== "on" ? { baseline: fakeBuild(false, names) } : {}),
    ...(mode !== "off" ? { relaxed: fakeBuild(true, names) } : {}),
    embedWeights,
    // As if input 1 (ids) fed an embedding of 5 rows.
    idChecks: [[1, 5]],
  });
}

const x = Float32Array.of(1, 1, 0.5, -1);
const ids = BigInt64Array.of(0n, 1n, 2n, 3n);
const want = { y: Float32Array.of(1, 3, 3.5, -1), n: Int32Array.of(1, 2, 3, 4) };

function fileNames(files: ModuleFile[]): string[] {
  return files.map((f) => f.name).sort();
}

/** Runs `code` (an ES module body) in a plain node without the relaxed-SIMD flag. */
function plainNode(code: string): string {
  return execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

describe("generated module", () => {
  it("ships the files next to each other and loads them from disk", async () => {
    const { files } = emit();
    expect(fileNames(files)).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.relaxed.wasm", "tiny.wasm", "tiny.weights.bin"]);
    const dir = writeFiles(files);
    const { load } = await importModule(dir, "tiny.mjs");
    for (const simd of ["auto", "relaxed", "baseline"] as const) {
      const model = await load({ simd });
      expect(model.simd).toBe(simd === "auto" ? "relaxed" : simd);
      expect(model.name).toBe("tiny");
      expect(model.inputs).toEqual(fakePorts(plainNames).inputs);
      expect(model.outputs).toEqual(fakePorts(plainNames).outputs);
      expect(await model.run({ x, ids })).toEqual(want);
      expect(await model.run({ x, ids: Int32Array.from(ids, Number) })).toEqual(want);
    }
  });

  it("embeds everything in the .mjs on request", async () => {
    const { files } = emit("auto", true);
    expect(fileNames(files)).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs"]);
    const { load } = await importModule(writeFiles(files), "tiny.mjs");
    expect(await (await load({ simd: "baseline" })).run({ x, ids })).toEqual(want);
    expect(await (await load()).run({ x, ids })).toEqual(want);
  });

  it("takes the bytes as arguments instead of files, and loads in memory", async () => {
    const { files, parts } = emit();
    const dir = writeFiles(files.filter((f) => f.name.endsWith(".mjs")));
    const { load } = await importModule(dir, "tiny.mjs");
    await expect(load()).rejects.toThrow(/tiny\.relaxed\.wasm|ENOENT/);
    const bytes = { wasm: parts.wasm!, relaxedWasm: parts.relaxedWasm!.slice().buffer, weights: parts.weights };
    // One thread, and more: the same bytes, put on a shared memory.
    for (const threads of [1, 2]) {
      expect(await (await load({ ...bytes, threads })).run({ x, ids })).toEqual(want);
      expect(await (await load({ ...bytes, threads, simd: "baseline" })).run({ x, ids })).toEqual(want);
    }
    const inMemory = await loadParts(parts);
    expect(relaxedSimdSupported()).toBe(true);
    expect(inMemory.simd).toBe("relaxed");
    expect(await inMemory.run({ x, ids })).toEqual(want);
    await expect(load({ ...bytes, weights: new Uint8Array(8) })).rejects.toThrow(/options\.weights holds 8 bytes, the module's weights file 24: it is not the weights this module was built with/);
    await expect(load({ ...bytes, wasm: "nope" as never, simd: "baseline", threads: 1 })).rejects.toThrow(/wasm must be an ArrayBuffer or a typed array/);
  });

  it("ships one build for relaxedSimd on / off and says so when the other is asked for", async () => {
    const off = emit("off");
    expect(fileNames(off.files)).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.wasm", "tiny.weights.bin"]);
    expect((await loadParts(off.parts)).simd).toBe("baseline");
    await expect(loadParts(off.parts, { simd: "relaxed" })).rejects.toThrow(/compiled without relaxed SIMD/);
    const on = emit("on");
    expect(fileNames(on.files)).toEqual(["tiny.d.mts", "tiny.d.ts", "tiny.mjs", "tiny.relaxed.wasm", "tiny.weights.bin"]);
    expect((await loadParts(on.parts)).simd).toBe("relaxed");
    await expect(loadParts(on.parts, { simd: "baseline" })).rejects.toThrow(/relaxed SIMD only/);
    await expect(loadParts(on.parts, { simd: "fast" as never })).rejects.toThrow(/simd must be "auto", "relaxed" or "baseline"/);
  });

  it("falls back to the baseline build where the engine lacks relaxed SIMD", () => {
    const auto = pathToFileURL(join(writeFiles(emit().files), "tiny.mjs")).href;
    const on = pathToFileURL(join(writeFiles(emit("on").files), "tiny.mjs")).href;
    const script = (url: string) =>
      `import { load } from ${JSON.stringify(url)}; try { const m = await load(); const r = await m.run({ x: Float32Array.of(1, 1, 0.5, -1), ids: Int32Array.of(0, 1, 2, 3) }); console.log(m.simd, Array.from(r.y).join()); } catch (e) { console.log(e.message); }`;
    expect(plainNode(script(auto))).toBe("baseline 1,3,3.5,-1");
    expect(plainNode(script(on))).toMatch(/lacks WebAssembly relaxed SIMD \(Node 20 needs --experimental-wasm-relaxed-simd/);
  });

  it("rejects wrong inputs with clear errors and returns fresh outputs", async () => {
    const model = await loadParts(emit().parts);
    const bad: [unknown, RegExp][] = [
      [null, /run\(\) takes an object of input arrays: \{ "x", "ids" \}/],
      [{ x, ids, z: x }, /no input "z" \(inputs: "x", "ids"\)/],
      [{ x }, /missing input "ids" \(i64\[1, 4\]\)/],
      [{ x: Int32Array.of(1, 2, 3, 4), ids }, /input "x" must be a Float32Array \(f32\[1, 4\]\), got Int32Array/],
      [{ x: [1, 2, 3, 4], ids }, /input "x" must be a Float32Array .* got Array/],
      [{ x, ids: Float32Array.of(0, 1, 2, 3) }, /input "ids" must be a BigInt64Array or Int32Array/],
      [{ x: new Float32Array(5), ids }, /input "x" needs 4 elements \(f32\[1, 4\]\), got 5/],
      [{ x, ids: BigInt64Array.of(0n, 1n, 2n ** 40n, 3n) }, /input "ids"\[2\] = 1099511627776 does not fit in 32 bits/],
      [{ x, ids: Int32Array.of(0, 1, 2, 5) }, /input "ids"\[3\] = 5 is outside \[0, 5\)/],
    ];
    for (const [feeds, message] of bad) await expect(model.run(feeds as never)).rejects.toThrow(message);
    const a = await model.run({ x, ids });
    a.y.fill(0);
    expect(await model.run({ x, ids })).toEqual(want);
  });

  it("never lets model or port names reach the JavaScript unescaped", async () => {
    const names = { x: "__proto__", ids: 'a"b', y: "y */ }; throw 1; //", n: "line\u2028break" };
    const name = 'evil"\u2028name';
    const { files } = emit("auto", false, name, names);
    expect(fileNames(files)).toEqual(["evil__name.d.mts", "evil__name.d.ts", "evil__name.mjs", "evil__name.relaxed.wasm", "evil__name.wasm", "evil__name.weights.bin"]);
    const { load } = await importModule(writeFiles(files), "evil__name.mjs");
    const model = await load();
    expect(model.name).toBe(name);
    const feeds = Object.fromEntries([["__proto__", x], ['a"b', ids]]);
    const out = await model.run(feeds);
    expect(Object.keys(out)).toEqual([names.y, names.n]);
    expect(out[names.y]).toEqual(want.y);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it("has a .d.mts that types the ports by name", () => {
    const dir = writeFiles(emit().files);
    const dts = readFileSync(join(dir, "tiny.d.mts"), "utf8");
    expect(dts).toContain('readonly "x": Float32Array;');
    expect(dts).toContain('readonly "ids": BigInt64Array | Int32Array;');
    expect(dts).toContain('"n": Int32Array;');
    writeFileSync(
      join(dir, "consumer.mts"),
      `import { load, type Outputs } from "./tiny.mjs";
const model = await load({ simd: "auto" });
const out: Outputs = await model.run({ x: new Float32Array(4), ids: new Int32Array(4) });
const y: Float32Array = out.y;
const n: Int32Array = out.n;
const first: "x" | "ids" = model.inputs[0]!.name;
// @ts-expect-error: no input z
await model.run({ x: new Float32Array(4), ids: new Int32Array(4), z: new Float32Array(4) });
// @ts-expect-error: ids missing
await model.run({ x: new Float32Array(4) });
// @ts-expect-error: x is f32
await model.run({ x: new Int32Array(4), ids: new Int32Array(4) });
export { y, n, first };
`,
    );
    const tsc = join(process.cwd(), "node_modules/.bin/tsc");
    const args = ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2023", "--lib", "es2023,dom", "--types", "", join(dir, "consumer.mts")];
    let output = "";
    try {
      execFileSync(tsc, args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr);
    }
    expect(output).toBe("");
    rmSync(dir, { recursive: true });
  });
});
