// Checkpoints from other tools: unread buffers (num_batches_tracked) may be missing, extra tensors
// are a warning (`strict`: both errors), and `rename` rewrites name prefixes before matching.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelWeights } from "../../src/driver.js";
import { elaborateFile } from "../../src/frontend/index.js";
import type { InitKind, Weight } from "../../src/ir/graph.js";
import { matchCheckpoint, unreadBuffers, type LoadedTensor } from "../../src/weights/bind.js";
import { loadWeights } from "../../src/weights/load.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { cliBuild } from "../support/cli.js";
import { expectCode } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-checkpoint-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const modelPath = join(dir, "convbn.nn");
writeFileSync(modelPath, "model convbn() {\n  input x: f32[1, 2, 4, 4]\n  output y = bn: batchnorm(c: conv2d(x, 3, kernel=1))\n}\n");
const graph = elaborateFile(modelPath).graph!;

/** The model's seeded weights as a converter from another framework writes them: no num_batches_tracked. */
function converted(prefix = ""): Map<string, TensorData> {
  const { data } = loadWeights(graph, { seed: 1 });
  data.delete("bn.num_batches_tracked");
  return new Map([...data].map(([name, d]): [string, TensorData] => [prefix + name, d]));
}

/** A safetensors file of `tensors`, shaped as the model declares (after `prefix`), flat otherwise. */
function writeCheckpoint(path: string, tensors: Map<string, TensorData>, prefix = ""): void {
  const shape = (name: string, d: TensorData) => graph.weights.find((x) => prefix + x.name === name)?.type.shape ?? [d.length];
  writeFileSync(path, writeSafetensors([...tensors].map(([name, data]) => ({ name, shape: shape(name, data), data }))));
}

const zeros: InitKind = { kind: "zeros" };
const w = (name: string, shape: number[]): Weight => ({ name, value: 0, type: { dtype: "f32", shape }, trainable: true, init: zeros });
const t = (n: number): LoadedTensor => ({ shape: [n], data: new Float32Array(n) });

describe("buffers inference never reads", () => {
  it("are BatchNorm's num_batches_tracked only", () => {
    expect([...unreadBuffers(graph)]).toEqual(["bn.num_batches_tracked"]);
  });

  it("take their default (zeros) when a checkpoint lacks them; strict refuses", () => {
    const file = join(dir, "no-nbt.safetensors");
    const data = converted();
    writeCheckpoint(file, data);
    const loaded = loadWeights(graph, { file });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.data.get("bn.num_batches_tracked")).toEqual(new BigInt64Array(1));
    expect(loaded.data.get("bn.running_var")).toEqual(data.get("bn.running_var"));
    const e = expectCode(() => loadWeights(graph, { file, strict: true }), "missing_weights");
    expect(e.message).toBe(`${file}: missing 1 weight(s): bn.num_batches_tracked`);
  });

  it("a missing weight that is read is still an error", () => {
    const weights = converted();
    weights.delete("bn.running_mean");
    const e = expectCode(() => modelWeights(graph, { weights }), "missing_weights");
    expect(e.message).toBe("options.weights: missing 1 weight(s): bn.running_mean");
  });
});

describe("tensors the model does not declare", () => {
  const file = new Map([["a", t(1)], ["extra.x", t(2)], ["extra.y", t(3)]]);

  it("are a warning that lists them", () => {
    const { data, warnings } = matchCheckpoint([w("a", [1])], file, { file: "ckpt.safetensors" });
    expect([...data.keys()]).toEqual(["a"]);
    expect(warnings).toEqual(["ckpt.safetensors: ignoring 2 tensor(s) not in the graph: extra.x, extra.y"]);
  });

  it("are an error when strict, unless allowUnexpected", () => {
    const e = expectCode(() => matchCheckpoint([w("a", [1])], file, { file: "ckpt.safetensors", strict: true }), "unexpected_tensors");
    expect(e.message).toBe("ckpt.safetensors: 2 tensor(s) not in the graph: extra.x, extra.y");
    expect(matchCheckpoint([w("a", [1])], file, { strict: true, allowUnexpected: true }).warnings).toHaveLength(1);
  });
});

describe("rename", () => {
  it("rewrites name prefixes in order, each rule on the result of the one before; extra tensors are named as in the file", () => {
    const file = new Map([["module.backbone.fc.weight", t(2)], ["module.head", t(1)]]);
    const { data, warnings } = matchCheckpoint([w("features.fc.weight", [2])], file, { rename: [["module.", ""], ["backbone.", "features."]] });
    expect(data.get("features.fc.weight")).toBe(file.get("module.backbone.fc.weight")!.data);
    expect(warnings).toEqual(["<checkpoint>: ignoring 1 tensor(s) not in the graph: module.head"]);
  });

  it("binds a DataParallel-style Map through the driver", () => {
    const { data, warnings } = modelWeights(graph, { weights: converted("module."), rename: [["module.", ""]] });
    expect(warnings).toEqual([]);
    expect([...data.keys()].sort()).toEqual(graph.weights.map((x) => x.name).sort());
  });

  it("two tensors renamed to one name are a named error", () => {
    const file = new Map([["module.fc.weight", t(2)], ["fc.weight", t(2)]]);
    const e = expectCode(() => matchCheckpoint([w("fc.weight", [2])], file, { file: "ckpt.safetensors", rename: [["module.", ""]] }), "rename_collision");
    expect(e.message).toBe('ckpt.safetensors: tensors "module.fc.weight" and "fc.weight" are both named "fc.weight" after renaming');
  });
});

describe("the command line", () => {
  const { build, graphc } = cliBuild("checkpoint-options");
  const file = join(dir, "converted.safetensors");
  beforeAll(() => {
    build();
    writeCheckpoint(file, new Map([...converted("module."), ["module.classifier.weight", new Float32Array(4)]]), "module.");
  }, 120_000);

  it("--rename module.= binds, the extra tensor is a warning, --strict refuses the checkpoint", async () => {
    const ok = await graphc("run", modelPath, "--weights", file, "--rename", "module.=");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`warning: ${file}: ignoring 1 tensor(s) not in the graph: module.classifier.weight`);
    const strict = await graphc("run", modelPath, "--weights", file, "--rename", "module.=", "--strict");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`${file}: missing 1 weight(s): bn.num_batches_tracked`);
    const bad = await graphc("run", modelPath, "--weights", file, "--rename", "module.");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--rename expects NAME=VALUE, got `module.`");
  });
});
