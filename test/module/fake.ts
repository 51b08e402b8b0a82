// A hand-written stand-in for buildWasm's output (codegen/wasm/module.ts), so the module
// emitter and its loader are tested without the kernels: y = x * w + ids (the relaxed build
// with f32x4.relaxed_madd), n = ids + 1; weights w = [1, 2, 3, 4].
import binaryen from "binaryen";
import type { WasmBuild } from "../../codegen/wasm/module.js";
import type { PortInfo } from "../../codegen/module/runtime.js";

export interface FakeNames {
  x: string;
  ids: string;
  y: string;
  n: string;
}

export const plainNames: FakeNames = { x: "x", ids: "ids", y: "y", n: "n" };

export function fakePorts(names: FakeNames): { inputs: PortInfo[]; outputs: PortInfo[] } {
  return {
    inputs: [
      { name: names.x, dtype: "f32", shape: [1, 4] },
      { name: names.ids, dtype: "i64", shape: [1, 4] },
    ],
    outputs: [
      { name: names.y, dtype: "f32", shape: [1, 4] },
      { name: names.n, dtype: "i32", shape: [4] },
    ],
  };
}

export function fakeBuild(relaxed: boolean, names: FakeNames = plainNames): WasmBuild {
  const x = "(v128.load (i32.const 0))";
  const w = "(v128.load (i32.const 64))";
  const ids = "(f32x4.convert_i32x4_s (v128.load (i32.const 16)))";
  const y = relaxed ? `(f32x4.relaxed_madd ${x} ${w} ${ids})` : `(f32x4.add (f32x4.mul ${x} ${w}) ${ids})`;
  // As a real build: its own memory (load() imports it shared for threads); one thread's work, so `work` has nothing to wait for.
  const text = (memory: string) => `(module ${memory} (func (export "prepare") (param i32)) (func (export "run")
    (v128.store (i32.const 32) ${y})
    (v128.store (i32.const 48) (i32x4.add (v128.load (i32.const 16)) (v128.const i32x4 1 1 1 1))))
    (func (export "thread") (param i32 i32 i32)) (func (export "work") (param i32)))`;
  const binary = (memory: string) => {
    const mod = binaryen.parseText(text(memory));
    mod.setFeatures(binaryen.Features.All);
    const bytes = mod.emitBinary();
    mod.dispose();
    return bytes;
  };
  const wasm = binary(`(memory (export "memory") 1 1)`);
  const port = (name: string, dtype: "f32" | "i32", shape: number[], offset: number) => ({ name, dtype, shape, offset });
  return {
    wasm,
    memoryBytes: 65536,
    control: 65536 - 64,
    weights: new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer),
    weightSegments: [16],
    segmentValues: [undefined],
    weightsOffset: 64,
    inputs: [port(names.x, "f32", [1, 4], 0), port(names.ids, "i32", [1, 4], 16)],
    outputs: [port(names.y, "f32", [1, 4], 32), port(names.n, "i32", [4], 48)],
  };
}
