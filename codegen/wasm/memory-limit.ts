// wasm32's memory limit, checked twice: a lower bound before emitting (the target's limits()),
// and the exact size once the kernels are emitted (packed weights and scratch included).
import { byteCount } from "../../src/ir/rewrite.js";

/** wasm32's linear memory: at most 65536 pages of 64 KiB. */
export const MAX_MEMORY_BYTES = 2 ** 32;

/** The wasm target needs `bytes` of memory (`detail`: where they go) and wasm32 has less. */
export function memoryMessage(bytes: string, detail: string): string {
  return `the wasm target needs ${bytes} bytes of memory for this model (${detail}); wasm32 memory holds at most 4 GiB (${byteCount(MAX_MEMORY_BYTES)} bytes)`;
}
