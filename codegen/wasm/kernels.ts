// The wasm kernel of every IR op, in one table typed against the op registry: an op without an
// entry (an emitter, or `unsupported(why)`) is a type error naming it.
import type { Node } from "../../src/ir/graph.js";
import { isOp, isUnsupported, type NodeOf, type OpName, type Unsupported } from "../../src/ir/ops.js";
import { convKernels } from "./conv.js";
import { convTransposeKernels } from "./conv-transpose.js";
import type { KernelContext, KernelEmitter } from "./context.js";
import { elementwiseKernels } from "./elementwise.js";
import { attentionKernels } from "./gemm/attention.js";
import { gemmKernels } from "./gemm/kernels.js";
import { movementKernels } from "./movement.js";
import { poolKernels } from "./pool.js";
import { randomKernels } from "./random.js";
import { reduceKernels } from "./reduce.js";
import { resizeKernels } from "./resize.js";

export const wasmKernels: { readonly [N in OpName]: KernelEmitter<N> | Unsupported } = {
  ...elementwiseKernels,
  ...movementKernels,
  ...poolKernels,
  ...randomKernels,
  ...resizeKernels,
  ...reduceKernels,
  ...gemmKernels,
  ...attentionKernels,
  ...convKernels,
  ...convTransposeKernels,
};

/** Generic in the op, so that the table's entry and the node agree on it. */
function emitTyped<N extends OpName>(ctx: KernelContext, node: NodeOf<N>): string {
  const kernel = wasmKernels[node.op];
  if (isUnsupported(kernel)) throw new Error(`wasm: no kernel for ${node.op}: ${kernel.unsupported}`);
  return kernel(ctx, node);
}

/** Adds the kernel function of `node` to ctx.mod and returns its name. */
export function emitKernel(ctx: KernelContext, node: Node): string {
  if (!isOp(node.op)) throw new Error(`wasm: no kernel for ${node.op}`);
  // The verifier has checked the attributes against the op's schema.
  return emitTyped(ctx, node as NodeOf<OpName>);
}
