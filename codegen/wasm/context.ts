// The contract between the WebAssembly module builder and the kernel emitters: one kernel
// function per IR node, specialised to its shapes, with every address baked in as a constant.
import type binaryen from "binaryen";
import type { Graph } from "../../src/ir/graph.js";
import type { NodeOf, OpName } from "../../src/ir/ops.js";
import type { Transform } from "./weights.js";

export interface KernelContext {
  mod: binaryen.Module;
  /** Emit f32x4.relaxed_madd (fused multiply-add) where it pays; else f32x4.mul + f32x4.add. */
  relaxed: boolean;
  graph: Graph;
  /** Byte address in linear memory of a value: arena intermediate, model input or output, or constant. */
  addr(value: number): number;
  /**
   * Places data computed at compile time (lookup tables, folded batchnorm factors) in the data
   * region; returns its 16-byte-aligned address. What a kernel places (and in which order) must
   * not depend on `relaxed`: both builds ship one weights file.
   */
  addData(data: Uint8Array | Float32Array | Int32Array): number;
  /**
   * Places the load-time `transform` (packing, Winograd) of constant `value` in the data region:
   * the weights file holds the constant itself, the module's prepare() makes what kernels read
   * (weights.ts). Returns its 16-byte-aligned address. The same rule on order as addData.
   */
  addPacked(value: number, transform: Transform): number;
  /** Scratch memory for use inside one kernel (shared by all kernels); returns its address. */
  scratch(bytes: number): number;
  /**
   * This thread's share [lo, hi) of [0, n) (threads.ts). A kernel that asks runs on every thread,
   * so each of its steps must be partitioned, `serial`, or identical work on private scratch.
   */
  part(n: number): [() => binaryen.ExpressionRef, () => binaryen.ExpressionRef];
  /** Scratch of `bytes` per thread after `shared` bytes all threads see: the shared part's address, this thread's part's, thread `id`'s (id < MAX_THREADS). */
  threadScratch(bytes: number, shared?: number): { shared: number; mine: () => binaryen.ExpressionRef; of: (id: number) => number };
  /** An i32 condition: whether this run's thread count passes `test` (a kernel with a plan per count). */
  threadCountIn(test: (count: number) => boolean): binaryen.ExpressionRef;
  /** `e` on thread 0 only (a step of a partitioned kernel that must not run twice). */
  serial(e: binaryen.ExpressionRef): binaryen.ExpressionRef;
  /** Waits for every thread: between a partitioned kernel's steps that read each other's outputs. */
  barrier(): binaryen.ExpressionRef;
  /** A function name unique in the module, derived from `base`. */
  fnName(base: string): string;
}

/** Adds a function of type () -> () computing `node` to ctx.mod and returns its name. */
export type KernelEmitter<N extends OpName> = (ctx: KernelContext, node: NodeOf<N>) => string;

/** The emitters of the ops `N`, as a kernel file exports them. */
export type Kernels<N extends OpName> = { readonly [K in N]: KernelEmitter<K> };

/** One emitter for each of `ops` (e.g. every unary op). */
export function sameKernel<N extends OpName>(ops: readonly N[], emit: KernelEmitter<N>): Record<N, KernelEmitter<N>> {
  return Object.fromEntries(ops.map((op) => [op, emit])) as Record<N, KernelEmitter<N>>;
}
