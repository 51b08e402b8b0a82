// Hand-built ONNX graphs in the styles the common exporters write (PyTorch/torchvision, Hugging
// Face, Paddle2ONNX, tf2onnx, and an opset-6 file with legacy broadcasting), imported and run on
// the interpreter against onnxruntime on the same inputs (checkImport's tolerance).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, instantiate, UsageError } from "../../src/api.js";
import { modelWeights, optimise } from "../../src/driver.js";
import { interpret } from "../../src/interp/index.js";
import { importOnnx, OnnxImportError } from "../../src/onnx/import.js";
import { foldOnlyOps, importableOps, OPS } from "../../src/onnx/ops.js";
import { DataType } from "../../src/onnx/proto.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { fl, floatTensor, intTensor, onnxModel, type ModelSpec } from "./build.js";
import { checkImport, elaborate, maxDiff, normals, rng, session } from "./helpers.js";

const rand = (n: number, seed: number, std = 0.5) => normals(n, rng(seed), std);

const check = checkImport;

describe("ONNX import of hand-built graphs", () => {
  it("PyTorch / torchvision style (opset 11): named weights, BatchNorm, a Shape->Gather->Unsqueeze->Concat->Reshape flatten, Gemm transB", async () => {
    const spec: ModelSpec = {
      opset: 11,
      inputs: [{ name: "input.1", dims: ["batch", 3, 8, 8] }],
      outputs: ["logits"],
      initializers: [
        floatTensor("conv1.weight", [4, 3, 3, 3], rand(108, 1)),
        floatTensor("bn1.weight", [4], rand(4, 2)),
        floatTensor("bn1.bias", [4], rand(4, 3)),
        floatTensor("bn1.running_mean", [4], rand(4, 4)),
        floatTensor("bn1.running_var", [4], Float32Array.from(rand(4, 5), (v) => 0.5 + Math.abs(v))),
        floatTensor("fc.weight", [5, 64], rand(320, 6)),
        floatTensor("fc.bias", [5], rand(5, 7)),
        intTensor("zero", [], [0]),
        intTensor("minus1", [1], [-1]),
      ],
      nodes: [
        { op: "Conv", inputs: ["input.1", "conv1.weight"], outputs: ["c1"], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] } },
        { op: "BatchNormalization", inputs: ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"], outputs: ["b1"], attrs: { epsilon: fl(1e-5) } },
        { op: "Relu", inputs: ["b1"], outputs: ["r1"] },
        { op: "MaxPool", inputs: ["r1"], outputs: ["p1"], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: "Shape", inputs: ["p1"], outputs: ["s"] },
        { op: "Gather", inputs: ["s", "zero"], outputs: ["n"], attrs: { axis: 0 } },
        { op: "Unsqueeze", inputs: ["n"], outputs: ["n1"], attrs: { axes: [0] } },
        { op: "Concat", inputs: ["n1", "minus1"], outputs: ["shape"], attrs: { axis: 0 } },
        { op: "Reshape", inputs: ["p1", "shape"], outputs: ["flat"] },
        { op: "Gemm", inputs: ["flat", "fc.weight", "fc.bias"], outputs: ["logits"], attrs: { alpha: fl(1), beta: fl(1), transB: 1 } },
      ],
    };
    const { imported, g } = await check(onnxModel(spec), { "input.1": { dims: [2, 3, 8, 8], data: rand(384, 9, 1) } }, { "input.1": [2, 3, 8, 8] });
    // Weights keep their ONNX names; the shape chain is folded into one reshape.
    expect([...imported.weights.keys()].sort()).toEqual(["bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.weight", "conv1.weight", "fc.bias", "fc.weight"]);
    expect(imported.onnxNames.size).toBe(0);
    expect(imported.source).toContain("conv1: conv2d(");
    expect(imported.source).toContain("reshape(p1, [2, 64])");
    expect(imported.source).toMatch(/model test_graph\(batch: int = 2\)/);
    expect(g.nodes.map((n) => n.op)).toEqual(["conv2d", "batchnorm", "relu", "maxpool", "reshape", "linear"]);
  });

  it("Hugging Face style (opset 14): MatMul + Add as linear, decomposed LayerNorm, Erf GELU, attention with Transpose and Softmax", async () => {
    const [s, d] = [4, 8];
    const spec: ModelSpec = {
      opset: 14,
      inputs: [{ name: "hidden", dims: [1, s, d] }],
      outputs: ["out"],
      initializers: [
        floatTensor("onnx::MatMul_1", [d, d], rand(d * d, 1)),
        floatTensor("encoder.q.bias", [d], rand(d, 2)),
        floatTensor("onnx::MatMul_2", [d, d], rand(d * d, 3)),
        floatTensor("ln.weight", [d], rand(d, 4)),
        floatTensor("ln.bias", [d], rand(d, 5)),
        floatTensor("two", [], [2]),
        floatTensor("eps", [], [1e-12]),
        floatTensor("sqrt2", [], [Math.SQRT2]),
        floatTensor("one", [], [1]),
        floatTensor("half", [], [0.5]),
        floatTensor("scale", [], [1 / Math.sqrt(d)]),
        intTensor("axes", [1], [-1]),
      ],
      nodes: [
        { op: "MatMul", inputs: ["hidden", "onnx::MatMul_1"], outputs: ["q0"] },
        { op: "Add", inputs: ["encoder.q.bias", "q0"], outputs: ["q"] },
        { op: "MatMul", inputs: ["hidden", "onnx::MatMul_2"], outputs: ["k"] },
        { op: "Transpose", inputs: ["k"], outputs: ["kt"], attrs: { perm: [0, 2, 1] } },
        { op: "MatMul", inputs: ["q", "kt"], outputs: ["scores0"] },
        { op: "Mul", inputs: ["scores0", "scale"], outputs: ["scores"] },
        { op: "Softmax", inputs: ["scores"], outputs: ["probs"], attrs: { axis: -1 } },
        { op: "MatMul", inputs: ["probs", "hidden"], outputs: ["ctx"] },
        // LayerNorm as exporters spell it
        { op: "ReduceMean", inputs: ["ctx"], outputs: ["mu"], attrs: { axes: [-1] } },
        { op: "Sub", inputs: ["ctx", "mu"], outputs: ["xc"] },
        { op: "Pow", inputs: ["xc", "two"], outputs: ["sq"] },
        { op: "ReduceMean", inputs: ["sq"], outputs: ["var"], attrs: { axes: [-1] } },
        { op: "Add", inputs: ["var", "eps"], outputs: ["ve"] },
        { op: "Sqrt", inputs: ["ve"], outputs: ["sd"] },
        { op: "Div", inputs: ["xc", "sd"], outputs: ["nrm"] },
        { op: "Mul", inputs: ["nrm", "ln.weight"], outputs: ["sc"] },
        { op: "Add", inputs: ["sc", "ln.bias"], outputs: ["ln"] },
        // GELU, erf form
        { op: "Div", inputs: ["ln", "sqrt2"], outputs: ["g1"] },
        { op: "Erf", inputs: ["g1"], outputs: ["g2"] },
        { op: "Add", inputs: ["g2", "one"], outputs: ["g3"] },
        { op: "Mul", inputs: ["ln", "g3"], outputs: ["g4"] },
        { op: "Mul", inputs: ["g4", "half"], outputs: ["g5"] },
        { op: "ReduceSum", inputs: ["g5", "axes"], outputs: ["out"], attrs: { keepdims: 1 } },
      ],
    };
    const { imported, g, weights } = await check(onnxModel(spec), { hidden: { dims: [1, s, d], data: rand(s * d, 8, 1) } });
    expect(imported.source).toMatch(/: linear\(hidden, 8\)/);
    expect(g.nodes.filter((n) => n.op === "linear")).toHaveLength(2);
    // The passes see the patterns: layernorm and gelu are recognised.
    const { graph } = optimise(g, weights, defaultPipeline);
    const ops = JSON.stringify(graph.nodes.map((n) => [n.op, n.attrs]));
    expect(ops).toContain("layernorm");
    expect(ops).toContain("gelu");
  });

  it("GELU, tanh form as PyTorch exports it (Pow 3), recognised by the passes", async () => {
    const spec: ModelSpec = {
      opset: 13,
      inputs: [{ name: "x", dims: [2, 8] }],
      outputs: ["y"],
      initializers: [
        floatTensor("three", [], [3]),
        floatTensor("c", [], [0.044715]),
        floatTensor("k", [], [Math.sqrt(2 / Math.PI)]),
        floatTensor("one", [], [1]),
        floatTensor("half", [], [0.5]),
      ],
      nodes: [
        { op: "Pow", inputs: ["x", "three"], outputs: ["x3"] },
        { op: "Mul", inputs: ["x3", "c"], outputs: ["cx3"] },
        { op: "Add", inputs: ["x", "cx3"], outputs: ["inner"] },
        { op: "Mul", inputs: ["inner", "k"], outputs: ["scaled"] },
        { op: "Tanh", inputs: ["scaled"], outputs: ["t"] },
        { op: "Add", inputs: ["t", "one"], outputs: ["t1"] },
        { op: "Mul", inputs: ["x", "half"], outputs: ["hx"] },
        { op: "Mul", inputs: ["hx", "t1"], outputs: ["y"] },
      ],
    };
    const { g, weights } = await check(onnxModel(spec), { x: { dims: [2, 8], data: rand(16, 61, 2) } });
    const { graph } = optimise(g, weights, defaultPipeline);
    expect(JSON.stringify(graph.nodes.map((n) => [n.op, n.attrs]))).toContain('"approximate":"tanh"');
  });

  it("Paddle style (opsets 9 and 11): Constant weights, Clip min/max as attributes and as inputs, HardSigmoid alpha 0.2, Flatten, opset-9 Softmax", async () => {
    for (const opset of [9, 11]) {
      const constant = (name: string, dims: number[], data: ArrayLike<number>) => ({ op: "Constant", inputs: [], outputs: [name], attrs: { value: { tensor: floatTensor(name, dims, data) } } });
      const clipNode = opset < 11
        ? { op: "Clip", inputs: ["c1"], outputs: ["r1"], attrs: { min: fl(0), max: fl(6) } }
        : { op: "Clip", inputs: ["c1", "cmin", "cmax"], outputs: ["r1"] };
      const spec: ModelSpec = {
        opset,
        inputs: [{ name: "x", dims: [1, 3, 6, 6] }],
        outputs: ["softmax_0.tmp_0"],
        nodes: [
          constant("conv2d_0.w_0", [4, 3, 3, 3], rand(108, 11)),
          constant("conv2d_0.b_0", [4], rand(4, 12)),
          ...(opset >= 11 ? [constant("cmin", [], [0]), constant("cmax", [], [6])] : []),
          constant("fc_0.w_0", [4, 3], rand(12, 13)),
          { op: "Conv", inputs: ["x", "conv2d_0.w_0", "conv2d_0.b_0"], outputs: ["c1"], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 1 } },
          clipNode,
          { op: "HardSigmoid", inputs: ["r1"], outputs: ["hs"], attrs: { alpha: fl(0.2), beta: fl(0.5) } },
          { op: "Mul", inputs: ["r1", "hs"], outputs: ["m"] },
          { op: "GlobalAveragePool", inputs: ["m"], outputs: ["gp"] },
          { op: "Flatten", inputs: ["gp"], outputs: ["f"], attrs: { axis: 1 } },
          { op: "MatMul", inputs: ["f", "fc_0.w_0"], outputs: ["mm"] },
          { op: "Softmax", inputs: ["mm"], outputs: ["softmax_0.tmp_0"], attrs: { axis: 1 } },
        ],
      };
      const { imported } = await check(onnxModel(spec), { x: { dims: [1, 3, 6, 6], data: rand(108, 14, 1) } });
      // Paddle's names are not label paths: renamed readably, the ONNX names recorded.
      expect(imported.onnxNames.get("conv2d_0.weight")).toBe("conv2d_0.w_0");
      expect(imported.source).toContain("hard_sigmoid(r1, alpha=0.2)");
      expect(imported.source).toContain("relu6(c1)");
    }
  });

  it("tf2onnx style (opset 13): NHWC input with Transposes around the conv, Max, LeakyRelu, Squeeze with axes input", async () => {
    const spec: ModelSpec = {
      opset: 13,
      inputs: [{ name: "input:0", dims: [1, 5, 5, 2] }],
      outputs: ["Identity:0"],
      initializers: [
        floatTensor("model/conv/Conv2D/ReadVariableOp:0", [3, 2, 3, 3], rand(54, 21)),
        floatTensor("model/conv/BiasAdd/ReadVariableOp:0", [3], rand(3, 22)),
        floatTensor("const_fold_opt__5", [], [0.1]),
        intTensor("axes", [2], [1, 2]),
      ],
      nodes: [
        { op: "Transpose", inputs: ["input:0"], outputs: ["t0"], attrs: { perm: [0, 3, 1, 2] } },
        { op: "Conv", inputs: ["t0", "model/conv/Conv2D/ReadVariableOp:0", "model/conv/BiasAdd/ReadVariableOp:0"], outputs: ["c0"], attrs: { auto_pad: "SAME_UPPER", strides: [2, 2], kernel_shape: [3, 3] } },
        { op: "Transpose", inputs: ["c0"], outputs: ["t1"], attrs: { perm: [0, 2, 3, 1] } },
        { op: "LeakyRelu", inputs: ["t1"], outputs: ["l0"], attrs: { alpha: fl(0.2) } },
        { op: "Max", inputs: ["l0", "const_fold_opt__5"], outputs: ["m0"] },
        { op: "ReduceMean", inputs: ["m0"], outputs: ["rm"], attrs: { axes: [1, 2], keepdims: 1 } },
        { op: "Squeeze", inputs: ["rm", "axes"], outputs: ["Identity:0"] },
      ],
    };
    const { g } = await check(onnxModel(spec), { "input:0": { dims: [1, 5, 5, 2], data: rand(50, 23, 1) } });
    expect(g.inputs[0]!.name).toBe("input_0");
    expect(g.values[g.outputs[0]!.value]!.type.shape).toEqual([1, 3]);
  });

  it("opset 6 legacy attributes: broadcast/axis on Add and Mul, BatchNormalization is_test/spatial, per-channel PRelu slopes [C]", async () => {
    const c = 3;
    const init = [
      floatTensor("w", [c, 2, 1, 1], rand(6, 31)),
      floatTensor("bias", [c], rand(c, 32)),
      floatTensor("scale", [c], rand(c, 33)),
      floatTensor("bn_s", [c], rand(c, 34)),
      floatTensor("bn_b", [c], rand(c, 35)),
      floatTensor("bn_m", [c], rand(c, 36)),
      floatTensor("bn_v", [c], Float32Array.from(rand(c, 37), (v) => 0.5 + Math.abs(v))),
    ];
    const legacy: ModelSpec = {
      opset: 6,
      inputs: [{ name: "x", dims: [1, 2, 4, 4] }],
      outputs: ["y"],
      initializers: [...init, floatTensor("slope", [c], [0.1, 0.2, 0.3])],
      nodes: [
        { op: "Conv", inputs: ["x", "w"], outputs: ["c"], attrs: { kernel_shape: [1, 1] } },
        { op: "Add", inputs: ["c", "bias"], outputs: ["a"], attrs: { broadcast: 1, axis: 1 } },
        { op: "Mul", inputs: ["a", "scale"], outputs: ["m"], attrs: { broadcast: 1, axis: 1 } },
        { op: "BatchNormalization", inputs: ["m", "bn_s", "bn_b", "bn_m", "bn_v"], outputs: ["b"], attrs: { is_test: 1, spatial: 1, epsilon: fl(1e-3) } },
        { op: "PRelu", inputs: ["b", "slope"], outputs: ["y"] },
      ],
    };
    // onnxruntime runs opset 7 and later: the oracle is the same model in today's form.
    const modern: ModelSpec = {
      ...legacy,
      opset: 13,
      initializers: [...init, floatTensor("slope", [c, 1, 1], [0.1, 0.2, 0.3]), intTensor("cshape", [3], [c, 1, 1])],
      nodes: [
        legacy.nodes[0]!,
        { op: "Reshape", inputs: ["bias", "cshape"], outputs: ["bias3"] },
        { op: "Reshape", inputs: ["scale", "cshape"], outputs: ["scale3"] },
        { op: "Add", inputs: ["c", "bias3"], outputs: ["a"] },
        { op: "Mul", inputs: ["a", "scale3"], outputs: ["m"] },
        { op: "BatchNormalization", inputs: ["m", "bn_s", "bn_b", "bn_m", "bn_v"], outputs: ["b"], attrs: { epsilon: fl(1e-3) } },
        legacy.nodes[4]!,
      ],
    };
    const x = rand(32, 38, 1);
    const { g: modernGraph } = await check(onnxModel(modern), { x: { dims: [1, 2, 4, 4], data: x } });
    const imported = importOnnx(onnxModel(legacy), "legacy.onnx");
    const g = elaborate(imported.source);
    const got = interpret(g, modelWeights(g, { weights: imported.weights }).data, { x });
    const modernImport = importOnnx(onnxModel(modern), "modern.onnx");
    const want = interpret(modernGraph, modelWeights(modernGraph, { weights: modernImport.weights }).data, { x });
    expect(maxDiff(got.y!, want.y!).diff).toBe(0);
    expect(imported.source).toContain("prelu(b, num_parameters=3)");
  });

  it("opset 18 forms: ReduceMean axes as an input, Split with num_outputs, Slice with steps 1 and negative bounds, Unsqueeze axes input", async () => {
    const spec: ModelSpec = {
      opset: 18,
      inputs: [{ name: "x", dims: [2, 6, 4] }],
      outputs: ["a", "b"],
      initializers: [intTensor("ax", [1], [-1]), intTensor("st", [1], [1]), intTensor("en", [1], [-1]), intTensor("sa", [1], [2]), intTensor("u", [1], [0])],
      nodes: [
        { op: "Split", inputs: ["x"], outputs: ["s0", "s1", "s2"], attrs: { axis: 1, num_outputs: 3 } },
        { op: "Sub", inputs: ["s0", "s2"], outputs: ["d"] },
        { op: "ReduceMean", inputs: ["d", "ax"], outputs: ["a"], attrs: { keepdims: 0 } },
        { op: "Slice", inputs: ["s1", "st", "en", "sa"], outputs: ["sl"] },
        { op: "Unsqueeze", inputs: ["sl", "u"], outputs: ["b"] },
      ],
    };
    await check(onnxModel(spec), { x: { dims: [2, 6, 4], data: rand(48, 41, 1) } });
  });
});

describe("ONNX import problems", () => {
  const problems = (bytes: Uint8Array, shapes?: Record<string, number[]>) => {
    try {
      importOnnx(bytes, "bad.onnx", shapes ? { shapes } : {});
    } catch (e) {
      if (e instanceof OnnxImportError) return e.problems;
      throw e;
    }
    return [];
  };

  it("reports every unsupported node at once, with its op type, name and opset", () => {
    const bytes = onnxModel({
      opset: 13,
      inputs: [{ name: "x", dims: [1, 2, 4, 4] }],
      outputs: ["z"],
      initializers: [floatTensor("scales", [4], [1, 1, 2, 2]), intTensor("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1])],
      nodes: [
        { op: "Resize", name: "up", inputs: ["x", "", "scales"], outputs: ["r"], attrs: { mode: "cubic" } },
        { op: "Pad", name: "pad", inputs: ["x", "pads"], outputs: ["p"], attrs: { mode: "wrap" } },
        { op: "NonMaxSuppression", name: "nms", inputs: ["x"], outputs: ["n"] },
        { op: "Gelu", name: "custom", domain: "com.microsoft", inputs: ["x"], outputs: ["q"] },
        { op: "Add", name: "sum", inputs: ["r", "p"], outputs: ["z"] },
      ],
    });
    expect(problems(bytes)).toEqual([
      "Resize node `up` (opset 13): mode cubic is not supported (the IR's resize is nearest or linear)",
      "Pad node `pad` (opset 13): mode wrap is not supported (constant, reflect and edge are)",
      "NonMaxSuppression node `nms` (opset 13): unsupported operator",
      "com.microsoft.Gelu node `custom` (opset 13): operators of the domain com.microsoft are not supported",
    ]);
  });

  it("a dynamic dim without a size names the input and the dim; a --shape for an unknown input is a usage error (as for .nn), one the input contradicts a problem", () => {
    const bytes = onnxModel({ opset: 13, inputs: [{ name: "x", dims: ["N", 3, "H", 8] }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] });
    expect(problems(bytes)).toEqual(["input `x`: dims 0 (N), 2 (H) are dynamic; give the input's size with --shape x=Nx3xNx8 (a number for each N)"]);
    expect(() => importOnnx(bytes, "bad.onnx", { shapes: { y: [1] } })).toThrow(new UsageError("--shape y: bad.onnx has no input `y` (inputs: x)"));
    expect(problems(bytes, { x: [1, 4, 2, 8] })).toEqual(["--shape x: dim 1 is 3 in the model, got 4"]);
    expect(problems(bytes, { x: [1, 3, 2] })).toEqual(["--shape x: the input has 4 dims [N, 3, H, 8], got 3"]);
  });

  it("refuses external data, naming the tensor and the file it lives in", () => {
    const bytes = onnxModel({ opset: 13, inputs: [{ name: "x", dims: [2] }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] });
    // An initializer stored outside: data_location EXTERNAL with its location entry.
    const withExternal = onnxModel({
      opset: 13,
      inputs: [{ name: "x", dims: [2] }],
      outputs: ["y"],
      initializers: [{ name: "w", dims: [2], data_type: DataType.FLOAT, raw_data: new Uint8Array(), external_data: [{ key: "location", value: "weights.bin" }], data_location: 1 } as never],
      nodes: [{ op: "Add", inputs: ["x", "w"], outputs: ["y"] }],
    });
    expect(problems(bytes)).toEqual([]);
    expect(problems(withExternal)[0]).toMatch(/^tensor w: its data is stored outside the model \(in weights\.bin\)/);
  });

  it("refuses bytes that are not an ONNX model, and a truncated one as such", () => {
    expect(problems(new TextEncoder().encode("model m() {}"))[0]).toMatch(/^bad\.onnx is not an ONNX model/);
    const bytes = onnxModel({ opset: 13, inputs: [{ name: "x", dims: [2] }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] });
    expect(problems(bytes.subarray(0, bytes.length - 3))).toEqual(["bad.onnx is not an ONNX model: it ends inside a field (a truncated file?)"]);
  });

  it("malformed graphs: a value defined twice, an output nothing computes, missing inputs, weights that do not fit, an input without a shape", () => {
    const w = floatTensor("W", [4, 3], Array(12).fill(0.5));
    const cases: [Omit<ModelSpec, "opset">, string[]][] = [
      [{ inputs: [{ name: "x", dims: [1, 4] }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }, { op: "Sigmoid", inputs: ["x"], outputs: ["y"] }] },
        ["bad.onnx: value `y` is defined twice, by the Relu node `Relu_0` (opset 13) and by the Sigmoid node `Sigmoid_1` (opset 13)"]],
      [{ inputs: [{ name: "x", dims: [1, 4] }], outputs: ["z"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] },
        ["bad.onnx: output `z` is not computed by any node, nor an input or initializer"]],
      [{ inputs: [{ name: "x", dims: [1, 4] }], outputs: ["y"], nodes: [{ op: "Relu", inputs: [], outputs: ["r"] }, { op: "MatMul", inputs: ["x", ""], outputs: ["y"] }] },
        ["Relu node `Relu_0` (opset 13): Relu needs 1 input, it has 0", "MatMul node `MatMul_1` (opset 13): MatMul needs 2 inputs, it has 1"]],
      [{ inputs: [{ name: "x", dims: [1, 5] }], outputs: ["y"], initializers: [w], nodes: [{ op: "MatMul", inputs: ["x", "W"], outputs: ["y"] }] },
        ["MatMul node `MatMul_0` (opset 13): the input [1, 5] and the weight [4, 3] do not multiply (5 vs 4)"]],
      [{ inputs: [{ name: "x", dims: [1, 3, 8, 8] }], outputs: ["y"], initializers: [floatTensor("K", [4, 3, 3, 3], Array(108).fill(0.1))], nodes: [{ op: "Conv", inputs: ["x", "K"], outputs: ["y"], attrs: { kernel_shape: [5, 5] } }] },
        ["Conv node `Conv_0` (opset 13): kernel_shape [5, 5] differs from the weight's kernel [3, 3]"]],
      [{ inputs: [{ name: "x", dims: [1, 3, 8, 8] }], outputs: ["y"], nodes: [{ op: "MaxPool", inputs: ["x"], outputs: ["y"] }] },
        ["MaxPool node `MaxPool_0` (opset 13): its kernel_shape must give 2 sizes, got none"]],
      [{ inputs: [{ name: "x", dims: [2], type: 0 }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] },
        ["input `x`: not a tensor of a known element type (float, int32 and int64 tensors are)"]],
      [{ inputs: [{ name: "x" }], outputs: ["y"], nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }] },
        ["input `x`: the model gives no shape; give it with --shape x=DxDx..."]],
    ];
    for (const [spec, expected] of cases) expect(problems(onnxModel({ opset: 13, ...spec }))).toEqual(expected);
    // Attributes and constant inputs the ONNX spec forbids: named, never a stack trace or a silent identity.
    const x4 = [{ name: "x", dims: [1, 3, 4, 4] }];
    const ints = (v: number[]) => intTensor("c", [v.length], v);
    for (const [node, init, expected] of [
      [{ op: "Transpose", attrs: { perm: [0, 1] } }, undefined, "perm [0, 1] is not a permutation of 4 axes"],
      [{ op: "Unsqueeze" }, ints([0, 0]), "axes [0, 0] name an axis twice"],
      [{ op: "Squeeze" }, ints([1]), "axis 1 of [1, 3, 4, 4] has size 3, not 1"],
      [{ op: "Flatten", attrs: { axis: 9 } }, undefined, "axis 9 is out of range for rank 4 (Flatten's is [-r, r])"],
      [{ op: "Pad" }, ints([0, 0, -4, -4, 0, 0, 0, 0]), "pad: pads -4 and 0 crop all 4 elements of axis 2"],
      [{ op: "Expand" }, ints([1, 5, 4, 4]), "shapes [1, 3, 4, 4] and [1, 5, 4, 4] do not broadcast (dimension 1: 3 vs 5)"],
    ] as const) {
      const spec = { opset: 13, inputs: x4, outputs: ["y"], initializers: init ? [init] : [], nodes: [{ ...node, inputs: init ? ["x", "c"] : ["x"], outputs: ["y"] }] };
      expect(problems(onnxModel(spec as ModelSpec))).toEqual([`${node.op} node \`${node.op}_0\` (opset 13): ${expected}`]);
    }
    const scalar = (name: string, v: number) => intTensor(name, [], [v]);
    expect(problems(onnxModel({ opset: 13, inputs: x4, outputs: ["y"], initializers: [scalar("a", 0), scalar("b", 4), scalar("d", 0)], nodes: [{ op: "Range", inputs: ["a", "b", "d"], outputs: ["r"] }, { op: "Add", inputs: ["x", "r"], outputs: ["y"] }] })))
      .toEqual(["Range node `Range_0` (opset 13): delta is 0"]);
    // With --shape, an input without a shape takes it.
    expect(problems(onnxModel({ opset: 13, ...cases.at(-1)![0] }), { x: [2, 3] })).toEqual([]);
  });
});

describe("compile() of ONNX bytes and .onnx paths", () => {
  it("imports, compiles and runs like onnxruntime, its initializers as the weights", async () => {
    const spec: ModelSpec = {
      opset: 13,
      inputs: [{ name: "x", dims: ["batch", 6] }],
      outputs: ["y"],
      initializers: [floatTensor("fc.weight", [4, 6], rand(24, 51)), floatTensor("fc.bias", [4], rand(4, 52))],
      nodes: [
        { op: "Gemm", inputs: ["x", "fc.weight", "fc.bias"], outputs: ["h"], attrs: { transB: 1 } },
        { op: "Tanh", inputs: ["h"], outputs: ["y"] },
      ],
    };
    const bytes = onnxModel(spec);
    const x = rand(12, 53, 1);
    const s = await session(bytes);
    const want = (await s.run({ x: new ort.Tensor("float32", x, [2, 6]) })).y!.data as Float32Array;
    await s.release();
    const dir = mkdtempSync(join(tmpdir(), "graphc-onnx-api-"));
    try {
      writeFileSync(join(dir, "tiny.onnx"), bytes);
      for (const source of [bytes, { path: join(dir, "tiny.onnx") }]) {
        const result = await compile(source, { shapes: { x: [2, 6] } });
        expect(result.report.inputs).toEqual([{ name: "x", dtype: "f32", shape: [2, 6] }]);
        const model = await instantiate(result, { simd: "baseline" });
        const { y } = await model.run({ x });
        expect(maxDiff(want, y as Float32Array).diff).toBeLessThanOrEqual(1e-5);
      }
      await expect(compile(bytes)).rejects.toThrow(/input `x`: dim 0 \(batch\) is dynamic/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the README's ONNX operator lists", () => {
  it("name exactly the op table's run-time and constant-only operators", () => {
    const readme = readFileSync("README.md", "utf8");
    const runtime = readme.slice(readme.indexOf("**Supported operators**"), readme.indexOf("**Constant inputs"));
    const constant = readme.slice(readme.indexOf("**Constant inputs"), readme.indexOf("**Not yet**"));
    const named = (text: string) => [...new Set([...text.matchAll(/\b[A-Z][A-Za-z]+\b/g)].map((m) => m[0]).filter((w) => Object.hasOwn(OPS, w)))].sort();
    expect(named(runtime)).toEqual(importableOps());
    expect(named(constant)).toEqual(foldOnlyOps());
  });
});
