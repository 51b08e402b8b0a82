// What the picture says about each node, read from the IR: op, name, types, parameters, weights,
// the edges between boxes, and the contents of fused kernels.
import { describe, expect, it } from "vitest";
import { elaborate, modelWeights, optimise, pipelineFor } from "../../src/driver.js";
import { modelStats } from "../../src/ir/stats.js";
import { buffersOf, graphView, searchText } from "../../src/viz/view.js";

describe("before the pipeline (resnet18)", () => {
  const g = elaborate({ path: "specs/resnet18.nn" }, { shapes: { image: [1, 3, 32, 32] } }).graph;
  const view = graphView(g);
  const box = (name: string, op: string) => view.boxes.find((b) => b.name === name && b.title === op)!;

  it("a box per node with its op, name, type, parameters and weights", () => {
    expect(box("conv1", "conv2d")).toMatchObject({ kind: "node", cls: "opaque", types: ["f32[1, 64, 16, 16]"], params: 9408, weights: ["conv1.weight f32[64, 3, 7, 7]"], constants: [] });
    // BatchNorm's running statistics are listed, but are buffers, not parameters.
    expect(box("bn1", "batchnorm")).toMatchObject({ params: 128, weights: ["bn1.weight f32[64]", "bn1.bias f32[64]", "bn1.running_mean f32[64]", "bn1.running_var f32[64]"] });
    expect(view.boxes.filter((b) => b.contents)).toEqual([]);
  });

  it("the parameters add up to the model's", () => {
    expect(view.boxes.reduce((s, b) => s + b.params, 0)).toBe(modelStats(g).params);
  });

  it("edges from the input through the nodes to the output", () => {
    const at = (key: string) => view.boxes.findIndex((b) => b.key === key);
    const conv1 = view.boxes.indexOf(box("conv1", "conv2d"));
    expect(view.boxes[0]).toMatchObject({ kind: "input", name: "image", types: ["f32[1, 3, 32, 32]"] });
    expect(view.edges).toContainEqual([at("input-0"), conv1]);
    expect(view.edges).toContainEqual([view.boxes.indexOf(box("fc", "linear")), at("output-0")]);
    // Every node but the first reads another box's value.
    const read = new Set(view.edges.map(([, to]) => to));
    expect(view.boxes.filter((b, i) => b.kind !== "input" && !read.has(i))).toEqual([]);
  });

  it("search text: op, name and weight paths", () => {
    expect(searchText(box("conv1", "conv2d"))).toBe("conv2d conv1 conv1.weight");
  });
});

describe("after the pipeline (tinybert, seq 8)", () => {
  const g = elaborate({ path: "specs/tinybert_4l_312.nn" }, { set: { seq: 8 } }).graph;
  const buffers = buffersOf(g);
  const view = graphView(optimise(g, modelWeights(g).data, pipelineFor(undefined)).graph, { buffers });
  const ops = (b: (typeof view.boxes)[number] | undefined) => b?.contents?.steps.map((s) => (s.note ? `${s.op} (${s.note})` : s.op));

  it("attention: a group of its core decomposition, in order", () => {
    const attention = view.boxes.filter((b) => b.title === "attention");
    expect(attention).toHaveLength(4);
    expect(ops(attention[0])).toEqual(["transpose", "matmul", "mul", "add", "softmax", "matmul"]);
    expect(attention[0]!.contents!.edges).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
  });

  it("epilogues and elementwise programs: the ops they fuse", () => {
    expect(ops(view.boxes.find((b) => b.name === "encoder.layer.0.intermediate.dense"))).toEqual(["linear (bias)", "gelu"]);
    expect(ops(view.boxes.find((b) => b.name === "encoder.layer.0.attention.output.dense"))).toEqual(["linear (bias)", "add (residual)"]);
    expect(ops(view.boxes.find((b) => b.title === "fused_elementwise" && b.name === "embeddings"))).toEqual(["add", "add"]);
  });

  it("a packed Q/K/V linear reads unnamed constants, counted as parameters", () => {
    const qkv = view.boxes.find((b) => b.title === "linear" && b.types[0] === "f32[1, 8, 936]")!;
    expect(qkv).toMatchObject({ weights: [], constants: ["const f32[936, 312]", "const f32[936]"], params: 936 * 312 + 936 });
  });
});
