// An optimised graphc IR graph on disk, for peers that build the network from graphc's own
// description of it: NAME.graph.json (the graph, constants without their data) beside
// NAME.graph.bin (the constants' data, each 4-byte aligned, in the order the JSON lists them).
import { readFileSync, writeFileSync } from "node:fs";
import type { Graph } from "../../src/ir/graph.js";

interface ConstantEntry {
  value: number;
  dtype: "f32" | "i32";
  /** Byte offset into the .bin file. */
  offset: number;
  length: number;
}

type GraphJson = Omit<Graph, "constants"> & { constants: ConstantEntry[] };

export const binPath = (json: string) => json.replace(/\.json$/, ".bin");

export function writeGraphFile(g: Graph, json: string): void {
  let offset = 0;
  const constants = g.constants.map((c): ConstantEntry => {
    const entry: ConstantEntry = { value: c.value, dtype: c.data instanceof Float32Array ? "f32" : "i32", offset, length: c.data.length };
    offset += c.data.byteLength;
    return entry;
  });
  const bin = new Uint8Array(offset);
  g.constants.forEach((c, i) => bin.set(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength), constants[i]!.offset));
  const { constants: _, ...rest } = g;
  writeFileSync(json, JSON.stringify({ ...rest, constants } satisfies GraphJson));
  writeFileSync(binPath(json), bin);
}

export function readGraphFile(json: string): Graph {
  const g = JSON.parse(readFileSync(json, "utf8")) as GraphJson;
  const bin = readFileSync(binPath(json));
  // Typed views need 4-byte alignment; a small Buffer can sit at any offset in Node's pool.
  const bytes = bin.byteOffset % 4 === 0 ? bin : Uint8Array.from(bin);
  return {
    ...g,
    constants: g.constants.map((c) => ({ value: c.value, data: c.dtype === "f32" ? new Float32Array(bytes.buffer, bytes.byteOffset + c.offset, c.length) : new Int32Array(bytes.buffer, bytes.byteOffset + c.offset, c.length) })),
  };
}
