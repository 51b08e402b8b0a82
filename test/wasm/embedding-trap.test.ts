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
});
