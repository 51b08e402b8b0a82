// Careless or hostile model source through the CLI and the API (the golden diagnostics show the
// messages; these show every path reports them alike): a file with no model, byte-order marks,
// old Mac line endings, wide characters, unknown string escapes, the weight name safetensors
// reserves, tensors too large for any target, and models over one target's own limits.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { compile, CompileError, type CompileOptions } from "../../src/api.js";
import { cliBuild, type Run } from "../support/cli.js";

const { build, graphc } = cliBuild("hostile-frontend");

const scratch = mkdtempSync(join(tmpdir(), "graphc-frontend-"));

function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** The rendered diagnostics compile() rejects with; fails unless it is a CompileError. */
async function diagnostics(source: string, options: CompileOptions = {}): Promise<string> {
  const error = await compile(source, options).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(CompileError);
  return (error as CompileError).diagnostics.join("\n\n");
}

/** Exit 1: located diagnostics on stderr, no stack trace, nothing on stdout. */
function expectModelError(r: Run, ...mentions: string[]): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe("");
  for (const m of mentions) expect(r.stderr).toContain(m);
  expect(r.stderr).not.toContain("    at ");
}

const tiny = (body: string) => `model m() {\n  input image: f32[1, 3, 8, 8]\n${body}\n}\n`;

beforeAll(build);

describe.concurrent("the frontend, through the CLI and the API", () => {
  test("a file with no model: every command reports it at file:1:1", async () => {
    const out = mkdtempSync(join(scratch, "out-"));
    const empty = file("empty.nn", "");
    const blocks = file("blocks.nn", "block b(x) {\n  return relu(x)\n}\n");
    const runs: [string, string[]][] = [[empty, ["check"]], [empty, ["inspect", "--json"]], [empty, ["run"]], [empty, ["compile", "-o", out]], [blocks, ["check"]]];
    const results = await Promise.all(runs.map(([path, [cmd, ...rest]]) => graphc(cmd!, path, ...rest)));
    results.forEach((r, i) => expectModelError(r, `error: ${runs[i]![0]} defines no model\n  --> ${runs[i]![0]}:1:1\n`));
    expect(readdirSync(out)).toEqual([]);
    expect(await diagnostics("")).toMatch(/^error: <source> defines no model\n {2}--> <source>:1:1\n/);
  });

  test("a byte-order mark is skipped and bare carriage returns end lines: columns and snippets as without them", async () => {
    const model = "model m() {\n  input x: f32[1, 4]\n  output y = relu(z)\n}\n";
    const expected = await diagnostics(model);
    expect(expected).toContain("--> <source>:3:19\n  |\n3 |   output y = relu(z)\n  |                   ^\n");
    expect(await diagnostics(`\uFEFF${model}`)).toBe(expected);
    expect(await diagnostics(model.replace(/\n/g, "\r"))).toBe(expected);
    expect(await diagnostics(model.replace(/\n/g, "\r\n"))).toBe(expected);
    expect((await compile(`\uFEFF${model.replace("relu(z)", "relu(x)").replace(/\n/g, "\r")}`)).report.model).toBe("m");
  });

  test("columns count characters, and the caret allows for wide ones", async () => {
    const text = await diagnostics('model m() {\n  input x: f32[1, 4]\n  s = "😀 日本"; output y = relu(x) + nope\n}\n');
    expect(text).toContain("--> <source>:3:36\n"); // the emoji is one character, not two UTF-16 units
    const [source, caret] = text.split("\n").filter((l) => l.startsWith("3 | ") || l.includes("^^^^"));
    // 😀, 日 and 本 take two terminal columns each, 日 and 本 in one UTF-16 unit: the caret sits two units further.
    expect(caret!.indexOf("^")).toBe(source!.indexOf("nope") + 2);
  });

  test("an unknown escape in a string is an error, not silently dropped", async () => {
    const text = await diagnostics(tiny('  assert true, "fine: \\n \\t \\" \\\\ but not \\d"\n  output y = relu(image)'));
    expect(text).toMatch(/^error: unknown escape `\\d` in a string \(the escapes are \\n, \\t, \\\\ and \\"\)\n {2}--> <source>:3:43\n/);
  });

  test("`__metadata__`, the key safetensors reserves, cannot name a weight", async () => {
    expect(await diagnostics(tiny("  p = __metadata__: parameter([1])\n  output y = relu(image) + p"))).toContain("`__metadata__` is reserved by safetensors");
    // Only the key itself is reserved: `__metadata__.weight` is an ordinary name.
    expect((await compile(tiny("  output y = __metadata__: conv2d(image, 4, 3)"))).report.model).toBe("m");
    const path = file("metadata.nn", tiny("  output y = __metadata__: parameter([1])"));
    expectModelError(await graphc("init-weights", path, "-o", join(scratch, "w.safetensors")), "`__metadata__` is reserved by safetensors", `--> ${path}:3:28`);
  });

  test("a tensor too large for any target is a located error in check and inspect, not a crash later", async () => {
    const conv = file("conv.nn", tiny("  output y = c: conv2d(image, 1000000000, 3)"));
    for (const cmd of ["check", "inspect"]) expectModelError(await graphc(cmd, conv), "would make weight `c.weight`: f32[1000000000, 3, 3, 3] would take 108,000,000,000 bytes", `--> ${conv}:3:17`);
    // Large but safe --shape dims reach the same check, at the input.
    const relu = file("relu.nn", tiny("  output y = relu(image)"));
    expectModelError(await graphc("check", relu, "--shape", "image=1x3x99999999999x8"), "input `image`: f32[1, 3, 99999999999, 8] would take", `--> ${relu}:2:3`);
    expect(await diagnostics(tiny("  output y = relu(image)"), { shapes: { image: [1, 3, 2 ** 40, 8] } })).toContain("--> <source>:2:3");
  });

  test("a model over wasm32's 4 GiB of memory: a compile error, no validator dump", async () => {
    const outputs = ["relu", "sigmoid", "tanh", "exp"].map((f, i) => `  output y${i} = ${f}(x)`).join("\n");
    const source = `model m() {\n  input x: f32[1, 268435456]\n${outputs}\n}\n`;
    const expected = "error: the wasm target needs at least 5,368,709,120 bytes of memory for this model (weights and constants 0, inputs 1,073,741,824, intermediate tensors 4,294,967,296); wasm32 memory holds at most 4 GiB";
    expect(await diagnostics(source)).toContain(expected);
    const r = await graphc("compile", file("wide.nn", source), "-o", mkdtempSync(join(scratch, "out-")));
    expectModelError(r, expected);
    expect(r.stderr).not.toMatch(/validator|\(module/);
  });

  test("a tensor over WebGPU's default buffer binding limit: a compile error where the model makes it", async () => {
    const source = "model m() {\n  input x: f32[1, 16777216]\n  output y = concat([x, x, x], 1)\n}\n";
    expect(await diagnostics(source, { target: "wgsl" })).toBe(
      "error: the wgsl target: `concat` makes f32[1, 50331648], 201,326,592 bytes; a WebGPU shader binds at most 134,217,728 bytes (128 MiB, the default maxStorageBufferBindingSize)\n  --> <source>:3:14",
    );
    const input = await diagnostics("model m() {\n  input x: f32[1, 50000000]\n  output y = relu(x)\n}\n", { target: "wgsl" });
    expect(input).toContain("error: the wgsl target: input `x` is f32[1, 50000000], 200,000,000 bytes; a WebGPU shader binds at most");
  });
});
