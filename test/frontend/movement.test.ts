// The data-movement built-ins from the language to the interpreter: PyTorch's argument
// conventions (F.pad's pair order, expand's -1, tile's short repeats, Python slicing) become the
// IR's ONNX-style attributes, with the values PyTorch gives (written out by hand here).
import { describe, expect, it } from "vitest";
import { elaborate } from "../../src/driver.js";
import type { Graph } from "../../src/ir/graph.js";
import { InterpError, interpret, type TensorData } from "../../src/interp/index.js";

const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

/** The model `body` (one input x: f32[shape] holding 0, 1, 2, ...), its graph and output y. */
function run(shape: number[], body: string, extra: Record<string, TensorData> = {}, decls = ""): { graph: Graph; y: number[]; shape: number[] } {
  const { graph, warnings } = elaborate({ path: "t.nn", text: `model m() {\n  input x: f32[${shape.join(", ")}]\n${decls}  output y = ${body}\n}\n` });
  expect(warnings).toEqual([]);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = interpret(graph, new Map(), { x: iota(n), ...extra });
  const port = graph.outputs.find((p) => p.name === "y")!;
  return { graph, y: Array.from(out.y as Float32Array), shape: graph.values[port.value]!.type.shape };
}

const attrsOf = (g: Graph, op: string) => g.nodes.find((n) => n.op === op)!.attrs;

describe("pad", () => {
  it("takes F.pad's (left, right, top, bottom) order and gives the IR ONNX's", () => {
    const r = run([1, 2, 3], "pad(x, (1, 0, 0, 2))");
    expect(attrsOf(r.graph, "pad")).toEqual({ pads: [0, 0, 1, 0, 2, 0], mode: "constant", value: 0 });
    expect(r.shape).toEqual([1, 4, 4]);
    expect(r.y).toEqual([0, 0, 1, 2, 0, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it.each([
    ["(2, 1), mode=\"reflect\"", [2, 1, 0, 1, 2, 3, 2]],
    ["(2, 1), mode=\"replicate\"", [0, 0, 0, 1, 2, 3, 3]],
    ["(2, 1), value=9", [9, 9, 0, 1, 2, 3, 9]],
    // Negative pads crop first; reflect then mirrors what is kept.
    ["(-1, 2), mode=\"reflect\"", [1, 2, 3, 2, 1]],
    ["(-1, -2)", [1]],
  ])("pad(x, %s) of [0, 1, 2, 3]", (args, want) => {
    expect(run([4], `pad(x, ${args})`).y).toEqual(want);
  });
});

describe("slice", () => {
  it("keeps the old signature and IR (no step attribute)", () => {
    const r = run([7], "slice(x, 0, 2, 4)");
    expect(attrsOf(r.graph, "slice")).toEqual({ axis: 0, start: 2, end: 4 });
    expect(r.y).toEqual([2, 3]);
  });

  it.each([
    ["1, 6, step=2", [1, 3, 5]],
    ["none, none, step=-1", [6, 5, 4, 3, 2, 1, 0]],
    ["-2, 0, step=-2", [5, 3, 1]],
    ["1, 100", [1, 2, 3, 4, 5, 6]],
    ["-3, none", [4, 5, 6]],
    ["5, none, step=-3", [5, 2]],
  ])("slice(x, 0, %s) of 0..6, as Python's x[start:end:step]", (args, want) => {
    expect(run([7], `slice(x, 0, ${args})`).y).toEqual(want);
  });

  it("steps along an inner axis", () => {
    expect(run([2, 5], "slice(x, -1, 4, none, step=-2)").y).toEqual([4, 2, 0, 9, 7, 5]);
  });
});

describe("expand and broadcast_to", () => {
  it("stretches dims of 1 and adds leading ones", () => {
    const r = run([3, 1], "expand(x, [2, 3, 4])");
    expect(r.shape).toEqual([2, 3, 4]);
    expect(r.y).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  });

  it("keeps a dim given as -1", () => {
    const r = run([3, 1], "broadcast_to(x, [-1, 2])");
    expect(attrsOf(r.graph, "expand")).toEqual({ shape: [3, 2] });
    expect(r.y).toEqual([0, 0, 1, 1, 2, 2]);
  });
});

describe("tile", () => {
  it("repeats the last axes when given fewer repeats", () => {
    const r = run([2, 2], "tile(x, (2,))");
    expect(r.shape).toEqual([2, 4]);
    expect(r.y).toEqual([0, 1, 0, 1, 2, 3, 2, 3]);
  });

  it("treats x as having leading 1s when given more", () => {
    const r = run([2], "tile(x, (2, 3))");
    expect(r.shape).toEqual([2, 6]);
    expect(r.y).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  });
});

describe("gather and index_select", () => {
  const ids = { ids: Int32Array.of(3, -1) };

  it("gather along an axis; negative ids count from the end", () => {
    const r = run([3, 4], "gather(x, ids, axis=1)", ids, "  input ids: i32[2]\n");
    expect(r.shape).toEqual([3, 2]);
    expect(r.y).toEqual([3, 3, 7, 7, 11, 11]);
  });

  it("the ids' shape replaces the axis", () => {
    const r = run([3, 2], "gather(x, ids, axis=0)", { ids: Int32Array.of(2, 0, 1, 1) }, "  input ids: i32[2, 2]\n");
    expect(r.shape).toEqual([2, 2, 2]);
    expect(r.y).toEqual([4, 5, 0, 1, 2, 3, 2, 3]);
  });

  it("index_select takes a list of ints", () => {
    const r = run([3, 2], "index_select(x, 0, [2, -3])");
    expect(r.y).toEqual([4, 5, 0, 1]);
  });

  it("ids outside [-d, d) are an error", () => {
    expect(() => run([3, 4], "gather(x, ids, axis=1)", { ids: Int32Array.of(4, -5) }, "  input ids: i32[2]\n")).toThrow(new InterpError("gather: id 4 at position 0 is outside [-4, 4)"));
  });

  it("embedding still rejects negative ids, as PyTorch does", () => {
    const { graph } = elaborate({ path: "t.nn", text: "model m() {\n  input ids: i32[2]\n  output y = e: embedding(ids, 5, 3)\n}\n" });
    expect(attrsOf(graph, "gather")).toEqual({ negative_ids: "error" });
    const weights = new Map([["e.weight", iota(15)]]);
    expect(() => interpret(graph, weights, { ids: Int32Array.of(0, -1) })).toThrow(new InterpError("gather: id -1 at position 1 is outside [0, 5)"));
    expect(Array.from(interpret(graph, weights, { ids: Int32Array.of(4, 0) }).y as Float32Array)).toEqual([12, 13, 14, 0, 1, 2]);
  });
});
