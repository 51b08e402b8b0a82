// Weight and input files a careless or hostile user gives: directories, devices, FIFOs, missing
// files, files over 2 GiB (sparse, so they cost no disk), data of the wrong shape. Each is a
// WeightsError that names the file, or loads correctly; never a crash, a hang or a stack trace.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { elaborateFile } from "../../src/frontend/index.js";
import type { Graph } from "../../src/ir/graph.js";
import { loadWeights } from "../../src/weights/load.js";
import { readInputFile, writeNpy } from "../../src/weights/npy.js";
import { parseSafetensors } from "../../src/weights/safetensors.js";
import { cliBuild, type Run } from "../support/cli.js";
import { ascii, expectCode } from "../weights/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-hostile-weights-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const modelPath = join(dir, "tiny.nn");
writeFileSync(modelPath, "model tiny() {\n  input x: f32[1, 4]\n  output y = fc: linear(x, 2)\n}\n");
const tiny: Graph = elaborateFile(modelPath).graph!;

// y = fc.weight · x + fc.bias: with x all ones, y = [10.5, -0.75].
const weight = Float32Array.of(1, 2, 3, 4, 0, 0, 0, -1);
const bias = Float32Array.of(0.5, 0.25);

const ITEMSIZE = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;

interface Placed {
  name: string;
  dtype: keyof typeof ITEMSIZE;
  shape: number[];
  /** Little-endian data; without it, the tensor's bytes are a hole in the file. */
  bytes?: Uint8Array;
}

/** Writes a safetensors file of `tensors` laid out in order; holes cost no disk space. */
function writeSparseSafetensors(path: string, tensors: Placed[]): void {
  const header: Record<string, unknown> = {};
  const begins: number[] = [];
  let end = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((n, d) => n * d, ITEMSIZE[t.dtype]);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [end, end + size] };
    begins.push(end);
    end += size;
  }
  const json = ascii(JSON.stringify(header));
  const start = 8 + json.length;
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
  const data = tensors.flatMap((t, i): [number, Uint8Array][] => (t.bytes ? [[start + begins[i]!, t.bytes]] : []));
  writeAt(path, start + end, [[0, length], [8, json], ...data]);
}

const bytesOf = (t: ArrayBufferView) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);

/** Creates `path` with `size` bytes, zero (a hole) except for `pieces` at their positions. */
function writeAt(path: string, size: number, pieces: [position: number, bytes: Uint8Array][]): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    for (const [position, bytes] of pieces) writeSync(fd, bytes, 0, bytes.length, position);
  } finally {
    closeSync(fd);
  }
}

/** The tiny model's checkpoint after an unused 4 GiB tensor: its tensors lie past 2^32. */
const huge = join(dir, "huge.safetensors");
writeSparseSafetensors(huge, [
  { name: "unused.big", dtype: "F32", shape: [2 ** 30 + 2] },
  { name: "fc.bias", dtype: "F32", shape: [2], bytes: bytesOf(bias) },
  { name: "fc.weight", dtype: "F32", shape: [2, 4], bytes: bytesOf(weight) },
]);

const fifo = join(dir, "weights.fifo");
execFileSync("mkfifo", [fifo]);

describe("weights files that are not regular files", () => {
  it("a directory", () => {
    const e = expectCode(() => loadWeights(tiny, { file: dir }), "not_a_file");
    expect(e.message).toBe(`${dir}: is a directory, not a regular file`);
  });

  it("a character device: refused from fstat, never read", () => {
    // /dev/null, whose reads end at once: should this regress, the test fails instead of reading
    // /dev/zero until memory runs out (the CLI test below takes /dev/zero, under a time limit).
    const e = expectCode(() => loadWeights(tiny, { file: "/dev/null" }), "not_a_file");
    expect(e.message).toBe("/dev/null: is a character device, not a regular file");
  });

  it("a FIFO with no writer: refused at once, not waited on", () => {
    // Should opening it wait for a writer (the bug), this one comes after 2 s, so the reader sees
    // an empty file and the test fails instead of hanging.
    const watchdog = spawn(process.execPath, [
      "-e",
      `setTimeout(() => { const fs = require("fs"); try { fs.closeSync(fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); } catch {} }, 2000)`,
    ]);
    try {
      const e = expectCode(() => loadWeights(tiny, { file: fifo }), "not_a_file");
      expect(e.message).toBe(`${fifo}: is a FIFO (named pipe), not a regular file`);
    } finally {
      watchdog.kill();
    }
  });

  it("a missing file", () => {
    const missing = join(dir, "missing.safetensors");
    const e = expectCode(() => loadWeights(tiny, { file: missing }), "unreadable");
    expect(e.message).toBe(`${missing}: cannot open the file: no such file or directory (ENOENT)`);
    expectCode(() => loadWeights(tiny, { file: join(modelPath, "w.safetensors") }), "unreadable");
  });
});

describe("weights files over 2 GiB, read tensor by tensor at their offsets", () => {
  it("loads the tensors past 2^32 and never reads the unused 4 GiB one", () => {
    const { data, warnings } = loadWeights(tiny, { file: huge });
    expect(data.get("fc.weight")).toEqual(weight);
    expect(data.get("fc.bias")).toEqual(bias);
    expect(warnings).toEqual([`${huge}: ignoring 1 tensor(s) not in the graph: unused.big`]);
    expectCode(() => loadWeights(tiny, { file: huge, strict: true }), "unexpected_tensors");
  });

  it("refuses a header length over the limit before reading the header", () => {
    const path = join(dir, "huge-header.safetensors");
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, 3n << 30n, true);
    writeAt(path, 8 + 3 * 2 ** 30, [[0, length]]);
    const e = expectCode(() => loadWeights(tiny, { file: path }), "header_out_of_range");
    expect(e.message).toContain("exceeds the limit of 100000000 bytes");
  });

  it("chunked reads give the tensors the in-memory reader gives, converting ones included", () => {
    // Each weight spans several 16 MiB read chunks, with a partial last one.
    const path = join(dir, "chunks.nn");
    writeFileSync(path, "model chunks() {\n  input x: f32[1, 2048]\n  h = a: linear(x, 4100)\n  output y = b: linear(h, 2050)\n}\n");
    const g = elaborateFile(path).graph!;
    const aWeight = new Float32Array(4100 * 2048).map((_, i) => Math.fround(Math.sin(i) * 100));
    const tensors: Placed[] = [
      { name: "a.weight", dtype: "F32", shape: [4100, 2048], bytes: bytesOf(aWeight) },
      { name: "a.bias", dtype: "F64", shape: [4100], bytes: bytesOf(new Float64Array(4100).map((_, i) => i * 0.25)) },
      // Finite bit patterns (exponent never all ones).
      { name: "b.weight", dtype: "BF16", shape: [2050, 4100], bytes: bytesOf(new Uint16Array(2050 * 4100).map((_, i) => (i * 40503) & 0xbf7f)) },
      { name: "b.bias", dtype: "F16", shape: [2050], bytes: bytesOf(new Uint16Array(2050).map((_, i) => (i * 2654) & 0xbbff)) },
    ];
    const file = join(dir, "chunks.safetensors");
    writeSparseSafetensors(file, tensors);

    const { data } = loadWeights(g, { file });
    const inMemory = parseSafetensors(new Uint8Array(readFileSync(file)), file).tensors;
    const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.compare(bytesOf(a), bytesOf(b)) === 0;
    expect(same(data.get("a.weight")!, aWeight)).toBe(true);
    for (const { name } of tensors) expect(same(data.get(name)!, inMemory.get(name)!.data), name).toBe(true);
  });
});

describe("model input files", () => {
  const x = { dtype: "f32" as const, shape: [1, 4] };

  it("a wrong shape, a wrong dtype and a truncated .npy are all WeightsErrors naming the file", () => {
    const wrongShape = join(dir, "x-shape.npy");
    writeFileSync(wrongShape, writeNpy([4], new Float32Array(4)));
    const e = expectCode(() => readInputFile(wrongShape, "x", x), "shape_mismatch");
    expect(e.message).toBe(`${wrongShape}: has shape [4] but the model's input x is f32[1, 4]`);
    const wrongDtype = join(dir, "x-dtype.npy");
    writeFileSync(wrongDtype, writeNpy([1, 4], new Int32Array(4)));
    expectCode(() => readInputFile(wrongDtype, "x", x), "dtype_mismatch");
    const truncated = join(dir, "x-truncated.npy");
    writeFileSync(truncated, writeNpy([1, 4], new Float32Array(4)).subarray(0, -3));
    expectCode(() => readInputFile(truncated, "x", x), "size_mismatch");
    expectCode(() => readInputFile(join(dir, "x-missing.npy"), "x", x), "unreadable");
    expectCode(() => readInputFile("/dev/null", "x", x), "not_a_file");
  });

  it("i64 data for an i32 input is narrowed (a module's run() takes Int32Array only there), unless a value does not fit", () => {
    const ids = { dtype: "i32" as const, shape: [1, 3] };
    const wide = join(dir, "ids-i64.npy");
    writeFileSync(wide, writeNpy([1, 3], BigInt64Array.of(0n, 7n, -2n)));
    expect(readInputFile(wide, "ids", ids)).toEqual(Int32Array.of(0, 7, -2));
    const huge = join(dir, "ids-huge.npy");
    writeFileSync(huge, writeNpy([1, 3], BigInt64Array.of(0n, 2n ** 40n, 1n)));
    expect(expectCode(() => readInputFile(huge, "ids", ids), "dtype_mismatch").message).toBe(`${huge}: element 1 is 1099511627776, outside i32, but the model's input ids is i32[1, 3]`);
  });

  it("reads a .npy over 2 GiB in chunks", () => {
    const count = 2 ** 29 + 16;
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${count},), }`;
    const headerLen = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
    const preamble = new Uint8Array([0x93, ...ascii("NUMPY"), 1, 0, headerLen & 0xff, headerLen >> 8]);
    const path = join(dir, "big.npy");
    const start = 10 + headerLen;
    writeAt(path, start + count * 4, [
      [0, preamble],
      [10, ascii(dict.padEnd(headerLen - 1) + "\n")],
      [start + (count - 1) * 4, new Uint8Array(Float32Array.of(7.5).buffer)],
    ]);
    const data = readInputFile(path, "x", { dtype: "f32", shape: [count] });
    expect([data.length, data[0], data[count - 2], data[count - 1]]).toEqual([count, 0, 0, 7.5]);
  });
});

describe("through the built CLI", () => {
  // Killed after 10 s: reading /dev/zero to its end (the bug) takes memory without bound.
  const { build, graphc } = cliBuild("hostile-weights", { timeoutMs: 10_000 });
  beforeAll(build);

  /** Exit 1 and one line on stderr, `FILE: ...why`, no stack trace. */
  function expectDataError(r: Run, file: string, why: RegExp): void {
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(`${file}: `);
    expect(r.stderr).toMatch(why);
  }

  it("--weights at a directory or /dev/zero: exit 1 with the path", async () => {
    expectDataError(await graphc("run", modelPath, "--weights", dir), dir, /is a directory, not a regular file/);
    expectDataError(await graphc("run", modelPath, "--weights", "/dev/zero"), "/dev/zero", /is a character device, not a regular file/);
  });

  it("runs on a checkpoint whose tensors lie past 4 GiB", async () => {
    const ones = join(dir, "ones.npy");
    writeFileSync(ones, writeNpy([1, 4], Float32Array.of(1, 1, 1, 1)));
    const r = await graphc("run", modelPath, "--weights", huge, "--allow-unexpected", "--input", `x=${ones}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("min -0.750000  max 10.5000  mean 4.87500");
  });

  it("--input of the wrong shape and a truncated --input are both data errors, exit 1", async () => {
    const wrongShape = join(dir, "cli-shape.npy");
    writeFileSync(wrongShape, writeNpy([2, 2], new Float32Array(4)));
    expectDataError(await graphc("run", modelPath, "--input", `x=${wrongShape}`), wrongShape, /has shape \[2, 2\] but the model's input x is f32\[1, 4\]/);
    const truncated = join(dir, "cli-truncated.npy");
    writeFileSync(truncated, writeNpy([1, 4], new Float32Array(4)).subarray(0, -1));
    expectDataError(await graphc("run", modelPath, "--input", `x=${truncated}`), truncated, /15 data bytes but f32\[1, 4\] needs 16/);
  });
});
