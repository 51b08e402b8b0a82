import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readNpy, readRawTensor, writeNpy } from "../../src/weights/npy.js";
import { ascii, concat, expectCode, expectOnlyWeightsErrors, u16le } from "./helpers.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A version 1.0 file: u16 header length, then `dict` padded so the data starts at byte 128. */
function v1(dict: string, data: Uint8Array | number[] = []): Uint8Array {
  return concat(MAGIC, [0x01, 0x00, 0x76, 0x00], ascii(dict.padEnd(117) + "\n"), data);
}

const dictFor = (descr: string, shape: string, fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

describe("npy reading", () => {
  it("reads a handwritten version 1.0 file", () => {
    const bytes = v1(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
      [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0],
    );
    expect(readNpy(bytes)).toEqual({ dtype: "f32", shape: [2], data: new Float32Array([1, -2]) });
  });

  it("reads a handwritten version 2.0 file", () => {
    const bytes = concat(
      MAGIC,
      [0x02, 0x00, 0x74, 0x00, 0x00, 0x00], // version 2.0, u32 header length 116
      ascii("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }".padEnd(115) + "\n"),
      [0x01, 0, 0, 0, 0, 0, 0, 0],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0x00, 0, 0, 0, 0, 0x01, 0, 0],
    );
    expect(readNpy(bytes)).toEqual({
      dtype: "i64",
      shape: [3],
      data: new BigInt64Array([1n, -1n, 2n ** 40n]),
    });
  });

  it("reads a version 3.0 file with <f8 narrowed to f32", () => {
    const bytes = concat(
      MAGIC,
      [0x03, 0x00, 0x74, 0x00, 0x00, 0x00],
      ascii("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }".padEnd(115) + "\n"),
      [0, 0, 0, 0, 0, 0, 0xf8, 0x3f], // 1.5
      [0, 0, 0, 0, 0, 0, 0xd0, 0xbf], // -0.25
    );
    expect(readNpy(bytes)).toEqual({ dtype: "f32", shape: [2, 1], data: new Float32Array([1.5, -0.25]) });
  });

  it("reads <i4, <f2 and scalars, with any dict key order and quoting", () => {
    expect(readNpy(v1(dictFor("<i4", "()"), [0xfe, 0xff, 0xff, 0xff]))).toEqual({
      dtype: "i32",
      shape: [],
      data: new Int32Array([-2]),
    });
    const f2 = v1(`{"shape": (1, 2,),"fortran_order":False,  "descr":"<f2"}`, u16le(0x3c00, 0x0001));
    expect(readNpy(f2)).toEqual({ dtype: "f32", shape: [1, 2], data: new Float32Array([1, 2 ** -24]) });
    expect(readNpy(v1(dictFor("<f4", "(0, 3)"))).data).toEqual(new Float32Array(0));
  });

  it("reads back what it writes", () => {
    const arb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }).chain((shape) => {
      const n = shape.reduce((a, d) => a * d, 1);
      const len = { minLength: n, maxLength: n };
      return fc.tuple(fc.constant(shape), fc.oneof(fc.float32Array(len), fc.int32Array(len), fc.bigInt64Array(len)));
    });
    fc.assert(
      fc.property(arb, ([shape, data]) => {
        const bytes = writeNpy(shape, data);
        expect((bytes.length - data.byteLength) % 64).toBe(0);
        const back = readNpy(bytes);
        expect(back.shape).toEqual(shape);
        expect(back.data).toEqual(data);
      }),
    );
  });

  it("writes a numpy-identical version 1.0 preamble and header", () => {
    const bytes = writeNpy([2], new Float32Array([1, -2]));
    expect(bytes).toEqual(
      v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]),
    );
  });

  it("switches to version 2.0 when the header outgrows a u16 length", () => {
    const shape = new Array(22000).fill(1); // "1, " x 22000 > 65535 bytes;
    const bytes = writeNpy(shape, new Float32Array([7]));
    expect(bytes[6]).toBe(2);
    expect(readNpy(bytes)).toEqual({ dtype: "f32", shape, data: new Float32Array([7]) });
  });

  it("rejects invalid arrays on writing", () => {
    expectCode(() => writeNpy([2], new Float32Array(3)), "size_mismatch");
    expectCode(() => writeNpy([1.5], new Float32Array(1)), "invalid_shape");
  });
});

describe("malformed npy", () => {
  const read = (bytes: Uint8Array) => () => readNpy(bytes, "bad.npy");

  it("too short for the preamble", () => {
    expectCode(read(new Uint8Array(MAGIC)), "truncated");
    expectCode(read(concat(MAGIC, [0x02, 0x00, 0x00, 0x00])), "truncated");
  });

  it("bad magic", () => {
    const e = expectCode(read(concat(ascii("PK\x03\x04NUMPY"), [1, 0, 0, 0])), "bad_magic");
    expect(e.message).toContain("bad.npy");
  });

  it("unsupported version", () => {
    expectCode(read(concat(MAGIC, [0x04, 0x00, 0, 0, 0, 0])), "unsupported_version");
    expectCode(read(concat(MAGIC, [0x01, 0x01, 0, 0])), "unsupported_version");
    expectCode(read(concat(MAGIC, [0x00, 0x00, 0, 0])), "unsupported_version");
  });

  it("header length beyond the file", () => {
    expectCode(read(concat(MAGIC, [0x01, 0x00, 0x80, 0x00], ascii("{}"))), "header_out_of_range");
  });

  it("malformed header dict", () => {
    const headers = [
      "",
      "[1, 2]",
      dictFor("<f4", "(2)"), // an int, not a tuple
      dictFor("<f4", "(2,,)"),
      dictFor("<f4", "(-2,)"),
      dictFor("<f4", "[2]"),
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,) } x",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<\\f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'descr': '<f4'}",
    ];
    for (const h of headers) expectCode(read(v1(h, new Uint8Array(8))), "invalid_header");
  });

  it("missing, extra or ill-typed keys", () => {
    expectCode(read(v1("{'descr': '<f4', 'shape': (2,)}", new Uint8Array(8))), "invalid_header");
    expectCode(read(v1(dictFor("<f4", "(2,)").replace("}", "'extra': True}"), new Uint8Array(8))), "invalid_header");
    expectCode(read(v1(dictFor("<f4", "(2,)", "'no'"), new Uint8Array(8))), "invalid_header");
    expectCode(read(v1(dictFor("<f4", "'2'"), new Uint8Array(8))), "invalid_header");
  });

  it("fortran order", () => {
    expectCode(read(v1(dictFor("<f4", "(2, 1)", "True"), new Uint8Array(8))), "fortran_order");
  });

  it("big-endian dtype", () => {
    expectCode(read(v1(dictFor(">f4", "(2,)"), new Uint8Array(8))), "big_endian");
  });

  it("unsupported dtype", () => {
    for (const d of ["<u2", "|b1", "<c8", "|u1", "<f16", "constructor", "__proto__"]) {
      expectCode(read(v1(dictFor(d, "(2,)"), new Uint8Array(8))), "unsupported_dtype");
    }
    expectCode(
      read(v1("{'descr': True, 'fortran_order': False, 'shape': (2,)}", new Uint8Array(8))),
      "unsupported_dtype",
    );
  });

  it("data shorter or longer than the shape", () => {
    expectCode(read(v1(dictFor("<f4", "(2,)"), new Uint8Array(7))), "size_mismatch");
    expectCode(read(v1(dictFor("<f4", "(2,)"), new Uint8Array(9))), "size_mismatch");
  });

  it("never fails with anything but WeightsError on corrupted files", () => {
    const valid = writeNpy([2, 2], new Float32Array([1, 2, 3, 4]));
    expectOnlyWeightsErrors(valid, fc.uint8Array({ maxLength: 32 }).map((tail) => concat(MAGIC, tail)), (b) => readNpy(b));
  });
});

describe("raw .bin tensors", () => {
  it("reads little-endian data of the expected size", () => {
    expect(readRawTensor(new Uint8Array([0x00, 0x00, 0x80, 0x3f]), "f32", [1, 1])).toEqual({
      dtype: "f32",
      shape: [1, 1],
      data: new Float32Array([1]),
    });
    expect(readRawTensor(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]), "i64", []).data).toEqual(new BigInt64Array([2n]));
  });

  it("rejects any other byte length", () => {
    const e = expectCode(() => readRawTensor(new Uint8Array(12), "i32", [2], "w.bin"), "size_mismatch");
    expect(e.message).toContain("w.bin");
    expectCode(() => readRawTensor(new Uint8Array(4), "i32", [2]), "size_mismatch");
  });

  it("rejects invalid shapes", () => {
    expectCode(() => readRawTensor(new Uint8Array(0), "f32", [-1]), "invalid_shape");
  });
});
