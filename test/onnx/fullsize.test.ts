// The interpreter against onnxruntime at the models' real sizes, once each: ResNet-50 at
// 224x224 and BERT-base at sequence length 128 with all 12 layers (the reduced-size zoo runs
// in zoo.test.ts). Slow by nature: about a minute of interpreter time together.
import { describe } from "vitest";
import { zooTest } from "./zoo.js";

describe("full-size models: onnxruntime vs the interpreter", () => {
  zooTest("resnet50", {}, "resnet50 at 224x224");
  zooTest("bert_base", {}, "bert_base at seq 128, 12 layers");
});
