// The compile driver's stages: choosing a target and its pipeline, and lowering a graph to what
// the target runs (decompositions that compute the same values, or a located diagnostic).
import { describe, expect, it } from "vitest";
import { TargetLimitError, type Target } from "../codegen/target.js";
import { UsageError } from "../src/base/errors.js";
import { CompileError, elaborate, generate, loadTarget, lower, modelWeights, optimise, pipelineFor } from "../src/driver.js";
import { randomInputs } from "../src/weights/calibrate.js";
import { interpret } from "../src/interp/index.js";
import { isNHWC } from "../src/ir/ops.js";
import { defaultPipeline } from "../src/passes/index.js";

const cnn = `model cnn() {
  input x: f32[1, 3, 8, 8]
  y = relu(bn: batchnorm(c1: conv2d(x, 4, 3, pad=1)))
  y = maxpool(y, 2) + avgpool(y, 2)
  output y = fc: linear(flatten(global_avgpool(c2: conv2d(y, 4, 1))), 3)
}
`;

/** The model after the standard pipeline, with its seeded weights bound. */
function optimised(source: string) {
  const { graph } = elaborate(source);
  return optimise(graph, modelWeights(graph, { seed: 1 }).data, defaultPipeline).graph;
}

describe("targets and pipelines", () => {
  it("names the targets there are when asked for another", async () => {
    await expect(loadTarget("webgpu")).rejects.toThrow(new UsageError("unknown target `webgpu` (available: wasm, wgsl)"));
  });

  it("checks a target's options", async () => {
    await expect(loadTarget("wgsl", { embedWeights: true })).rejects.toThrow(UsageError);
  });

  it("gives each target its own pipeline, derived from the standard one", async () => {
    expect(pipelineFor(await loadTarget("wasm"))).toEqual(defaultPipeline);
    expect(pipelineFor(await loadTarget("wgsl"))).toEqual(defaultPipeline.filter((p) => p !== "layout"));
    expect(pipelineFor(undefined)).toEqual(defaultPipeline);
    expect(pipelineFor(await loadTarget("wgsl"), ["layout", "dce"])).toEqual(["layout", "dce"]);
    expect(() => pipelineFor(undefined, ["dce", "nope"])).toThrow(/unknown pass "nope"/);
  });
});

describe("lowering for a target", () => {
  it("decomposes channels-last nodes for wgsl into transposes around NCHW ones, computing the same", async () => {
    const graph = optimised(cnn);
    expect(graph.nodes.some((n) => isNHWC(n.attrs))).toBe(true);
    const inputs = randomInputs(graph, 2);
    const want = interpret(structuredClone(graph), new Map(), inputs);
    const lowered = lower(graph, await loadTarget("wgsl"));
    expect(lowered.nodes.filter((n) => isNHWC(n.attrs))).toEqual([]);
    expect(interpret(lowered, new Map(), inputs)).toEqual(want);
  });

  it("leaves a graph the target runs as it is", async () => {
    const graph = optimised(cnn);
    const nodes = graph.nodes;
    expect(lower(graph, await loadTarget("wasm")).nodes).toBe(nodes);
  });

  it("reports a node still unsupported in core form: the op, where the model made it, the target", () => {
    const noRelu: Target = {
      name: "norelu",
      description: "runs everything but relu",
      pipeline: (standard) => [...standard],
      supports: (_g, n) => (n.op === "relu" ? { unsupported: "no activations" } : true),
      emit: () => ({ files: [] }),
    };
    const { graph } = elaborate(cnn);
    const err = (() => {
      try {
        lower(graph, noRelu);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).diagnostics).toEqual(["error: the norelu target cannot run `relu`: no activations\n  --> <source>:3:7"]);
  });

  it("reports a limit the target finds only while emitting (wasm memory with packed weights) as a diagnostic", async () => {
    const small: Target = {
      name: "small",
      description: "has room for nothing",
      pipeline: (standard) => [...standard],
      supports: () => true,
      emit: () => {
        throw new TargetLimitError("the small target needs 10 bytes of memory; it has 4");
      },
    };
    await expect(generate(optimised(cnn), small)).rejects.toThrow(CompileError);
    await expect(generate(optimised(cnn), small)).rejects.toThrow(/error: the small target needs 10 bytes of memory; it has 4/);
  });
});
