// onSharedMemory (codegen/module/threads.ts), which load() uses to run a one-thread build on
// several threads, writes exactly the module Binaryen writes for the same code importing its
// memory shared: with and without an import section of its own, for memories whose limits take
// one to three LEB128 bytes, with the custom sections (the build id) kept in place.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { onSharedMemory } from "../../codegen/module/threads.js";
import { withBuildSection } from "../../codegen/module/checks.js";

/** A module of `pages` pages (its own memory, then the same importing it shared), optionally importing a function first. */
function builds(pages: number, functionImport: boolean): [Uint8Array, Uint8Array] {
  const mod = new binaryen.Module();
  try {
    mod.setFeatures(binaryen.Features.All);
    mod.setMemory(pages, pages, "memory");
    if (functionImport) mod.addFunctionImport("mark", "profile", "mark", binaryen.createType([binaryen.i32]), binaryen.none);
    const body = mod.block(null, [
      ...(functionImport ? [mod.call("mark", [mod.i32.const(1)], binaryen.none)] : []),
      mod.i32.atomic.store(0, mod.i32.const(16), mod.i32.add(mod.i32.load(0, 4, mod.i32.const(0)), mod.i32.const(1))),
    ]);
    mod.addFunction("run", binaryen.none, binaryen.none, [], body);
    mod.addFunctionExport("run", "run");
    const own = mod.emitBinary();
    mod.setMemory(pages, pages, null, [], true);
    mod.addMemoryImport("0", "env", "memory", true);
    return [own, mod.emitBinary()];
  } finally {
    mod.dispose();
  }
}

describe("onSharedMemory", () => {
  for (const functionImport of [false, true])
    for (const pages of [1, 127, 128, 2764, 16384, 65536])
      it(`${pages} pages${functionImport ? ", after a function import" : ""}: Binaryen's shared-memory build, byte for byte`, () => {
        const [own, shared] = builds(pages, functionImport);
        expect(Buffer.from(onSharedMemory(own)!).equals(Buffer.from(shared))).toBe(true);
        const id = "0123456789abcdef";
        expect(Buffer.from(onSharedMemory(withBuildSection(own, id))!).equals(Buffer.from(withBuildSection(shared, id)))).toBe(true);
        expect(WebAssembly.validate(onSharedMemory(own)! as Uint8Array<ArrayBuffer>)).toBe(true);
      });

  it("runs on a shared memory given to it", async () => {
    const [own] = builds(1, false);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    new Int32Array(memory.buffer)[0] = 41;
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(onSharedMemory(own)! as Uint8Array<ArrayBuffer>), { env: { memory } });
    (instance.exports.run as () => void)();
    expect(new Int32Array(memory.buffer)[4]).toBe(42);
  });

  it("is null for a module without a memory of its own", () => {
    const [, shared] = builds(1, false);
    expect(onSharedMemory(shared)).toBeNull();
  });
});
