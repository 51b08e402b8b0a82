// resize in the language: F.interpolate's results (values PyTorch gives, written out), the
// mapping onto the IR's ONNX attributes, channels-last regions made by the layout pass (wasm vs
// the interpreter), and located diagnostics for misuse. test/conformance checks the IR op itself
// on every engine and onnxruntime.
import { describe, expect, it } from "vitest";
import { compile, CompileError } from "../src/api.js";
import { interpret } from "../src/interp/index.js";
import { checkModel, inputsFor, model } from "./wasm/helpers.js";

const input = (h: number, w: number) => `  input x: f32[1, 1, ${h}, ${w}]`;
/** The 1-channel model `y = resize(x, ARGS)` run on x = 1, 2, 3, ... row-major. */
function run(h: number, w: number, args: string): number[] {
  const g = model(`${input(h, w)}\n  output y = resize(x, ${args})`);
  return [...(interpret(g, new Map(), { x: Float32Array.from({ length: h * w }, (_, i) => i + 1) }).y as Float32Array)];
}
const close = (got: number[], want: number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(want[i]!, 5));
};

describe("resize: F.interpolate semantics", () => {
  it("nearest is floor(x * in / out), by size and by scale", () => {
    expect(run(2, 2, "scale=2")).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(run(1, 4, "size=(1, 3)")).toEqual([1, 2, 3]);
    expect(run(1, 3, "size=(1, 5)")).toEqual([1, 1, 2, 2, 3]);
  });

  it("bilinear, align_corners=false (ONNX half_pixel)", () => {
    close(run(2, 2, 'scale=2, mode="bilinear"'), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
    // An output of size 1 reads x_original = in / 2 - 0.5, as PyTorch does (pytorch_half_pixel would read 0).
    close(run(4, 4, 'size=(1, 1), mode="bilinear"'), [(6 + 7 + 10 + 11) / 4]);
    close(run(4, 4, 'size=(1, 1), mode="bilinear", coordinate="pytorch_half_pixel"'), [1]);
  });

  it("bilinear, align_corners=true", () => {
    close(run(2, 2, 'size=(3, 3), mode="bilinear", align_corners=true'), [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });

  it("1x1 -> HxW (the ASPP pooling branch) repeats the value", () => {
    expect(run(1, 1, 'size=(3, 5), mode="bilinear"')).toEqual(Array(15).fill(1));
  });

  it("maps onto the IR's ONNX attributes", () => {
    const attrs = (args: string) => model(`${input(4, 6)}\n  output y = resize(x, ${args})`).nodes.find((n) => n.op === "resize")!.attrs;
    expect(attrs("size=(8, 3)")).toEqual({ sizes: [1, 1, 8, 3], mode: "nearest", coordinate: "asymmetric", nearest: "floor" });
    expect(attrs('scale=(2, 0.5), mode="bilinear"')).toEqual({ sizes: [1, 1, 8, 3], scales: [1, 1, 2, 0.5], mode: "linear", coordinate: "half_pixel" });
    expect(attrs('size=5, mode="bilinear", align_corners=true')).toMatchObject({ sizes: [1, 1, 5, 5], coordinate: "align_corners" });
    expect(attrs('scale=2, coordinate="half_pixel"')).toMatchObject({ coordinate: "half_pixel", nearest: "round_prefer_floor" });
    expect(attrs('scale=2, coordinate="tf_half_pixel_for_nearest", nearest="ceil"')).toMatchObject({ nearest: "ceil" });
  });
});

describe("resize in channels-last regions", () => {
  for (const mode of ["nearest", "bilinear"])
    it(`${mode} between convolutions runs NHWC and agrees with the interpreter`, async () => {
      for (const [seed, size] of [[1, "(9, 5)"], [2, "(3, 2)"], [3, "(6, 7)"]] as const) {
        const body = `  input x: f32[2, 3, 5, 6]\n  h = a: conv2d(x, 6, 3, pad=1)\n  r = resize(h, size=${size}, mode="${mode}")\n  output y = b: conv2d(r, 5, 1)`;
        const g = model(body, seed, ["layout"]);
        expect(g.nodes.find((n) => n.op === "resize")!.attrs.layout).toBe("NHWC");
        await checkModel(g, inputsFor(g, seed), { rel: 1e-5, abs: 1e-5 }, `\n${body}`);
      }
    });
});

describe("resize diagnostics", () => {
  const diagnose = async (args: string) => {
    const error = await compile(`model m() {\n${input(4, 4)}\n  output y = resize(x, ${args})\n}\n`).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CompileError);
    return (error as CompileError).diagnostics.join("\n");
  };
  it.each([
    ["size=2, scale=2", "exactly one of size"],
    ['mode="bilinear"', "exactly one of size"],
    ['size=2, mode="bicubic"', 'mode must be "nearest" or "bilinear"'],
    ["size=2, align_corners=true", "align_corners applies to bilinear only"],
    ['size=2, mode="bilinear", align_corners=true, coordinate="asymmetric"', "not both"],
    ['size=2, coordinate="center"', "coordinate must be"],
    ['size=2, mode="bilinear", nearest="floor"', "nearest= applies"],
    ["scale=0.1", "makes the 4x4 input 0x0"],
    ["scale=-1", "scale must be a positive number"],
    ["size=(0, 2)", "size must be a positive int"],
  ])("resize(x, %s)", async (args, message) => {
    const text = await diagnose(args);
    expect(text).toContain(message);
    expect(text).toMatch(/:3:\d+/);
  });
});
