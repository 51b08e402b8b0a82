import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  type TensorToWrite,
} from "../../src/weights/safetensors.js";
import { bf16ToF32, f16ToF32 } from "../../src/weights/tensor.js";
import { ascii, concat, expectCode, expectOnlyWeightsErrors, u16le } from "./helpers.js";

/** A safetensors file from a header (object or raw JSON text) and a data buffer. */
function file(header: unknown, buffer: Uint8Array | number[] = [], headerLen?: bigint): Uint8Array {
  const json = ascii(typeof header === "string" ? header : JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  return concat(len, json, buffer);
}

const f32 = (dtype: string, shape: unknown, begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

describe("safetensors round trip", () => {
  const tensor = fc
    .record({
      name: fc.string({ maxLength: 12 }).filter((n) => n !== "__metadata__"),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
      kind: fc.constantFrom("f32", "i32", "i64"),
    })
    .chain(({ name, shape, kind }) => {
      const n = shape.reduce((a, d) => a * d, 1);
      const data =
        kind === "f32"
          ? fc.float32Array({ minLength: n, maxLength: n })
          : kind === "i32"
            ? fc.int32Array({ minLength: n, maxLength: n })
            : fc.bigInt64Array({ minLength: n, maxLength: n });
      return (data as fc.Arbitrary<Float32Array | Int32Array | BigInt64Array>).map((d): TensorToWrite => ({
        name,
        shape,
        data: d,
      }));
    });

  it("reads back what it writes, with metadata", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(tensor, { selector: (t) => t.name, maxLength: 6 }),
        fc.dictionary(fc.string(), fc.string()),
        (tensors, metadata) => {
          const bytes = writeSafetensors(tensors, metadata);
          const read = parseSafetensors(bytes, "rt.safetensors");
          expect(read.metadata).toEqual({ ...metadata });
          expect([...read.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
          for (const t of tensors) {
            const got = read.tensors.get(t.name)!;
            expect(got.dtype).toBe(
              t.data instanceof Float32Array ? "F32" : t.data instanceof Int32Array ? "I32" : "I64",
            );
            expect(got.shape).toEqual(t.shape);
            expect(got.data).toEqual(t.data);
          }
        },
      ),
    );
  });

  it("pads the header with spaces to 8 bytes and sorts tensors by name", () => {
    const bytes = writeSafetensors([
      { name: "b", shape: [1], data: new Float32Array([2]) },
      { name: "a", shape: [], data: new BigInt64Array([7n]) },
    ]);
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
    expect(text).toMatch(/^\{"a":\{"dtype":"I64","shape":\[\],"data_offsets":\[0,8\]\},"b":.* *$/);
    expect(text.trimEnd().length).toBeGreaterThan(headerLen - 8);
  });

  it("reads a handwritten file", () => {
    const bytes = file({ __metadata__: { format: "pt" }, w: f32("F32", [2], 0, 8), n: f32("I64", [], 8, 16) }, [
      ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0],
      ...[0x05, 0, 0, 0, 0, 0, 0, 0],
    ]);
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect(tensors.get("w")).toEqual({ dtype: "F32", shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.get("n")).toEqual({ dtype: "I64", shape: [], data: new BigInt64Array([5n]) });
  });

  it("accepts zero-sized tensors and an empty file", () => {
    expect(readSafetensors(file({})).size).toBe(0);
    const t = readSafetensors(file({ e: f32("F32", [0, 3], 0, 0), w: f32("I32", [1], 0, 4) }, [1, 0, 0, 0]));
    expect(t.get("e")!.data).toEqual(new Float32Array(0));
    expect(t.get("w")!.data).toEqual(new Int32Array([1]));
  });

  it("handles names that are Object.prototype members", () => {
    const names = ["__proto__", "constructor", "toString"];
    const bytes = writeSafetensors(names.map((name, i) => ({ name, shape: [], data: new Int32Array([i]) })));
    const read = readSafetensors(bytes);
    names.forEach((name, i) => expect(read.get(name)!.data).toEqual(new Int32Array([i])));
  });

  it("rejects invalid tensors on writing", () => {
    expectCode(() => writeSafetensors([{ name: "a", shape: [2], data: new Float32Array(3) }]), "size_mismatch");
    expectCode(() => writeSafetensors([{ name: "a", shape: [-1], data: new Float32Array(0) }]), "invalid_shape");
    const dup = { name: "a", shape: [0], data: new Float32Array(0) };
    expectCode(() => writeSafetensors([dup, dup]), "duplicate_name");
    expectCode(() => writeSafetensors([{ ...dup, name: "__metadata__" }]), "invalid_entry");
  });
});

describe("half-precision widening", () => {
  it("decodes known F16 values", () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x0000, 0],
      [0x8000, -0],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [bits, value] of cases) expect(f16ToF32(bits)).toBe(value);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });

  it("orders every finite positive F16 strictly", () => {
    const bad: number[] = [];
    for (let h = 1; h <= 0x7c00; h++) {
      if (!(f16ToF32(h) > f16ToF32(h - 1)) || !Object.is(f16ToF32(h | 0x8000), -f16ToF32(h))) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it("decodes known BF16 values", () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x8000, -0],
      [0x4049, 3.140625],
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Infinity],
      [0xff80, -Infinity],
    ];
    for (const [bits, value] of cases) expect(bf16ToF32(bits)).toBe(value);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
  });

  it("widens F16 and BF16 tensors to Float32Array", () => {
    const bytes = file(
      { h: f32("F16", [3], 0, 6), b: f32("BF16", [2], 6, 10) },
      concat(u16le(0x3c00, 0xc000, 0x0001), u16le(0x3f80, 0x7f80)),
    );
    const t = readSafetensors(bytes);
    expect(t.get("h")).toEqual({ dtype: "F16", shape: [3], data: new Float32Array([1, -2, 2 ** -24]) });
    expect(t.get("b")).toEqual({ dtype: "BF16", shape: [2], data: new Float32Array([1, Infinity]) });
  });
});

describe("malformed safetensors", () => {
  const one =
    (entry: unknown, buffer: number[] = [0, 0, 0, 0]) =>
    () =>
      readSafetensors(file({ w: entry }, buffer), "bad.safetensors");

  it("file shorter than 8 bytes", () => {
    for (let n = 0; n < 8; n++) expectCode(() => readSafetensors(new Uint8Array(n)), "truncated");
  });

  it("header length beyond the file", () => {
    expectCode(() => readSafetensors(file({}, [], 3n)), "header_out_of_range");
    expectCode(() => readSafetensors(file({}, [], 2n ** 64n - 1n)), "header_out_of_range");
  });

  it("invalid JSON", () => {
    expectCode(() => readSafetensors(file('{"w": ')), "invalid_header");
  });

  it("invalid UTF-8", () => {
    expectCode(() => readSafetensors(concat([3, 0, 0, 0, 0, 0, 0, 0], [0x22, 0xff, 0x22])), "invalid_header");
  });

  it("header not an object", () => {
    for (const h of ["[]", "null", "3", '"x"']) expectCode(() => readSafetensors(file(h)), "invalid_header");
  });

  it("entry not an object", () => {
    expectCode(one([1, 2]), "invalid_entry");
  });

  it("missing or invalid dtype field", () => {
    expectCode(one({ shape: [1], data_offsets: [0, 4] }), "invalid_entry");
    expectCode(one({ dtype: 4, shape: [1], data_offsets: [0, 4] }), "invalid_entry");
  });

  it("missing or invalid shape field", () => {
    expectCode(one({ dtype: "F32", data_offsets: [0, 4] }), "invalid_entry");
    expectCode(one({ dtype: "F32", shape: 1, data_offsets: [0, 4] }), "invalid_entry");
  });

  it("missing or invalid data_offsets field", () => {
    expectCode(one({ dtype: "F32", shape: [1] }), "invalid_entry");
    for (const offsets of [[0], [0, 4, 8], [-1, 4], [0.5, 4], [4, 0], ["0", "4"]]) {
      expectCode(one({ dtype: "F32", shape: [1], data_offsets: offsets }), "invalid_entry");
    }
  });

  it("unknown dtype", () => {
    for (const d of ["F33", "f32", "constructor", "__proto__"]) expectCode(one(f32(d, [1], 0, 4)), "unknown_dtype");
  });

  it("known but unsupported dtype", () => {
    const e = expectCode(one(f32("U8", [4], 0, 4)), "unsupported_dtype");
    expect(e.message).toMatch(/unsupported dtype U8/);
  });

  it("negative or non-integer dims", () => {
    for (const shape of [[-1], [1.5], ["1"], [null]]) expectCode(one(f32("F32", shape, 0, 4)), "invalid_shape");
  });

  it("offsets beyond the buffer", () => {
    expectCode(one(f32("F32", [2], 0, 8)), "offsets_out_of_range");
  });

  it("byte size different from numel * itemsize", () => {
    expectCode(one(f32("F32", [2], 0, 4)), "size_mismatch");
    expectCode(one(f32("F16", [1], 0, 4)), "size_mismatch");
  });

  it("overlapping tensors", () => {
    const h = { a: f32("F32", [1], 0, 4), b: f32("F32", [2], 0, 8) };
    expectCode(() => readSafetensors(file(h, new Array(8).fill(0))), "offsets_overlap");
    const aliased = { a: f32("F32", [1], 0, 4), b: f32("F32", [1], 0, 4) };
    expectCode(() => readSafetensors(file(aliased, [0, 0, 0, 0])), "offsets_overlap");
  });

  it("buffer not covered contiguously", () => {
    expectCode(() => readSafetensors(file({ a: f32("F32", [1], 4, 8) }, new Array(8).fill(0))), "offsets_gap");
    const gap = { a: f32("F32", [1], 0, 4), b: f32("F32", [1], 8, 12) };
    expectCode(() => readSafetensors(file(gap, new Array(12).fill(0))), "offsets_gap");
    expectCode(() => readSafetensors(file({ a: f32("F32", [1], 0, 4) }, new Array(6).fill(0))), "offsets_gap");
  });

  it("invalid metadata", () => {
    expectCode(() => readSafetensors(file({ __metadata__: { a: 1 } })), "invalid_metadata");
    expectCode(() => readSafetensors(file({ __metadata__: ["a"] })), "invalid_metadata");
  });

  it("names the file and the tensor", () => {
    const e = expectCode(one(f32("F32", [3], 0, 4)), "size_mismatch");
    expect(e.message).toContain("bad.safetensors");
    expect(e.message).toContain('"w"');
  });

  it("never fails with anything but WeightsError on corrupted files", () => {
    const valid = writeSafetensors([
      { name: "a", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: "b", shape: [1], data: new BigInt64Array([1n]) },
    ]);
    expectOnlyWeightsErrors(valid, fc.uint8Array({ maxLength: 64 }), (b) => readSafetensors(b));
  });
});
