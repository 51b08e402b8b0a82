// Data movement (transpose, concat, split, slice, reshape, embedding) in both builds: exact.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildWasm } from "../../codegen/wasm/module.js";
import { checkModel, dim, dims, f32, inputsFor, model, property, runBuild, shape } from "./core-helpers.js";

const exact = { rel: 0, abs: 0 };
async function check(body: string, seed: number): Promise<void> {
  const g = model(body, seed);
  await checkModel(g, inputsFor(g, seed), exact, `\n${body}`);
}

describe("wasm data movement kernels", () => {
  it("transpose", () =>
    property(
      shape(1, 5, 6).chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }))),
      ([s, perm], seed) => check(`${f32("x", s)}\n  output y = transpose(x, [${perm.join(", ")}])`, seed),
      40,
    ));

  it("concat", () =>
    property(
      shape(1, 4).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.array(dim(6), { minLength: 1, maxLength: 3 }))),
      ([s, axis, sizes], seed) => {
        const decls = sizes.map((k, i) => f32(`x${i}`, s.map((d, j) => (j === axis ? k : d)))).join("\n");
        return check(`${decls}\n  output y = concat([${sizes.map((_, i) => `x${i}`).join(", ")}], ${axis})`, seed);
      },
      30,
    ));

  it("split, slice and reshape", () =>
    property(
      shape(1, 4).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.array(dim(5), { minLength: 1, maxLength: 3 }))),
      ([s, axis, sizes], seed) => {
        const total = sizes.reduce((a, b) => a + b, 0);
        const full = s.map((d, j) => (j === axis ? total : d));
        const outs = sizes.map((_, i) => `  output p${i} = ps[${i}]`).join("\n");
        return check(`${f32("x", full)}\n  ps = split(x, [${sizes.join(", ")}], ${axis})\n${outs}\n  output q = reshape(slice(x, ${axis}, ${total - 1}, ${total}), [-1])\n  output r = reshape(x, [-1]) * 2.0`, seed);
      },
      30,
    ));

  it("embedding", () =>
    property(
      fc.tuple(shape(1, 2), dim(10), dim(9), fc.constantFrom("i32", "i64")),
      ([s, n, d, t], seed) => {
        const g = model(`  input ids: ${t}${dims(s)}\n  output y = e: embedding(ids, ${n}, ${d})`, seed);
        return checkModel(g, inputsFor(g, seed, [0, 1], n), exact);
      },
      20,
    ));

  it("embedding traps on an out-of-range id", async () => {
    const g = model("  input ids: i32[3]\n  output y = e: embedding(ids, 5, 4)");
    for (const bad of [5, -1]) await expect(runBuild(buildWasm(g, { relaxed: false }), { ids: Int32Array.from([0, bad, 1]) })).rejects.toThrow(WebAssembly.RuntimeError);
  });
});
