// The geometry of a conv2d or conv_transpose2d node, in the terms their NHWC kernels (conv.ts,
// conv-depthwise.ts, winograd.ts, conv-transpose.ts) share: H, W the input's, OH, OW the output's.
import { isNHWC, type NodeOf } from "../../src/ir/ops.js";
import { permute, TO_NCHW } from "../../src/ir/shape.js";
import type { KernelContext } from "./context.js";
import type { V } from "./gemm/fn.js";
import { shapeOf } from "./gemm/node.js";

/** A convolution's scratch: `shared` bytes all threads see, `perThread` bytes each. */
export interface ConvScratch {
  shared: number;
  perThread: number;
}

/** Scratch as a convolution body sees it: the shared part's address, this thread's part's, and thread id's (with per-thread scratch). */
export interface Scratch {
  shared: number;
  mine: V;
  of?: (id: number) => number;
}

export interface ConvShape {
  N: number; H: number; W: number; C: number; K: number; OH: number; OW: number;
  kh: number; kw: number; sh: number; sw: number; pt: number; pl: number; dh: number; dw: number; groups: number;
}

export function convShape(ctx: KernelContext, node: NodeOf<"conv2d" | "conv_transpose2d">): ConvShape {
  const a = node.attrs;
  const nhwc = isNHWC(a);
  const nchw = (s: number[]) => (nhwc ? permute(s, TO_NCHW) : s) as [number, number, number, number];
  const [N, C, H, W] = nchw(shapeOf(ctx.graph, node.inputs[0]!));
  const [, K, OH, OW] = nchw(shapeOf(ctx.graph, node.outputs[0]!));
  const [, , kh, kw] = shapeOf(ctx.graph, node.inputs[1]!) as [number, number, number, number];
  const [sh, sw] = a.stride;
  const [pt, pl] = a.pads;
  const [dh, dw] = a.dilation;
  return { N, H, W, C, K, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw, groups: a.groups };
}
