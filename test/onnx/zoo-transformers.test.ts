// The zoo's transformers (BERT family, at the sequence lengths and depths of `reduced`) exported
// to ONNX and run in onnxruntime against the reference interpreter.
import { describe } from "vitest";
import { isTransformer, reduced, specs, zooTest } from "./zoo.js";

describe("zoo transformers in onnxruntime", () => {
  for (const name of specs) if (name in reduced && isTransformer(name)) zooTest(name);
});
