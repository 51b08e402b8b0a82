import { it } from "vitest";
import { compile } from "../../src/api.js";
import { elaborateFile } from "../../src/frontend/index.js";
import { fastWeights } from "./weights.js";
it("mem", async () => {
  for (const [f, o] of [["specs/resnet50.nn", {}], ["specs/bert_base.nn", {}], ["specs/resnet50.nn", { shapes: { image: [1, 3, 96, 96] } }], ["specs/bert_base.nn", { set: { seq: 64 } }]] as const) {
    const g = elaborateFile(f, o).graph!;
    const r = await compile({ path: f }, { ...o, weights: fastWeights(g, 1), relaxedSimd: "off" });
    const b = r.module.manifest.builds.baseline!;
    console.log(f, JSON.stringify(o), "memoryBytes", b.memoryBytes, "weights", r.module.weights.byteLength, "arena", r.report.stats.arenaBytes, "in", b.inputs, "out", b.outputs);
  }
}, 600000);
