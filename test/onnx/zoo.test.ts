// Every zoo CNN (specs/*.nn), at a reduced input size, exported to ONNX and run in onnxruntime
// against the reference interpreter (the transformers are in zoo-transformers.test.ts).
import { describe, expect, it } from "vitest";
import { isTransformer, reduced, specs, zooTest } from "./zoo.js";

describe("zoo CNNs in onnxruntime", () => {
  it("every spec has a reduced configuration", () => {
    expect(specs.filter((s) => !(s in reduced))).toEqual([]);
  });
  for (const name of specs) if (name in reduced && !isTransformer(name)) zooTest(name);
});
