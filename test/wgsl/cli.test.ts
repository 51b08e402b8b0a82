// `graphc compile --target wgsl -o DIR` and `graphc run --backend wgsl` (Dawn on SwiftShader),
// run as a user runs them: the WGSL backend prints the interpreter's numbers.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { cliBuild } from "../support/cli.js";

const { build, graphc } = cliBuild("wgsl-dist");
const model = ["specs/mobilenet_v3_small.nn", "--shape", "image=1x3x32x32"];

beforeAll(build);

describe("graphc with the WGSL target", () => {
  test("compile --target wgsl writes the module, its types and its weights", async () => {
    const out = mkdtempSync(join(tmpdir(), "graphc-wgsl-"));
    const r = await graphc("compile", ...model, "--target", "wgsl", "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["mobilenet_v3_small.d.mts", "mobilenet_v3_small.d.ts", "mobilenet_v3_small.mjs", "mobilenet_v3_small.weights.bin"]);
  });

  test("run --backend wgsl prints what the interpreter prints", async () => {
    const [gpu, interp] = await Promise.all([graphc("run", ...model, "--backend", "wgsl"), graphc("run", ...model)]);
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(gpu.stderr).toContain("on wgsl (Dawn)");
    // The same lines, classes and shapes; the numbers printed (six significant digits of min / max
    // / mean, five of the top-5 logits) within 1e-4 of the largest: the GPU sums in another order,
    // which moves float32 results by ~1e-6 relative and can flip a last printed digit.
    const numbers = /-?\d+\.\d+(?:e[-+]?\d+)?/g;
    expect(gpu.stdout.replace(numbers, "#")).toBe(interp.stdout.replace(numbers, "#"));
    const [got, want] = [gpu.stdout, interp.stdout].map((out) => Array.from(out.match(numbers) ?? [], Number));
    const scale = Math.max(...want!.map(Math.abs));
    expect(want!.length).toBeGreaterThan(5);
    want!.forEach((w, i) => expect(Math.abs(got![i]! - w), `number ${i}: ${got![i]} vs ${w}`).toBeLessThanOrEqual(1e-4 * scale));
  });

  test("run --backend wgsl without a working Vulkan driver: the machine's problem (exit 1), said in one line with the fix, no stack", async () => {
    const before = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = "/nonexistent/vk_icd.json";
    const r = await graphc("run", ...model, "--backend", "wgsl").finally(() => (before === undefined ? delete process.env.VK_ICD_FILENAMES : (process.env.VK_ICD_FILENAMES = before)));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("graphc run: WebGPU (Dawn) found no adapter with VK_ICD_FILENAMES=/nonexistent/vk_icd.json (apt-get install -y --no-install-recommends chromium-common libvulkan1)\n");
    expect(r.stderr).not.toContain("internal error");
  });
});
