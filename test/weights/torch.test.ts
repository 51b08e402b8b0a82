// PyTorch .pt/.pth checkpoints (torch.save's zip format): read through a restricted unpickler
// that understands only tensor records; every other global or opcode is a named error.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../src/api.js";
import { modelWeights } from "../../src/driver.js";
import { elaborateFile } from "../../src/frontend/index.js";
import { loadWeights } from "../../src/weights/load.js";
import { memorySource } from "../../src/weights/source.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { indexTorch } from "../../src/weights/torch.js";
import { cliBuild } from "../support/cli.js";
import { ascii, concat, expectCode, expectOnlyWeightsErrors, u16le } from "./helpers.js";
import { type PyValue, type StorageSpec, type TorchSaveOptions, f32Bytes, picklePy, torchSave, writeZip } from "./torch-writer.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-torch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const modelPath = join(dir, "convbn.nn");
writeFileSync(modelPath, "model convbn() {\n  input x: f32[1, 2, 4, 4]\n  output y = bn: batchnorm(c: conv2d(x, 3, kernel=1))\n}\n");
const graph = elaborateFile(modelPath).graph!;
const seeded = loadWeights(graph, { seed: 3 }).data;

/** The model's weights as nn.Module.state_dict() holds them: an OrderedDict, parameters and buffers, one storage each. */
function stateDict(data: Map<string, TensorData>, prefix = ""): PyValue {
  let key = 0;
  const entries = graph.weights.map((w): [string, PyValue] => {
    const d = data.get(w.name)!;
    const storage: StorageSpec = { key: String(key++), type: d instanceof BigInt64Array ? "LongStorage" : "FloatStorage", bytes: new Uint8Array(d.buffer.slice(0)) };
    return [prefix + w.name, { tensor: { storage, size: w.type.shape, parameter: w.trainable } }];
  });
  return { dict: entries, ordered: true };
}

function save(name: string, obj: PyValue, options?: TorchSaveOptions): string {
  const path = join(dir, name);
  writeFileSync(path, torchSave(obj, options));
  return path;
}

const index = (obj: PyValue, options?: TorchSaveOptions) => indexTorch(memorySource(torchSave(obj, options), "model.pth"));
const read = (obj: PyValue, name: string) => index(obj).tensors.get(name)!.read();
const floats = (key: string, values: number[]): StorageSpec => ({ key, type: "FloatStorage", bytes: f32Bytes(values) });

describe("a state dict as torch.save writes it", () => {
  it("binds every weight bit for bit, through loadWeights, the driver and the API", () => {
    const file = save("convbn.pth", stateDict(seeded));
    const loaded = loadWeights(graph, { file });
    expect(loaded.warnings).toEqual([]);
    for (const w of graph.weights) expect(loaded.data.get(w.name), w.name).toEqual(seeded.get(w.name));
    expect(modelWeights(graph, { weights: file }).data).toEqual(loaded.data);
    expect(() => compile({ path: modelPath }, { weights: file })).not.toThrow();
  });

  it("pickle protocol 4, zip64 end records and deflated records read the same", () => {
    const plain = loadWeights(graph, { file: save("plain.pth", stateDict(seeded)) }).data;
    expect(loadWeights(graph, { file: save("protocol4.pth", stateDict(seeded), { protocol: 4 }) }).data).toEqual(plain);
    expect(loadWeights(graph, { file: save("zip64.pth", stateDict(seeded), { zip64: true }) }).data).toEqual(plain);
    const deflated = save("deflated.pth", stateDict(seeded), { edit: (rs) => rs.map((r) => ({ ...r, method: 8 })) });
    expect(loadWeights(graph, { file: deflated }).data).toEqual(plain);
  });

  it("wrappers {state_dict: ...} and {model: ...} load, naming the key used", () => {
    for (const key of ["state_dict", "model"]) {
      const file = save(`${key}.pth`, { dict: [["epoch", 7], [key, stateDict(seeded)], ["optimizer", { dict: [["lr", 0.1]] }]] });
      const { data, warnings } = loadWeights(graph, { file });
      expect(data.get("c.weight")).toEqual(seeded.get("c.weight"));
      expect(warnings).toEqual([`${file}: reading the state dict under key "${key}" (also in the checkpoint: epoch, optimizer)`]);
    }
  });

  it("leniency is the safetensors one: a missing num_batches_tracked defaults, --rename strips a prefix, --strict refuses extras", () => {
    const data = new Map(seeded);
    const file = save("dp.pth", stateDict(data, "module."));
    expect(expectCode(() => loadWeights(graph, { file }), "missing_weights").message).toContain("c.weight");
    const renamed = loadWeights(graph, { file, rename: [["module.", ""]] });
    expect(renamed.data.get("bn.running_var")).toEqual(seeded.get("bn.running_var"));

    const noNbt = { dict: (stateDict(seeded) as { dict: [string, PyValue][] }).dict.filter(([n]) => n !== "bn.num_batches_tracked"), ordered: true };
    const partial = save("no-nbt.pth", noNbt);
    expect(loadWeights(graph, { file: partial }).data.get("bn.num_batches_tracked")).toEqual(new BigInt64Array(1));
    expect(expectCode(() => loadWeights(graph, { file: partial, strict: true }), "missing_weights").message).toBe(`${partial}: missing 1 weight(s): bn.num_batches_tracked`);
    const extra = save("extra.pth", { dict: [...(stateDict(seeded) as { dict: [string, PyValue][] }).dict, ["head.weight", { tensor: { storage: floats("9", [1]), size: [1] } }]] });
    expect(loadWeights(graph, { file: extra }).warnings).toEqual([`${extra}: ignoring 1 tensor(s) not in the graph: head.weight`]);
    expectCode(() => loadWeights(graph, { file: extra, strict: true }), "unexpected_tensors");
  });
});

describe("tensor records", () => {
  const storage = floats("0", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

  it("strided views (a transpose, a slice at an offset, a broadcast) gather their elements", () => {
    const obj: PyValue = {
      dict: [
        ["t", { tensor: { storage, size: [4, 3], stride: [1, 4] } }],
        ["slice", { tensor: { storage, offset: 5, size: [2, 2], stride: [3, 2] } }],
        ["expand", { tensor: { storage, offset: 2, size: [2, 3], stride: [0, 1] } }],
        ["flat", { tensor: { storage, offset: 10, size: [2] } }],
        ["empty", { tensor: { storage, offset: 12, size: [0, 3] } }],
      ],
    };
    expect([...read(obj, "t")]).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect([...read(obj, "slice")]).toEqual([5, 7, 8, 10]);
    expect([...read(obj, "expand")]).toEqual([2, 3, 4, 2, 3, 4]);
    expect([...read(obj, "flat")]).toEqual([10, 11]);
    expect(read(obj, "empty")).toEqual(new Float32Array(0));
  });

  it("f16 and bf16 widen, f64 narrows to f32 with a warning, i64 and i32 stay integers", () => {
    const obj: PyValue = {
      dict: [
        ["h", { tensor: { storage: { key: "0", type: "HalfStorage", bytes: u16le(0x3c00, 0xc000) }, size: [2] } }],
        ["b", { tensor: { storage: { key: "1", type: "BFloat16Storage", bytes: u16le(0x3f80, 0x4040) }, size: [2] } }],
        ["d", { tensor: { storage: { key: "2", type: "DoubleStorage", bytes: new Uint8Array(Float64Array.of(0.5, -3).buffer) }, size: [2] } }],
        ["l", { tensor: { storage: { key: "3", type: "LongStorage", bytes: new Uint8Array(BigInt64Array.of(-2n, 2n ** 40n).buffer) }, size: [2] } }],
        ["i", { tensor: { storage: { key: "4", type: "IntStorage", bytes: new Uint8Array(Int32Array.of(-7, 9).buffer) }, size: [2, 1], stride: [1, 1] } }],
      ],
    };
    const { tensors, warnings } = index(obj);
    expect(tensors.get("h")!.read()).toEqual(Float32Array.of(1, -2));
    expect(tensors.get("b")!.read()).toEqual(Float32Array.of(1, 3));
    expect(tensors.get("d")!.read()).toEqual(Float32Array.of(0.5, -3));
    expect(tensors.get("l")!.read()).toEqual(BigInt64Array.of(-2n, 2n ** 40n));
    expect(tensors.get("i")!.read()).toEqual(Int32Array.of(-7, 9));
    expect(warnings).toEqual(["model.pth: 1 float64 tensor(s) narrowed to f32: d"]);
  });

  it("tensors sharing one storage read their own parts; non-tensor entries are ignored with a warning", () => {
    const obj: PyValue = { dict: [["a", { tensor: { storage, size: [6] } }], ["b", { tensor: { storage, offset: 6, size: [6] } }], ["step", 3]] };
    const { tensors, warnings } = index(obj);
    expect([...tensors.get("b")!.read()]).toEqual([6, 7, 8, 9, 10, 11]);
    expect(warnings).toEqual(["model.pth: ignoring 1 entry that are not named tensors: step (an int)"]);
  });
});

/** Pickle opcodes written by hand for what torch.save never writes. */
const op = {
  global: (module: string, name: string) => ascii(`c${module}\n${name}\n`),
  str: (s: string) => concat([0x58, s.length, 0, 0, 0], ascii(s)),
};
const pickled = (...body: (Uint8Array | number[])[]): PyValue => ({ raw: concat(...body) });
/** `obj` as data.pkl without the writer's framing: the raw value is the whole pickle. */
const rawSave = (body: Uint8Array, records: { name: string; data: Uint8Array }[] = []) =>
  writeZip([{ name: "archive/data.pkl", data: concat([0x80, 0x02], body, [0x2e]) }, ...records]);

describe("hostile checkpoints are named errors, never code", () => {
  const refuse = (bytes: Uint8Array, code: string) => expectCode(() => indexTorch(memorySource(bytes, "model.pth")), code).message;

  it("a GLOBAL of os.system, builtins.eval by STACK_GLOBAL, a pickled module class", () => {
    expect(refuse(rawSave(concat(op.global("os", "system"), op.str("echo pwned"), [0x85, 0x52])), "forbidden_pickle")).toBe(
      "model.pth: the pickle calls os.system; only tensor records are read (save model.state_dict())",
    );
    expect(refuse(rawSave(concat(op.str("builtins"), op.str("eval"), [0x93], op.str("1"), [0x85, 0x52])), "forbidden_pickle")).toBe(
      "model.pth: the pickle calls builtins.eval; only tensor records are read (save model.state_dict())",
    );
    expect(refuse(torchSave({ dict: [["net", pickled(op.global("__main__", "Net"), [0x29, 0x81])]] }), "forbidden_pickle")).toContain("the pickle calls __main__.Net");
  });

  it("REDUCE of a non-callable or of an OrderedDict with arguments, BUILD on a non-dict, INST, unknown opcodes", () => {
    expect(refuse(rawSave(concat(op.str("x"), [0x29, 0x52])), "forbidden_pickle")).toBe("model.pth: the pickle calls a str; only tensor records are read");
    expect(refuse(rawSave(concat(op.global("collections", "OrderedDict"), op.str("x"), [0x85, 0x52])), "forbidden_pickle")).toContain("collections.OrderedDict with 1 argument(s)");
    expect(refuse(rawSave(concat([0x5d, 0x7d, 0x62])), "forbidden_pickle")).toContain("sets the state of a list");
    expect(refuse(rawSave(ascii("(ios\nsystem\n")), "forbidden_pickle")).toContain("opcode INST builds objects");
    expect(refuse(rawSave(concat([0x49], ascii("1\n"))), "invalid_pickle")).toContain("opcode 0x49 is not one a state dict uses");
  });

  it("storage records that lie: numel over the record's bytes, a view past the storage, a missing record, a bogus storage type", () => {
    const s = floats("0", [1, 2, 3, 4]);
    expect(refuse(torchSave({ dict: [["w", { tensor: { storage: { ...s, numel: 5 }, size: [5] } }]] }), "size_mismatch")).toBe(
      "model.pth: storage 0 holds 16 bytes but 5 f32 elements need 20",
    );
    expect(refuse(torchSave({ dict: [["w", { tensor: { storage: s, offset: 2, size: [3] } }]] }), "offsets_out_of_range")).toContain("reaches element 4 of a 4-element storage");
    expect(refuse(torchSave({ dict: [["w", { tensor: { storage: s, size: [2, 2], stride: [3, 1] } }]] }), "offsets_out_of_range")).toContain("reaches element 4");
    const noRecord = torchSave({ dict: [["w", { tensor: { storage: s, size: [4] } }]] }, { edit: (rs) => rs.filter((r) => !r.name.endsWith("data/0")) });
    expect(refuse(noRecord, "invalid_torch")).toBe("model.pth: storage 0 has no record archive/data/0");
    expect(refuse(torchSave({ dict: [["w", { tensor: { storage: { key: "0", type: "ByteStorage", bytes: new Uint8Array(4) }, size: [4] } }]] }), "unsupported_dtype")).toContain("torch.ByteStorage");
    expect(refuse(torchSave({ dict: [["w", { tensor: { storage: s, size: [4], stride: [1, 1] } }]] }), "invalid_torch")).toContain("two equal-length tuples");
    // A broadcast view of one element as 2^40: in range of the storage, refused when read, not a crash.
    const huge = indexTorch(memorySource(torchSave({ dict: [["w", { tensor: { storage: s, size: [2 ** 40, 2], stride: [0, 1] } }]] }), "model.pth"));
    expectCode(() => huge.tensors.get("w")!.read(), "too_large");
  });

  it("archives that are not torch.save checkpoints: no data.pkl, big-endian, legacy pickles, TorchScript, other compression", () => {
    expect(refuse(writeZip([{ name: "a/b.txt", data: ascii("hi") }]), "invalid_torch")).toContain("no data.pkl record");
    expect(refuse(torchSave({ dict: [] }, { byteorder: "big" }), "big_endian")).toContain('the byteorder record says "big"');
    const legacy = concat([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    expect(refuse(legacy, "legacy_format")).toContain("is a legacy torch.save file");
    expect(refuse(torchSave({ dict: [] }, { edit: (rs) => [...rs, { name: "archive/constants.pkl", data: new Uint8Array(2) }] }), "invalid_torch")).toContain("TorchScript");
    expect(refuse(torchSave({ dict: [] }, { edit: (rs) => rs.map((r) => ({ ...r, method: 12 })) }), "unsupported_compression")).toContain("method 12");
    expect(refuse(torchSave({ tuple: [] }), "not_a_state_dict")).toContain("holds a tuple");
    expect(refuse(torchSave({ dict: [["epoch", 1]] }), "not_a_state_dict")).toContain('none of "state_dict", "model", "model_state_dict" holds a dict');
  });

  it("a lying central directory: an entry count, a size, an offset", () => {
    const valid = torchSave(stateDict(seeded));
    const eocd = valid.length - 22;
    const patch = (at: number, value: number, bytes: 2 | 4 = 4) => {
      const b = valid.slice();
      if (bytes === 2) new DataView(b.buffer).setUint16(at, value, true);
      else new DataView(b.buffer).setUint32(at, value, true);
      return b;
    };
    expect(refuse(patch(eocd + 10, 0xfff0, 2), "invalid_zip")).toContain("entries cannot fit");
    expect(refuse(patch(eocd + 16, valid.length), "invalid_zip")).toContain("lies beyond");
    const cd = new DataView(valid.buffer).getUint32(eocd + 16, true);
    // The first central entry's sizes (stored: both) grown past the next record.
    const sizes = patch(cd + 20, 0x10000);
    new DataView(sizes.buffer).setUint32(cd + 24, 0x10000, true);
    expect(refuse(sizes, "invalid_zip")).toContain("run into the central directory");
    expect(refuse(patch(cd + 42, 7), "invalid_zip")).toContain("no local header at 7");
  });

  const readAll = (bytes: Uint8Array) => {
    const { tensors } = indexTorch(memorySource(bytes, "model.pth"));
    for (const t of tensors.values()) t.read();
  };

  it("every truncation or few-byte corruption of a checkpoint is a WeightsError and nothing else", () => {
    expectOnlyWeightsErrors(torchSave(stateDict(seeded)), fc.uint8Array({ maxLength: 64 }), readAll);
  });

  it("so is every corruption of the pickle itself (protocols 2 and 4), in an intact archive", () => {
    for (const protocol of [2, 4] as const) {
      const { pkl, storages } = picklePy(stateDict(seeded), protocol);
      const archive = (data: Uint8Array) => writeZip([{ name: "archive/data.pkl", data }, ...storages.map((s) => ({ name: `archive/data/${s.key}`, data: s.bytes }))]);
      expectOnlyWeightsErrors(pkl, fc.uint8Array({ maxLength: 64 }), (bytes) => readAll(archive(bytes)));
    }
  });
});

describe("the command line", () => {
  const { build, graphc } = cliBuild("torch-checkpoints");
  beforeAll(build, 120_000);

  it("graphc run --weights model.pth runs; a hostile one exits 1 with the named error, no stack trace", async () => {
    const ok = await graphc("run", modelPath, "--weights", save("cli.pth", { dict: [["state_dict", stateDict(seeded)]] }));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('reading the state dict under key "state_dict"');
    const hostile = join(dir, "hostile.pth");
    writeFileSync(hostile, rawSave(concat(op.global("os", "system"), op.str("touch pwned"), [0x85, 0x52])));
    const bad = await graphc("run", modelPath, "--weights", hostile);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${hostile}: the pickle calls os.system; only tensor records are read`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
