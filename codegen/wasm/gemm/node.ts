// What the GEMM-family kernels read off an IR node: constant operands and the fused epilogue.
import { numel, type Graph } from "../../../src/ir/graph.js";
import { epilogueInputs, type EpilogueOp, type NodeOf } from "../../../src/ir/ops.js";
import type { KernelContext } from "../context.js";
import { nodeEpi, type Epi } from "./act.js";
import type { V } from "./fn.js";

/** The data of a constant value, if it is one. */
export function constData(g: Graph, value: number): Float32Array | undefined {
  const d = g.constants.find((c) => c.value === value)?.data;
  return d instanceof Float32Array ? d : undefined;
}

export const shapeOf = (g: Graph, value: number) => g.values[value]!.type.shape;

/** A compile-time address as an expression factory. */
export const at = (ctx: KernelContext, bytes: number): V => () => ctx.mod.i32.const(bytes);

export interface NodeEpilogue {
  epi: Epi;
  bias?: V;
  residual?: V;
  slope?: V;
}

export function nodeEpilogue(ctx: KernelContext, node: NodeOf<EpilogueOp>): NodeEpilogue {
  const e = epilogueInputs(node.inputs, node.attrs);
  const slopes = e.slope === undefined ? 0 : numel(shapeOf(ctx.graph, e.slope));
  return {
    epi: nodeEpi(node.attrs, slopes),
    ...(e.bias !== undefined ? { bias: at(ctx, ctx.addr(e.bias)) } : {}),
    ...(e.residual !== undefined ? { residual: at(ctx, ctx.addr(e.residual)) } : {}),
    ...(e.slope !== undefined ? { slope: at(ctx, ctx.addr(e.slope)) } : {}),
  };
}

/** Offsets V * bytes from a base, both expression factories. */
export function plus(ctx: KernelContext, base: V | undefined, index: V, bytes: number): V | undefined {
  const m = ctx.mod;
  return base && (() => m.i32.add(base(), m.i32.mul(index(), m.i32.const(bytes))));
}
