import { describe, it, expect } from "vitest";
import type { InitKind, Weight } from "../../src/ir/graph.js";
import { matchCheckpoint, type LoadedTensor } from "../../src/weights/bind.js";
import { expectCode } from "./helpers.js";

const zeros: InitKind = { kind: "zeros" };
const w = (name: string, shape: number[], dtype: "f32" | "i64" | "i32" = "f32"): Weight => ({
  name,
  value: 0,
  type: { dtype, shape },
  trainable: dtype === "f32",
  init: zeros,
});
const t = (shape: number[], data: LoadedTensor["data"]): LoadedTensor => ({ shape, data });

describe("matchCheckpoint", () => {
  const expected = [w("fc.weight", [2, 3]), w("bn.num_batches_tracked", [], "i64")];

  it("binds matching tensors without copying", () => {
    const weight = new Float32Array(6);
    const file = new Map([
      ["fc.weight", t([2, 3], weight)],
      ["bn.num_batches_tracked", t([], new BigInt64Array([3n]))],
    ]);
    const { data, warnings } = matchCheckpoint(expected, file, {});
    expect(data.get("fc.weight")).toBe(weight);
    expect(data.get("bn.num_batches_tracked")).toEqual(new BigInt64Array([3n]));
    expect(warnings).toEqual([]);
  });

  it("widens I32 data for i64 buffers", () => {
    const file = new Map([["n", t([1], new Int32Array([-5]))]]);
    expect(matchCheckpoint([w("n", [1], "i64")], file).data.get("n")).toEqual(new BigInt64Array([-5n]));
  });

  it("lists up to 10 missing weights and the count", () => {
    const many = Array.from({ length: 13 }, (_, i) => w(`layer${i}.weight`, [1]));
    const e = expectCode(() => matchCheckpoint(many, new Map(), { file: "ckpt.safetensors" }), "missing_weights");
    expect(e.message).toContain("ckpt.safetensors");
    expect(e.message).toContain("missing 13");
    expect(e.message).toContain("layer9.weight");
    expect(e.message).not.toContain("layer10.weight");
    expect(e.message).toContain("3 more");
  });

  it("names the tensor and both shapes on a shape mismatch", () => {
    const file = new Map([
      ["fc.weight", t([3, 2], new Float32Array(6))],
      ["bn.num_batches_tracked", t([], new BigInt64Array(1))],
    ]);
    const e = expectCode(() => matchCheckpoint(expected, file), "shape_mismatch");
    expect(e.message).toContain('"fc.weight"');
    expect(e.message).toContain("[2, 3]");
    expect(e.message).toContain("[3, 2]");
    expectCode(() => matchCheckpoint([w("s", [])], new Map([["s", t([1], new Float32Array(1))]])), "shape_mismatch");
  });

  it("warns about unexpected tensors, or rejects them when strict", () => {
    const file = new Map([
      ["a", t([1], new Float32Array(1))],
      ["extra", t([1], new Float32Array(1))],
    ]);
    const e = expectCode(() => matchCheckpoint([w("a", [1])], file, { strict: true }), "unexpected_tensors");
    expect(e.message).toContain("extra");
    const { data, warnings } = matchCheckpoint([w("a", [1])], file);
    expect([...data.keys()]).toEqual(["a"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("extra");
  });

  it("checks dtype compatibility", () => {
    expectCode(() => matchCheckpoint([w("a", [1])], new Map([["a", t([1], new BigInt64Array(1))]])), "dtype_mismatch");
    expectCode(() => matchCheckpoint([w("a", [1])], new Map([["a", t([1], new Int32Array(1))]])), "dtype_mismatch");
    expectCode(() => matchCheckpoint([w("n", [], "i64")], new Map([["n", t([], new Float32Array(1))]])), "dtype_mismatch");
    expectCode(() => matchCheckpoint([w("n", [], "i32")], new Map([["n", t([], new BigInt64Array(1))]])), "dtype_mismatch");
  });
});
