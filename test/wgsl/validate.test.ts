// Every shader of every zoo model (at reduced sizes, after the GPU pipeline) passes Dawn's WGSL
// and pipeline validation under WebGPU's default limits, on the null backend (no driver needed).
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planWgsl } from "../../codegen/wgsl/module.js";
import { wgslTarget } from "../../codegen/wgsl/target.js";
import { compileForGpu, elaborate, nullDevice } from "./helpers.js";

/** Image inputs at 32x32 and sequences of 8: the same kernels as full size, cheaper to build. */
export function reducedOptions(file: string): { shapes: Record<string, number[]>; set: Record<string, number> } {
  const text = readFileSync(file, "utf8");
  const shapes = Object.fromEntries([...text.matchAll(/input (\w+): f32\[1, 3, \w+, \w+\]/g)].map((m) => [m[1]!, [1, 3, 32, 32]]));
  return { shapes, set: /\bseq: int\b/.test(text) ? { seq: 8 } : {} };
}

const zoo = readdirSync("specs").filter((f) => f.endsWith(".nn")).sort();
/** Models with a tensor over WebGPU's default 128 MiB binding (RoBERTa's 50265 x 768 embedding table): the target must say so. */
const overDefaultLimits = ["roberta_base.nn"];
let dev: Awaited<ReturnType<typeof nullDevice>>;
beforeAll(async () => void (dev = await nullDevice()));
afterAll(() => dev?.device.destroy());

describe("WGSL validation (Dawn null backend)", () => {
  it.each(zoo)("%s", async (file) => {
    const { graph } = compileForGpu(elaborate(`specs/${file}`, reducedOptions(`specs/${file}`)), "dummy");
    const problems = wgslTarget.limits!(graph).map((p) => p.message);
    if (overDefaultLimits.includes(file)) {
      expect(problems.join("\n")).toMatch(/128 MiB/);
      return;
    }
    expect(problems).toEqual([]);
    const unique = new Map(planWgsl(graph).kernels.map((k) => [k.code, k.label]));
    const errors: string[] = [];
    for (const [code, label] of unique) {
      const device = dev.device;
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code });
      const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } }).catch((e: Error) => e);
      const err = await device.popErrorScope();
      if (pipeline instanceof Error || err) errors.push(`${label}: ${(pipeline instanceof Error ? pipeline : err)!.message}\n${code}`);
    }
    expect(errors.slice(0, 2)).toEqual([]);
    expect(unique.size).toBeGreaterThan(0);
  });
});
