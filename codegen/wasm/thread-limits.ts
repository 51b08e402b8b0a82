// What the threaded wasm build and its runtime agree on (threads.ts), without Binaryen: the CLI
// and the runtime text read these too.

/** The most threads a module runs on: it reserves per-thread scratch for as many. */
export const MAX_THREADS = 16;

/** Control block words (byte offsets from its start). */
export const CONTROL = { arrived: 0, generation: 4, run: 8, stop: 12, failed: 16, bytes: 64 } as const;
