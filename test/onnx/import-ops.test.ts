// The ONNX operators that map to the IR's data-movement ops (Pad, Expand, Tile, Gather on
// run-time data, Slice with steps), Resize and Upsample, and ConvTranspose: each form on small
// hand-built graphs, imported and run on the interpreter against onnxruntime (checkImport's
// tolerance), and the forms graphc refuses named.
import { describe, expect, it } from "vitest";
import { importOnnx, OnnxImportError } from "../../src/onnx/import.js";
import { DataType } from "../../src/onnx/proto.js";
import { fl, floatTensor, fls, intTensor, onnxModel, type ModelSpec, type NodeSpec } from "./build.js";
import { checkImport, normals, rng, type ImportInput } from "./helpers.js";

const rand = (n: number, seed: number, std = 1) => normals(n, rng(seed), std);
const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const floats = (dims: number[], seed: number): ImportInput => ({ dims, data: rand(numel(dims), seed) });
const int64s = (dims: number[], values: number[]): ImportInput => ({ dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });

/** One node on input `x` (and any others), its output `y` (of ONNX element type `yType`). */
function single(opset: number, node: Omit<NodeSpec, "outputs">, inputs: Record<string, ImportInput>, initializers: ModelSpec["initializers"] = [], yType: number = DataType.FLOAT): Uint8Array {
  return onnxModel({
    opset,
    inputs: Object.entries(inputs).map(([name, v]) => ({ name, dims: v.dims, ...(v.data instanceof BigInt64Array ? { type: DataType.INT64 } : {}) })),
    outputs: [{ name: "y", type: yType }],
    initializers,
    nodes: [{ ...node, outputs: ["y"] }],
  });
}

/** The problems importOnnx reports for `bytes` (none: []). */
function problems(bytes: Uint8Array): string[] {
  try {
    importOnnx(bytes, "t.onnx");
  } catch (e) {
    if (e instanceof OnnxImportError) return e.problems;
    throw e;
  }
  return [];
}

describe("Pad", () => {
  const x = { x: floats([1, 2, 5, 6], 1) };
  it("opset 2-10 attributes: constant with a value, reflect, edge", async () => {
    for (const [mode, value] of [["constant", 1.5], ["reflect", 0], ["edge", 0]] as const) {
      const { imported } = await checkImport(single(10, { op: "Pad", inputs: ["x"], attrs: { pads: [0, 0, 1, 2, 0, 0, 2, 1], mode, value: fl(value) } }, x), x);
      expect(imported.source).toContain(mode === "constant" ? "pad(x, (2, 1, 1, 2), value=1.5)" : `mode="${mode === "edge" ? "replicate" : mode}"`);
    }
  });

  it("opset 11+ inputs with negative pads (crops), constant_value, and opset 18 axes", async () => {
    for (const mode of ["constant", "reflect", "edge"]) {
      const pads = intTensor("pads", [8], [0, 0, -1, 2, 0, 0, 1, -2]);
      await checkImport(single(13, { op: "Pad", inputs: ["x", "pads", "v"], attrs: { mode } }, x, [pads, floatTensor("v", [], [-0.75])]), x);
    }
    const { imported } = await checkImport(single(18, { op: "Pad", inputs: ["x", "pads", "", "axes"], attrs: { mode: "reflect" } }, x, [intTensor("pads", [2], [3, 1]), intTensor("axes", [1], [-1])]), x);
    expect(imported.source).toContain('pad(x, (3, 1), mode="reflect")');
  });

  it("refuses wrap (opset 19)", () => {
    const bytes = single(19, { op: "Pad", name: "p", inputs: ["x", "pads"], attrs: { mode: "wrap" } }, x, [intTensor("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1])]);
    expect(problems(bytes)).toEqual(["Pad node `p` (opset 19): mode wrap is not supported (constant, reflect and edge are)"]);
  });
});

describe("Resize and Upsample", () => {
  const x = { x: floats([1, 2, 5, 7], 2) };
  const scales = (v: number[]) => floatTensor("scales", [4], v);
  const sizes = (v: number[]) => intTensor("sizes", [4], v);

  it("Upsample (opsets 7 and 9) and Resize-10: scales, asymmetric coordinates, nearest up and down", async () => {
    for (const mode of ["nearest", "linear"]) {
      await checkImport(single(7, { op: "Upsample", inputs: ["x"], attrs: { mode, scales: fls([1, 1, 2, 3]) } }, x), x);
      await checkImport(single(9, { op: "Upsample", inputs: ["x", "scales"], attrs: { mode } }, x, [scales([1, 1, 2, 1.5])]), x);
      await checkImport(single(10, { op: "Resize", inputs: ["x", "scales"], attrs: { mode } }, x, [scales([1, 1, 0.5, 0.6])]), x);
    }
  });

  it("Resize-11, 13 and 19: scales or sizes, every coordinate map and nearest rounding the IR has", async () => {
    const roi = floatTensor("roi", [0], []);
    for (const coordinate_transformation_mode of ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"])
      for (const [mode, nearest_mode] of [["linear", "round_prefer_floor"], ["nearest", "round_prefer_floor"], ["nearest", "round_prefer_ceil"], ["nearest", "floor"], ["nearest", "ceil"]] as const) {
        const attrs = { mode, nearest_mode, coordinate_transformation_mode };
        await checkImport(single(11, { op: "Resize", inputs: ["x", "roi", "scales"], attrs }, x, [roi, scales([1, 1, 1.6, 2])]), x);
        await checkImport(single(13, { op: "Resize", inputs: ["x", "", "", "sizes"], attrs }, x, [sizes([1, 2, 3, 11])]), x);
        await checkImport(single(19, { op: "Resize", inputs: ["x", "", "scales"], attrs }, x, [scales([1, 1, 0.5, 3])]), x);
      }
    // onnxruntime 1.30 no longer runs tf_half_pixel_for_nearest (dropped from the spec in opset
    // 13): the import names it for the IR's map (which the resize tests check).
    const tf = importOnnx(single(11, { op: "Resize", inputs: ["x", "roi", "scales"], attrs: { coordinate_transformation_mode: "tf_half_pixel_for_nearest", nearest_mode: "floor" } }, x, [roi, scales([1, 1, 2, 2])]), "t.onnx");
    expect(tf.source).toContain('resize(x, scale=(2.0, 2.0), mode="nearest", coordinate="tf_half_pixel_for_nearest", nearest="floor")');
  });

  it("Resize-18: scales and sizes for the listed axes", async () => {
    await checkImport(single(18, { op: "Resize", inputs: ["x", "", "scales"], attrs: { mode: "linear", axes: [2, 3] } }, x, [floatTensor("scales", [2], [2, 1.5])]), x);
    const { imported } = await checkImport(single(18, { op: "Resize", inputs: ["x", "", "", "sizes"], attrs: { mode: "nearest", axes: [-1] } }, x, [intTensor("sizes", [1], [9])]), x);
    expect(imported.source).toContain('resize(x, size=(5, 9), mode="nearest", coordinate="half_pixel", nearest="round_prefer_floor")');
  });

  it("refuses cubic, crop-and-resize, half_pixel_symmetric and resizing N or C, naming each", () => {
    const cases: [number, Record<string, string>, number[], string][] = [
      [13, { mode: "cubic" }, [1, 1, 2, 2], "mode cubic is not supported (the IR's resize is nearest or linear)"],
      [13, { mode: "linear", coordinate_transformation_mode: "tf_crop_and_resize" }, [1, 1, 2, 2], "coordinate_transformation_mode tf_crop_and_resize is not supported"],
      [19, { mode: "linear", coordinate_transformation_mode: "half_pixel_symmetric" }, [1, 1, 2, 2], "coordinate_transformation_mode half_pixel_symmetric is not supported"],
      [13, { mode: "nearest" }, [1, 2, 2, 2], "scales [1, 2, 2, 2] resize N or C (only H and W are resized)"],
    ];
    for (const [opset, attrs, s, message] of cases) {
      const got = problems(single(opset, { op: "Resize", name: "r", inputs: ["x", "", "scales"], attrs }, x, [scales(s)]));
      expect(got).toHaveLength(1);
      expect(got[0]).toContain(`Resize node \`r\` (opset ${opset}): ${message}`);
    }
  });
});

describe("ConvTranspose", () => {
  const x = { x: floats([1, 4, 5, 6], 3) };
  const weights = (groups: number, out: number, k: [number, number]) => [floatTensor("w", [4, out / groups, ...k], rand((4 * out * k[0] * k[1]) / groups, 4, 0.5)), floatTensor("b", [out], rand(out, 5))];

  it("strides, pads, output_padding, groups, dilations, with and without a bias", async () => {
    const cases: [Record<string, number[] | number>, number, [number, number]][] = [
      [{ strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, 3, [3, 3]],
      [{ strides: [2, 3], pads: [0, 1, 2, 0], output_padding: [1, 2], group: 2 }, 6, [4, 3]],
      [{ strides: [1, 2], dilations: [2, 1], group: 4 }, 4, [3, 2]],
    ];
    for (const [attrs, out, k] of cases) {
      const init = weights(Number(attrs.group ?? 1), out, k);
      await checkImport(single(11, { op: "ConvTranspose", inputs: ["x", "w", "b"], attrs: { ...attrs, kernel_shape: k } }, x, init), x);
      await checkImport(single(11, { op: "ConvTranspose", inputs: ["x", "w"], attrs }, x, init.slice(0, 1)), x);
    }
  });

  it("output_shape and auto_pad SAME_* (as pads, the odd one at the end for SAME_UPPER, else at the start), VALID", async () => {
    const init = weights(1, 3, [3, 3]);
    const cases: [string, number[] | undefined, number[]][] = [
      ["NOTSET", [9, 10], [9, 10]],
      ["SAME_UPPER", undefined, [10, 12]],
      ["SAME_LOWER", [10, 12], [10, 12]],
      ["VALID", undefined, [11, 13]],
    ];
    for (const [auto_pad, output_shape, hw] of cases) {
      const attrs = { strides: [2, 2], auto_pad, ...(output_shape ? { output_shape } : {}) };
      const { g } = await checkImport(single(11, { op: "ConvTranspose", inputs: ["x", "w", "b"], attrs }, x, init), x);
      expect(g.values[g.outputs[0]!.value]!.type.shape.slice(2)).toEqual(hw);
    }
  });
});

describe("Expand, Tile, Gather and Slice on run-time tensors", () => {
  it("Expand both ways (a shorter shape, 1s that keep x's dims, new leading dims) and Tile", async () => {
    const x = { x: floats([3, 1], 6) };
    for (const shape of [[2, 1, 4], [4], [3, 1], [1, 1, 5]]) await checkImport(single(13, { op: "Expand", inputs: ["x", "s"] }, x, [intTensor("s", [shape.length], shape)]), x);
    const { imported } = await checkImport(single(13, { op: "Tile", inputs: ["x", "r"] }, x, [intTensor("r", [2], [2, 3])]), x);
    expect(imported.source).toContain("tile(x, [2, 3])");
  });

  it("Gather of run-time ids on any axis, of constant ids of any shape, and of run-time ids into a constant 3-D table", async () => {
    const x = floats([2, 5, 3], 7);
    for (const axis of [0, 1, 2, -1]) {
      const n = x.dims[axis < 0 ? axis + 3 : axis]!;
      const ids = int64s([2, 2], [0, n - 1, -1, 1]);
      await checkImport(single(13, { op: "Gather", inputs: ["x", "ids"], attrs: { axis } }, { x, ids }), { x, ids });
      const { imported } = await checkImport(single(13, { op: "Gather", inputs: ["x", "c"], attrs: { axis } }, { x }, [intTensor("c", [2, 3], [0, -1, 1, 1, 0, n - 2])]), { x });
      expect(imported.source).toContain("gather(x, [");
    }
    const ids = int64s([4], [1, 0, 4, -2]);
    await checkImport(single(13, { op: "Gather", inputs: ["table", "ids"], attrs: { axis: 1 } }, { ids }, [floatTensor("table", [2, 5, 3], rand(30, 8))]), { ids });
  });

  it("Slice with steps (negative, over several axes: a chain of slices)", async () => {
    const x = { x: floats([4, 7, 6], 9) };
    const BIG = 2 ** 62;
    const cases: [number[], number[], number[], number[]][] = [
      [[-1, 1], [-BIG, BIG], [1, 2], [-1, 2]],
      [[5, 0, 3], [0, 7, -BIG], [2, 1, 0], [-2, 3, -1]],
      [[1], [-1], [-2], [2]],
    ];
    for (const [starts, ends, axes, steps] of cases) {
      const init = [intTensor("s", [starts.length], starts), intTensor("e", [ends.length], ends), intTensor("a", [axes.length], axes), intTensor("st", [steps.length], steps)];
      await checkImport(single(13, { op: "Slice", inputs: ["x", "s", "e", "a", "st"] }, x, init), x);
    }
  });

  it("a Hugging Face-style extended attention mask: Unsqueeze, Cast, Sub, Mul, Expand over the heads, added to the scores", async () => {
    const [b, h, s] = [2, 2, 4];
    const spec: ModelSpec = {
      opset: 13,
      inputs: [{ name: "scores", dims: [b, h, s, s] }, { name: "attention_mask", dims: [b, s], type: DataType.INT64 }],
      outputs: ["probs"],
      initializers: [intTensor("axes", [2], [1, 2]), floatTensor("one", [], [1]), floatTensor("min", [], [-3.4028234663852886e38]), intTensor("shape", [4], [b, h, s, s])],
      nodes: [
        { op: "Unsqueeze", inputs: ["attention_mask", "axes"], outputs: ["m4"] },
        { op: "Cast", inputs: ["m4"], outputs: ["mf"], attrs: { to: 1 } },
        { op: "Sub", inputs: ["one", "mf"], outputs: ["inv"] },
        { op: "Mul", inputs: ["inv", "min"], outputs: ["bias"] },
        { op: "Expand", inputs: ["bias", "shape"], outputs: ["bias4"] },
        { op: "Add", inputs: ["scores", "bias4"], outputs: ["masked"] },
        { op: "Softmax", inputs: ["masked"], outputs: ["probs"], attrs: { axis: -1 } },
      ],
    };
    const inputs = { scores: floats([b, h, s, s], 10), attention_mask: int64s([b, s], [1, 1, 1, 0, 1, 1, 0, 0]) };
    const { imported } = await checkImport(onnxModel(spec), inputs);
    expect(imported.source).toContain(`expand(`);
  });
});

describe("Where, comparisons, Not, HardSigmoid and constants at run time", () => {
  const x = floats([2, 3], 11);
  const y = floats([3], 12);

  it("Equal, Less, LessOrEqual, Greater, GreaterOrEqual between tensors and with a number on either side; Not; Where", async () => {
    for (const op of ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]) {
      // Equal on floats: some elements equal.
      const yy = op === "Equal" ? { dims: [3], data: Float32Array.of(x.data[0] as number, 0.5, x.data[5] as number) } : y;
      const spec: ModelSpec = {
        opset: 13,
        inputs: [{ name: "x", dims: [2, 3] }, { name: "y", dims: [3] }],
        outputs: [...["both", "right", "left"].map((name) => ({ name, type: DataType.BOOL })), "pick"],
        initializers: [floatTensor("c", [], [0.25])],
        nodes: [
          { op, inputs: ["x", "y"], outputs: ["both"] },
          { op, inputs: ["x", "c"], outputs: ["right"] },
          { op, inputs: ["c", "x"], outputs: ["left"] },
          { op: "Not", inputs: ["both"], outputs: ["nb"] },
          { op: "Where", inputs: ["nb", "x", "y"], outputs: ["pick"] },
        ],
      };
      await checkImport(onnxModel(spec), { x, y: yy });
    }
  });

  it("comparisons of integer tensors with integer constants", async () => {
    const ids = int64s([2, 4], [0, 3, 0, 7, 1, 0, 2, 0]);
    const { imported } = await checkImport(single(13, { op: "Equal", inputs: ["ids", "zero"] }, { ids }, [intTensor("zero", [], [0])], DataType.BOOL), { ids });
    expect(imported.source).toContain("equal(ids, 0)");
  });

  it("a Hugging Face-style attention mask: Equal(mask, 0), Expand over the heads, Where(-FLT_MAX, scores)", async () => {
    const [b, h, s] = [2, 2, 4];
    const spec: ModelSpec = {
      opset: 14,
      inputs: [{ name: "scores", dims: [b, h, s, s] }, { name: "attention_mask", dims: [b, s], type: DataType.INT64 }],
      outputs: ["probs"],
      initializers: [intTensor("axes", [2], [1, 2]), intTensor("zero", [], [0]), floatTensor("min", [], [-3.4028234663852886e38]), intTensor("shape", [4], [b, h, s, s])],
      nodes: [
        { op: "Unsqueeze", inputs: ["attention_mask", "axes"], outputs: ["m4"] },
        { op: "Equal", inputs: ["m4", "zero"], outputs: ["masked"] },
        { op: "Expand", inputs: ["masked", "shape"], outputs: ["masked4"] },
        { op: "Where", inputs: ["masked4", "min", "scores"], outputs: ["filled"] },
        { op: "Softmax", inputs: ["filled"], outputs: ["probs"], attrs: { axis: -1 } },
      ],
    };
    const inputs = { scores: floats([b, h, s, s], 13), attention_mask: int64s([b, s], [1, 1, 1, 0, 1, 1, 0, 0]) };
    const { imported } = await checkImport(onnxModel(spec), inputs);
    expect(imported.source).toMatch(/where\(masked4, -3\.4028235e\+?38, scores\)/);
  });

  it("HardSigmoid as one op with its alpha and beta", async () => {
    for (const [alpha, beta, text] of [[0.2, 0.5, "hard_sigmoid(x, alpha=0.2)"], [0.3, 0.4, "hard_sigmoid(x, alpha=0.3, beta=0.4)"], [1 / 6, 0.5, "hard_sigmoid(x)"]] as const) {
      const { imported } = await checkImport(single(13, { op: "HardSigmoid", inputs: ["x"], attrs: { alpha: fl(alpha), beta: fl(beta) } }, { x }), { x });
      expect(imported.source).toContain(text);
    }
  });

  it("integer, bool and small float constants used at run time are tensor literals", async () => {
    const ids = int64s([2, 3], [1, 2, 3, 4, 5, 6]);
    const constant = (name: string, t: ReturnType<typeof intTensor>) => ({ op: "Constant", inputs: [], outputs: [name], attrs: { value: { tensor: t } } });
    const spec: ModelSpec = {
      opset: 13,
      inputs: [{ name: "x", dims: [2, 3] }, { name: "ids", dims: [2, 3], type: DataType.INT64 }],
      outputs: [{ name: "shifted", type: DataType.INT64 }, "scaled", "picked", { name: "width", type: DataType.INT64 }],
      nodes: [
        constant("offsets", intTensor("offsets", [2, 3], [10, 20, 30, 40, 50, 60])),
        constant("gains", floatTensor("gains", [3], [0.5, 2, -1])),
        constant("keep", { ...intTensor("keep", [3], [1, 0, 1]), data_type: DataType.BOOL, raw_data: Uint8Array.of(1, 0, 1) }),
        { op: "Add", inputs: ["ids", "offsets"], outputs: ["shifted"] },
        { op: "Mul", inputs: ["x", "gains"], outputs: ["scaled"] },
        { op: "Where", inputs: ["keep", "x", "scaled"], outputs: ["picked"] },
        // a folded scalar as an output: a one-element literal reshaped to []
        { op: "Shape", inputs: ["x"], outputs: ["shape"] },
        constant("one", intTensor("one", [], [1])),
        { op: "Gather", inputs: ["shape", "one"], outputs: ["width"] },
      ],
    };
    const { imported } = await checkImport(onnxModel(spec), { x, ids });
    expect(imported.source).toContain('tensor([[10, 20, 30], [40, 50, 60]], dtype="i64")');
    expect(imported.source).toContain("tensor([0.5, 2.0, -1.0])");
    expect(imported.source).toContain('tensor([1, 0, 1], dtype="i32") != 0');
    expect(imported.source).toContain('reshape(tensor([3], dtype="i64"), [])');
    expect(imported.weights.size).toBe(0);
  });
});
