// graphc viz as a user runs it: what it writes, what it says, and its usage errors (exit 2).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cliBuild, type Run } from "../support/cli.js";

const { build, graphc } = cliBuild("viz-cli-dist");
const dir = mkdtempSync(join(tmpdir(), "graphc-viz-"));
const small = ["specs/resnet18.nn", "--shape", "image=1x3x32x32"];

beforeAll(build);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectUsageError(r: Run, mentions: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(mentions);
  expect(r.stderr).not.toContain("    at ");
}

describe.concurrent("graphc viz", () => {
  test("before the passes: an SVG with every node, its weights and shapes, and says what it wrote", async () => {
    const out = join(dir, "before.svg");
    const r = await graphc("viz", ...small, "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`graphc: wrote ${out} (resnet18 before the passes: 69 nodes, 0 fused kernels; ${r.stderr.match(/; (.*)\)\n$/)![1]})\n`);
    const svg = readFileSync(out, "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.match(/<g class="box node /g)).toHaveLength(69);
    for (const text of ["layer1.0.conv1.weight f32[64, 64, 3, 3]", "params 36,864", "f32[1, 64, 8, 8]", "input image", "output logits", "bn1.running_var f32[64]"]) expect(svg).toContain(text);
    // A batchnorm's running statistics are buffers, not parameters: weight and bias only.
    const bn1 = svg.slice(svg.indexOf(">bn1</text>"));
    expect(bn1.slice(0, bn1.indexOf("</g>"))).toMatch(/>params 128<[^]*>bn1\.running_mean f32\[64\]</);
  });

  test("--after all: the fused kernels as groups of the ops they contain", async () => {
    const out = join(dir, "after.html");
    const r = await graphc("viz", ...small, "--after", "all", "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/graphc: wrote .*after\.html \(resnet18 after the pipeline: 25 nodes, 17 fused kernels; /);
    const html = readFileSync(out, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/<(script|link|img)[^>]* (src|href)=/); // self-contained
    expect(html.match(/<g class="box node [^"]* group"/g)?.length).toBe(17);
    expect(html).toContain(">conv2d (bias)</text>");
    expect(html).toContain(">add (residual)</text>");
  });

  test("--after PASS stops after that pass", async () => {
    const out = join(dir, "folded.svg");
    const r = await graphc("viz", ...small, "--after", "fold-batchnorm", "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("after fold-batchnorm");
    const svg = readFileSync(out, "utf8");
    expect(svg).not.toContain(">batchnorm</text>");
    expect(svg).not.toContain(" group\""); // fusion comes later
  });

  test("--help lists the model options and --after", async () => {
    const r = await graphc("viz", "--help");
    expect(r.code).toBe(0);
    for (const flag of ["--shape", "--set", "--model", "--weights", "--after PASS|all", "-o, --output"]) expect(r.stdout).toContain(flag);
  });

  test("usage errors", async () => {
    expectUsageError(await graphc("viz", ...small), /give -o GRAPH\.svg .* or -o GRAPH\.html/);
    expectUsageError(await graphc("viz", ...small, "-o", join(dir, "g.png")), /the picture is a \.svg or a \.html file/);
    expectUsageError(await graphc("viz", ...small, "--after", "frobnicate", "-o", join(dir, "g.svg")), /--after frobnicate: not a pass of the pipeline \(canonicalize, .*\) nor all/);
    expectUsageError(await graphc("viz", ...small, "--seed", "3", "-o", join(dir, "g.svg")), /--seed goes with --after PASS/);
    expectUsageError(await graphc("viz", ...small, "-o", join(dir, "no-such-dir", "g.svg")), /there is no directory/);
  });

  test("a model with errors: exit 1, diagnostics, nothing written", async () => {
    const out = join(dir, "bad.svg");
    const r = await graphc("viz", "test/golden/diagnostics/several_errors.nn", "-o", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("test/golden/diagnostics/several_errors.nn:3:27");
    expect(() => readFileSync(out)).toThrow();
  });
});
