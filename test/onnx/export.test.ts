// The ONNX file itself: model metadata, graph signature, initializers, tensor naming corner
// cases (outputs that are inputs, weights or repeated values; tied weights), and errors.
import { describe, expect, it } from "vitest";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx, OnnxExportError } from "../../src/onnx/export.js";
import { ModelProto } from "../../src/onnx/proto.js";
import { elaborate, expectClose, inputsFor, randomWeights, runOrt, type InputOptions } from "./helpers.js";

interface Decoded {
  ir_version: number;
  producer_name: string;
  opset_import: { domain?: string; version: number }[];
  graph: {
    name: string;
    node: { op_type: string; input: string[]; output: string[] }[];
    initializer: { name: string; dims?: number[]; data_type: number; raw_data: Uint8Array }[];
    input: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_value: number }[] } } } }[];
    output: Decoded["graph"]["input"];
  };
}

function decode(bytes: Uint8Array): Decoded {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false, arrays: true }) as Decoded;
}

const sig = (ports: Decoded["graph"]["input"]) => ports.map((p) => [p.name, p.type.tensor_type.elem_type, p.type.tensor_type.shape.dim.map((d) => d.dim_value)]);

async function roundTrip(body: string, opts: InputOptions = {}): Promise<void> {
  const g = elaborate(`model m() {\n${body}\n}\n`);
  const weights = randomWeights(g, 3);
  const inputs = inputsFor(g, 3, opts);
  expectClose(g, await runOrt(exportOnnx(g, weights), g, inputs), interpret(g, weights, inputs), body);
}

describe("ONNX export", () => {
  const convNet = `
  input image: f32[2, 3, 8, 8]
  input ids: i32[2, 5]
  x = bn: batchnorm(c: conv2d(image, 4, 3, pad=1))
  output logits = fc: linear(flatten(global_avgpool(relu(x))), 3)
  output emb = e: embedding(ids, 10, 4)`;

  it("writes opset 17, IR version 8, producer graphc, and the graph signature", () => {
    const g = elaborate(`model tiny() {${convNet}\n}`);
    const m = decode(exportOnnx(g, randomWeights(g, 0)));
    expect(m.ir_version).toBe(8);
    expect(m.producer_name).toBe("graphc");
    expect(m.opset_import).toEqual([{ version: 17 }]);
    expect(m.graph.name).toBe("tiny");
    expect(sig(m.graph.input)).toEqual([["image", 1, [2, 3, 8, 8]], ["ids", 6, [2, 5]]]);
    expect(sig(m.graph.output)).toEqual([["logits", 1, [2, 3]], ["emb", 1, [2, 5, 4]]]);
  });

  it("stores weights as initializers under their checkpoint names, without unused buffers", () => {
    const g = elaborate(`model tiny() {${convNet}\n}`);
    const weights = randomWeights(g, 0);
    const m = decode(exportOnnx(g, weights));
    const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
    for (const name of ["c.weight", "c.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias", "e.weight"]) {
      const t = inits.get(name);
      expect(t, name).toBeDefined();
      const w = g.weights.find((x) => x.name === name)!;
      expect(t!.dims ?? [], name).toEqual(w.type.shape);
      expect(t!.data_type, name).toBe(1);
      const data = weights.get(name) as Float32Array;
      expect(new Float32Array(Uint8Array.from(t!.raw_data).buffer), name).toEqual(data);
    }
    expect(g.weights.some((w) => w.name === "bn.num_batches_tracked")).toBe(true);
    expect(inits.has("bn.num_batches_tracked")).toBe(false);
    // every node input is an initializer, a graph input or some node's output
    const known = new Set([...inits.keys(), ...m.graph.input.map((i) => i.name), ...m.graph.node.flatMap((n) => n.output)]);
    for (const n of m.graph.node) for (const i of n.input) if (i !== "") expect(known.has(i), `${n.op_type} input ${i}`).toBe(true);
    // names are unique
    const produced = m.graph.node.flatMap((n) => n.output);
    expect(new Set(produced).size).toBe(produced.length);
  });

  it("lowers each op as documented (Gemm for 2-D linear, no Gelu op, PRelu slope reshaped)", () => {
    const g = elaborate(`model m() {
  input x: f32[2, 3, 4, 4]
  input v: f32[2, 5, 6]
  output a = p: prelu(x, num_parameters=3)
  output b = f1: linear(flatten(x), 2)
  output c = gelu(f2: linear(v, 7))
}`);
    const ops = decode(exportOnnx(g, randomWeights(g, 0))).graph.node.map((n) => n.op_type);
    expect(ops).toContain("PRelu");
    expect(ops).toContain("Gemm");
    expect(ops).toContain("MatMul");
    expect(ops).toContain("Erf");
    expect(ops).not.toContain("Gelu");
  });

  it("lowers conv_transpose2d to ConvTranspose, and an output_padding past the stride (below the dilation) to ConvTranspose, Slice, Pad and the bias", async () => {
    const body = (extra: string) => `  input x: f32[2, 4, 3, 5]
  output y = up: conv_transpose2d(x, 6, 3, ${extra})`;
    const cases: [string, string[]][] = [
      ["stride=2, pad=1, output_padding=1, groups=2", ["ConvTranspose"]],
      // Rows the end padding cropped come back (less end padding), then unreached rows: the bias alone.
      ["stride=1, pad=(0, 1, 1, 0), output_padding=(1, 1), dilation=2", ["ConvTranspose", "Slice", "Pad", "Reshape", "Add"]],
      // The left padding crops every reached column; the two output_padding ones are the bias broadcast.
      ["stride=(1, 1), pad=(0, 11, 0, 0), output_padding=(0, 2), dilation=(1, 3)", ["Reshape", "Expand"]],
    ];
    for (const [extra, ops] of cases) {
      const g = elaborate(`model m() {\n${body(extra)}\n}\n`);
      expect(decode(exportOnnx(g, randomWeights(g, 0))).graph.node.map((n) => n.op_type), extra).toEqual(ops);
      await roundTrip(body(extra));
    }
  });

  it("handles outputs that are inputs, repeated values, weights and constants", async () => {
    await roundTrip(`
  input x: f32[2, 3]
  r = relu(x)
  output same = x
  output a = r
  output b = r
  w = p: parameter([2, 3])
  output pw = w
  output k = iota(4)
  output s = r + w`);
  });

  it("handles tied weights (a weight read by gather and by a linear layer)", async () => {
    await roundTrip(`
  input ids: i32[1, 4]
  h = e: embedding(ids, 6, 5)
  output logits = linear(h, 6, bias=false, weight=param("e.weight"))`, { intHigh: 6 });
  });

  it("handles integer arithmetic and i64 inputs", async () => {
    await roundTrip(`
  input m: i32[1, 6]
  input q: i64[2, 3]
  output y = (1.0 - cast(m, "f32")) * -10000.0
  output z = q * 2 + 1
  output u = cast(q, "i32") - 3`);
  });

  it("reports weights it has no data for", () => {
    const g = elaborate(`model m() {\n  input x: f32[2, 3]\n  output y = fc: linear(x, 4)\n}`);
    const weights = randomWeights(g, 0);
    weights.delete("fc.bias");
    expect(() => exportOnnx(g, weights)).toThrow(OnnxExportError);
    expect(() => exportOnnx(g, weights)).toThrow(/fc\.bias/);
    const short = randomWeights(g, 0);
    short.set("fc.weight", new Float32Array(3));
    expect(() => exportOnnx(g, short)).toThrow(/fc\.weight.*3 elements/);
  });
});
