// What load() does with a build's weights file, for tests that instantiate builds themselves:
// segment i into the window at weightsOffset, then prepare(i).
import type { WasmBuild } from "../../codegen/wasm/module.js";

export function placeWeights(instance: WebAssembly.Instance, b: WasmBuild): void {
  const memory = new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer);
  const prepare = instance.exports.prepare as (segment: number) => void;
  let at = 0;
  b.weightSegments.forEach((bytes, i) => {
    memory.set(b.weights.subarray(at, at + bytes), b.weightsOffset);
    prepare(i);
    at += bytes;
  });
}
