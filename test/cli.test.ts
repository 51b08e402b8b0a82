// The graphc command line, run as a user runs it: exit codes (0 ok, 1 model errors, 2 usage),
// what goes to stdout and stderr, and never a stack trace for a user mistake.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { cliBuild, root, type Run } from "./support/cli.js";

const { build, graphc } = cliBuild("cli-dist");

/** Exit code 2, a one-line-or-so explanation on stderr, nothing on stdout, no stack trace. */
function expectUsageError(r: Run, mentions: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(mentions);
  expect(r.stderr).not.toContain("    at ");
}

async function inspectJson(...args: string[]): Promise<Record<string, unknown>> {
  const r = await graphc("inspect", "--json", ...args);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim().split("\n")).toHaveLength(1);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

type Port = { name: string; shape: number[] };

beforeAll(build);

describe.concurrent("graphc check", () => {
  test("a good model: exit 0, silent", async () => {
    const r = await graphc("check", "specs/resnet18.nn");
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("a bad model: exit 1, located diagnostics on stderr", async () => {
    const r = await graphc("check", "test/golden/diagnostics/several_errors.nn");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toContain("  --> test/golden/diagnostics/several_errors.nn:3:27\n");
    expect(r.stderr).toMatch(/\n4 errors\n$/);
    expect(r.stderr).not.toContain("    at ");
  });

  test("an error in an imported file points there", async () => {
    const r = await graphc("check", "test/golden/diagnostics/import_error_in_block.nn");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--> test/golden/diagnostics/lib/helpers.nn:3:");
    expect(r.stderr).toContain("in `conv_bn`, called here (test/golden/diagnostics/import_error_in_block.nn:5:13)");
  });

  test("a syntax error: exit 1", async () => {
    const r = await graphc("check", "test/golden/diagnostics/missing_paren.nn");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("test/golden/diagnostics/missing_paren.nn:4:1");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe.concurrent("usage errors exit 2", () => {
  test("unknown command", async () => {
    const r = await graphc("frobnicate", "specs/resnet18.nn");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command `frobnicate`");
    expect(r.stderr).not.toContain("    at ");
  });

  test("no command", async () => {
    expect((await graphc()).code).toBe(2);
  });

  test("unknown flag", async () => {
    expectUsageError(await graphc("check", "--frobnicate", "specs/resnet18.nn"), /frobnicate/);
  });

  test("missing file", async () => {
    expectUsageError(await graphc("check", "specs/no_such_model.nn"), /specs\/no_such_model\.nn/);
  });

  test("no file at all", async () => {
    expectUsageError(await graphc("check"), /expected one \.nn or \.onnx file/);
  });

  test("--set of an unknown parameter", async () => {
    expectUsageError(await graphc("check", "specs/resnet18.nn", "--set", "depth=3"), /no parameter `depth`.*classes/);
  });

  test("--set without a value", async () => {
    expectUsageError(await graphc("check", "specs/resnet18.nn", "--set", "classes"), /--set expects NAME=VALUE/);
  });

  test.each(["image=2x3xfoo", "image=2x0x224x224", "2x3x224x224"])("malformed --shape %s", async (shape) => {
    expectUsageError(await graphc("check", "specs/resnet18.nn", "--shape", shape), /--shape/);
  });

  test("--shape of an unknown input", async () => {
    expectUsageError(await graphc("check", "specs/resnet18.nn", "--shape", "picture=1x3x224x224"), /picture/);
  });

  test("--model naming no model of the file", async () => {
    expectUsageError(await graphc("check", "specs/resnet18.nn", "--model", "resnet19"), /no model `resnet19`.*resnet18/);
  });
});

describe.concurrent("graphc inspect --json", () => {
  test("prints exactly one JSON object with the model's summary", async () => {
    const j = await inspectJson("specs/resnet18.nn");
    expect(Object.keys(j).sort()).toEqual(["inputs", "macs", "model", "outputs", "params", "weights"]);
    expect(j.model).toBe("resnet18");
    expect(j.inputs).toEqual([{ name: "image", dtype: "f32", shape: [1, 3, 224, 224] }]);
    expect((j.outputs as Port[])[0]!.shape).toEqual([1, 1000]);
    expect(j.params).toBe(11_689_512); // torchvision's resnet18
    expect((j.weights as { name: string }[])[0]!.name).toBe("conv1.weight");
  });

  test("--shape changes the batch", async () => {
    const j = await inspectJson("specs/resnet18.nn", "--shape", "image=2x3x160x160");
    expect((j.inputs as Port[])[0]!.shape).toEqual([2, 3, 160, 160]);
    expect((j.outputs as Port[])[0]!.shape).toEqual([2, 1000]);
    expect(j.params).toBe(11_689_512);
  });

  test("--set changes the model", async () => {
    const base = await inspectJson("specs/mobilenet_v1.nn");
    const small = await inspectJson("specs/mobilenet_v1.nn", "--set", "alpha=0.5", "--set", "resolution=160", "--set", "classes=10");
    expect((small.inputs as Port[])[0]!.shape).toEqual([1, 3, 160, 160]);
    expect((small.outputs as Port[])[0]!.shape).toEqual([1, 10]);
    expect(small.params as number).toBeLessThan((base.params as number) / 3);
    expect(small.macs as number).toBeLessThan((base.macs as number) / 4);
  });

  test("a bad model: exit 1 and nothing on stdout", async () => {
    const r = await graphc("inspect", "--json", "test/golden/diagnostics/conv_groups.nn");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("conv_groups.nn:3:34");
  });
});

describe.concurrent("graphc compile", () => {
  test("a bad model: exit 1, located diagnostics, nothing written", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "graphc-cli-")), "out");
    const r = await graphc("compile", "test/golden/diagnostics/conv_groups.nn", "-o", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("conv_groups.nn:3:34");
    expect(r.stderr).toMatch(/\n1 error\n$/);
    expect(r.stderr).not.toContain("    at ");
    expect(readdirSync(join(out, ".."))).toEqual([]);
  });

  test("--target wgsl takes `layout` in --passes: the channels-last nodes decompose for the shaders", async () => {
    const out = mkdtempSync(join(tmpdir(), "graphc-cli-"));
    const r = await graphc("compile", "specs/resnet18.nn", "--shape", "image=1x3x32x32", "-o", out, "--target", "wgsl", "--passes=fold-batchnorm,fuse-epilogue,layout,dce");
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["resnet18.d.mts", "resnet18.d.ts", "resnet18.mjs", "resnet18.weights.bin"]);
  });
});

describe.concurrent("the CLI explains itself", () => {
  const tinyModel = (name: string, shape: string) => {
    const path = join(mkdtempSync(join(tmpdir(), "graphc-cli-")), "tiny.nn");
    writeFileSync(path, `model tiny() {\n  input x: f32[${shape}]\n  output ${name} = relu(x) * 2.0\n}\n`);
    return path;
  };

  test("--help lists every option with its default and a description", async () => {
    const r = await graphc("compile", "--help");
    expect(r.code, r.stderr).toBe(0);
    for (const option of ["-o, --output DIR", "--target wasm|wgsl", "--relaxed-simd auto|on|off", "--passes a,b,c", "--print-after PASS", "--stats", "--json", "--weights W.safetensors|W.pth", "--seed N", "--set NAME=VALUE", "--shape INPUT=DxDx...", "--model NAME", "-h, --help"])
      expect(r.stdout).toMatch(new RegExp(`^ +${option.replace(/[.|]/g, "\\$&")}(?: \\.\\.\\.)? +\\S`, "m"));
    expect(r.stdout).toMatch(/--target wasm\|wgsl +.*\(default: wasm\)$/m);
    expect(r.stdout).toMatch(/--seed N +.*\(default: 0\)$/m);
  });

  test("--version and -V print the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) expect(await graphc(flag)).toEqual({ code: 0, stdout: `graphc ${version}\n`, stderr: "" });
  });

  test("compile without -o, --stats or --print-after is a usage error that says to give -o DIR", async () => {
    expectUsageError(await graphc("compile", "specs/resnet18.nn"), /give -o DIR/);
  });

  test("compile -o says how to import the module; export-onnx says what it wrote", async () => {
    const dir = mkdtempSync(join(root, "test-results", "cli-out-"));
    try {
      const model = tinyModel("logits", "1, 8");
      const compiled = await graphc("compile", model, "-o", join(dir, "out"));
      expect(compiled.code, compiled.stderr).toBe(0);
      expect(compiled.stderr).toContain(`import { load } from "./${relative(root, dir)}/out/tiny.mjs"\n`);
      const exported = await graphc("export-onnx", model, "-o", join(dir, "tiny.onnx"));
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stderr).toMatch(new RegExp(`wrote tiny \\(opset 17, \\d+ B\\) to ${join(dir, "tiny.onnx")}\\n$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("run prints a top-5 for each row of [N, C] scores, not for a 128-d siamese embedding", async () => {
    const scores = await graphc("run", tinyModel("scores", "2, 8"));
    expect(scores.code, scores.stderr).toBe(0);
    expect(scores.stdout).toMatch(/^  top-5 \[0\]: .*\n  top-5 \[1\]: /m);
    const siamese = await graphc("run", "specs/siamese_contrastive.nn", "--shape", "image_a=1x3x32x32", "--shape", "image_b=1x3x32x32");
    expect(siamese.code, siamese.stderr).toBe(0);
    expect(siamese.stdout).toContain("embedding_a: f32[1, 128]");
    expect(siamese.stdout).not.toContain("top-5");
  });

  // Node 20 validates relaxed SIMD only with the flag; Node 22+ has it on, and then there is nothing to hint.
  test("run --backend wasm says how to get relaxed SIMD exactly when the engine needs a flag for it", async () => {
    const r = await graphc("run", tinyModel("logits", "1, 8"), "--backend", "wasm");
    expect(r.code, r.stderr).toBe(0);
    const hint = "running the baseline SIMD build; for relaxed SIMD, Node 20 needs a flag: node --experimental-wasm-relaxed-simd ";
    if (process.versions.node.startsWith("20.")) {
      expect(r.stderr).toContain(hint);
      expect(r.stderr).toMatch(/on wasm \(baseline SIMD, \d+ threads?\)/);
    } else {
      expect(r.stderr).not.toContain(hint);
      expect(r.stderr).toMatch(/on wasm \(relaxed SIMD, \d+ threads?\)/);
    }
  });
});
