// load({ onProgress }) and dispose(): progress from a local file (chunked reads), from bytes
// given, and from a fetch streamed off a local HTTP server (small chunks); loaded rises and ends
// at total, the file's size; the outputs do not depend on where the bytes came from; after
// dispose(), run() rejects.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runtimeLoadModel, type LoadProgress, type Manifest } from "../../codegen/module/runtime.js";
import { compile } from "../../src/api.js";
import { importModule, writeFiles } from "./helpers.js";

// fc1's weight alone is 4.5 MiB: more than one 4 MiB read.
const source = `model big() {
  input x: f32[1, 1024]
  h = fc1: linear(x, 1100)
  output y = fc2: linear(relu(h), 3)
}
`;
const x = Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i));

function checkProgress(events: LoadProgress[], total: number): void {
  expect(events.length).toBeGreaterThan(1);
  for (const e of events) expect(e.total).toBe(total);
  for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThan(events[i - 1]!.loaded);
  expect(events.at(-1)!.loaded).toBe(total);
}

describe("load()", async () => {
  const { files, module } = await compile(source, { seed: 1, relaxedSimd: "off" });
  const dir = writeFiles(files);
  const weightsFile = join(dir, "big.weights.bin");
  const total = readFileSync(weightsFile).byteLength;
  const { load } = await importModule(dir, "big.mjs");
  const want = (await (await load()).run({ x })).y!;

  it("reports progress reading the weights file next to the module", async () => {
    const events: LoadProgress[] = [];
    const model = await load({ onProgress: (p) => events.push(p) });
    checkProgress(events, total);
    expect(events.length).toBeGreaterThan(2);
    expect((await model.run({ x })).y).toEqual(want);
  });

  it("reports progress on weights given as bytes", async () => {
    const events: LoadProgress[] = [];
    const model = await load({ weights: readFileSync(weightsFile), onProgress: (p) => events.push(p) });
    checkProgress(events, total);
    expect((await model.run({ x })).y).toEqual(want);
  });

  it("streams a fetched weights file, reporting each chunk", async () => {
    const bytes = readFileSync(weightsFile);
    const server = createServer((_, res) => {
      res.writeHead(200, { "content-length": String(bytes.byteLength) });
      for (let at = 0; at < bytes.byteLength; at += 100_000) res.write(bytes.subarray(at, at + 100_000));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const loadModel = runtimeLoadModel();
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const events: LoadProgress[] = [];
      const model = await loadModel(module.manifest as Manifest, null, base, { wasm: module.wasm!, threads: 1, onProgress: (p) => events.push(p) });
      checkProgress(events, total);
      expect(events.length).toBeGreaterThan(10);
      expect((await model.run({ x })).y).toEqual(want);
    } finally {
      server.close();
    }
  });

  it("rejects an onProgress that is not a function", async () => {
    await expect(load({ onProgress: 5 as unknown as () => void })).rejects.toThrow(TypeError);
  });

  it("dispose() lets the model go; run() afterwards is an error", async () => {
    const model = await load();
    expect((await model.run({ x })).y).toEqual(want);
    model.dispose();
    model.dispose();
    await expect(model.run({ x })).rejects.toThrow(/disposed/);
  });
});
