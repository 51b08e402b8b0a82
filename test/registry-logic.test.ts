// The registry's shape and type rules for comparisons, where, logical_not and hard_sigmoid's
// attributes, fused or not: what they infer and what they reject.
import { describe, expect, it } from "vitest";
import type { TensorType } from "../src/ir/graph.js";
import { activationOf, getOp, ShapeError } from "../src/ir/ops.js";

const t = (dtype: TensorType["dtype"], ...shape: number[]): TensorType => ({ dtype, shape });
const infer = (op: string, ins: TensorType[], attrs = {}) => getOp(op).infer(ins, attrs);

describe("comparisons, where and logical_not", () => {
  it("compare broadcasting operands of one dtype into a bool tensor", () => {
    expect(infer("less", [t("f32", 2, 1, 4), t("f32", 3, 1)])).toEqual([t("bool", 2, 3, 4)]);
    expect(infer("equal", [t("bool", 4), t("bool", 4)])).toEqual([t("bool", 4)]);
    expect(() => infer("greater", [t("f32", 4), t("i32", 4)])).toThrow(/operand types differ/);
    expect(() => infer("less", [t("bool", 4), t("bool", 4)])).toThrow(/not ordered/);
  });

  it("where broadcasts all three and takes the branches' dtype", () => {
    expect(infer("where", [t("bool", 1, 8), t("f32"), t("f32", 2, 1)])).toEqual([t("f32", 2, 8)]);
    expect(() => infer("where", [t("f32", 8), t("f32", 8), t("f32", 8)])).toThrow(/condition must be a bool/);
    expect(() => infer("where", [t("bool", 8), t("f32", 8), t("i32", 8)])).toThrow(/types differ/);
  });

  it("bool tensors take logical_not and no arithmetic", () => {
    expect(infer("logical_not", [t("bool", 3)])).toEqual([t("bool", 3)]);
    expect(() => infer("logical_not", [t("f32", 3)])).toThrow(ShapeError);
    expect(() => infer("add", [t("bool", 3), t("bool", 3)])).toThrow(/no arithmetic on bool/);
  });
});

describe("hard_sigmoid's alpha and beta", () => {
  const conv = (act: Record<string, unknown>) =>
    infer("conv2d", [t("f32", 1, 2, 4, 4), t("f32", 3, 2, 1, 1)], { stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1, ...act });

  it("travel into an epilogue, defaults for those left out (an attribute without a default must be there)", () => {
    expect(conv({ act: "hard_sigmoid", alpha: 0.2, beta: 0.5 })).toEqual([t("f32", 1, 3, 4, 4)]);
    expect(activationOf({ act: "hard_sigmoid", alpha: 0.2 })).toEqual({ op: "hard_sigmoid", attrs: { alpha: 0.2, beta: 0.5 } });
    expect(activationOf({ act: "elu" })).toEqual({ op: "elu", attrs: { alpha: 1 } });
    expect(() => conv({ act: "clip", min: 0 })).toThrow(/fused clip lacks the attribute max/);
  });

  it("must be in a fused program's step", () => {
    const program = (attrs: Record<string, number>) => infer("fused_elementwise", [t("f32", 4)], { program: [{ op: "hard_sigmoid", args: [0], attrs }] });
    expect(program({ alpha: 1 / 6, beta: 0.5 })).toEqual([t("f32", 4)]);
    expect(() => program({ alpha: 0.2 })).toThrow(/missing attribute beta/);
  });

  it("reject alpha 0 (a constant, not an activation)", () => {
    expect(() => infer("hard_sigmoid", [t("f32", 4)], { alpha: 0, beta: 0.5 })).toThrow(/alpha 0/);
  });
});
