// Data movement in both builds: what the conformance tests (test/conformance) cannot check, a
// kernel trapping on bad data.
import { describe, expect, it } from "vitest";
import { buildWasm } from "../../codegen/wasm/module.js";
import { model, runBuild } from "./helpers.js";

describe("wasm data movement kernels", () => {
  it("embedding traps on an out-of-range id", async () => {
    const g = model("  input ids: i32[3]\n  output y = e: embedding(ids, 5, 4)");
    for (const bad of [5, -1]) await expect(runBuild(buildWasm(g, { relaxed: false }), { ids: Int32Array.from([0, bad, 1]) })).rejects.toThrow(WebAssembly.RuntimeError);
  });

  it("gather along an axis reads negative ids from the end and traps outside [-d, d)", async () => {
    const g = model("  input x: f32[2, 4]\n  input ids: i32[2]\n  output y = gather(x, ids, axis=1)");
    const x = Float32Array.from({ length: 8 }, (_, i) => i);
    const build = buildWasm(g, { relaxed: false });
    expect(Array.from((await runBuild(build, { x, ids: Int32Array.of(-1, 2) })).y!)).toEqual([3, 2, 7, 6]);
    for (const bad of [4, -5]) await expect(runBuild(build, { x, ids: Int32Array.of(0, bad) })).rejects.toThrow(WebAssembly.RuntimeError);
  });
});
