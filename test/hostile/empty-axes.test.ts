// sum / mean / amax over an empty axes list: numpy reduces nothing, ONNX everything, and graphc
// once did one in its kernels and the other in its ONNX export. The list is rejected: by the
// language with a located diagnostic (test/golden/diagnostics/empty_axes.nn), by the registry's
// shape inference, and by the ONNX export for a node that bypassed inference.
import { describe, expect, it } from "vitest";
import { emptyGraph } from "../../src/ir/graph.js";
import { ShapeError } from "../../src/ir/ops.js";
import { addNode } from "../../src/ir/rewrite.js";
import { exportOnnx } from "../../src/onnx/export.js";

const reductions = ["reduce_sum", "reduce_mean", "reduce_max"] as const;

/** A graph x: f32[2, 3] -> op(x, axes). */
function reduction(op: string, axes: number[]) {
  const g = emptyGraph("m");
  g.values.push({ id: 0, type: { dtype: "f32", shape: [2, 3] }, kind: "input" });
  g.inputs.push({ name: "x", value: 0 });
  g.outputs.push({ name: "y", value: addNode(g, op, [0], { axes })[0]! });
  return g;
}

describe.each(reductions)("%s with no axes", (op) => {
  it("is a shape error saying how to reduce every axis", () => {
    expect(() => reduction(op, [])).toThrow(ShapeError);
    expect(() => reduction(op, [])).toThrow(`${op}: no axes to reduce; to reduce every axis, list them: [0, 1]`);
  });

  it("is never exported as an ONNX reduction of every axis", () => {
    const g = reduction(op, [0]);
    g.nodes[0]!.attrs.axes = [];
    expect(() => exportOnnx(g, new Map())).toThrow(/empty axes list/);
  });
});
