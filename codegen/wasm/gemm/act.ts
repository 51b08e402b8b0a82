// The fused epilogue of conv2d / linear / matmul on one f32x4 vector:
//   act(acc * alpha + bias + residual)
// with the activations of math.ts, the elementwise kernels' own, on `Lanes` over the Fn.
// Temporaries go through Fn.tmp, so the caller emits f.take() first.
import binaryen from "binaryen";
import type { Attrs } from "../../../src/ir/graph.js";
import { activationOf } from "../../../src/ir/ops.js";
import { Lanes } from "../lanes.js";
import { applyUnary, prelu } from "../math.js";
import type { Fn, V } from "./fn.js";

type Expr = binaryen.ExpressionRef;

export interface Epi {
  /** Scales the accumulator (attention's 1/sqrt(d)). */
  alpha?: number;
  bias: boolean;
  residual: boolean;
  /** prelu slopes: one for all channels, or one per channel. */
  slope?: "scalar" | "vector";
  act?: string;
  attrs: Attrs;
}

/** The epilogue an IR node asks for (its slope count decides scalar vs vector prelu). */
export function nodeEpi(attrs: Attrs, slopeCount: number): Epi {
  const act = typeof attrs.act === "string" ? attrs.act : undefined;
  return {
    bias: attrs.bias === true,
    residual: attrs.residual === true,
    ...(act === "prelu" ? { slope: slopeCount === 1 ? "scalar" : "vector" } : {}),
    ...(act ? { act } : {}),
    attrs,
  };
}

/** Where the epilogue operands of one output vector lie: pointer and byte offset. */
export interface EpiAt {
  bias?: [V, number];
  residual?: [V, number];
  slope?: [V, number];
}

export function epilogue(f: Fn, e: Epi, acc: Expr, lanes: number, at: EpiAt): Expr {
  const F = f.m.f32x4;
  let v = acc;
  if (e.alpha !== undefined && e.alpha !== 1) v = F.mul(v, f.splat(e.alpha));
  if (e.bias) v = F.add(v, f.load(at.bias![0], at.bias![1], lanes));
  if (e.residual) v = F.add(v, f.load(at.residual![0], at.residual![1], lanes));
  if (!e.act) return v;
  const L = new Lanes(f, 4, f.relaxed);
  const x = f.tmp(v);
  if (e.slope) {
    const [p, off] = at.slope!;
    return prelu(L, x, e.slope === "scalar" ? () => f.m.v128.load32_splat(0, 4, p()) : () => f.load(p, off, lanes))();
  }
  const act = activationOf({ ...e.attrs, act: e.act });
  if (act === undefined || act === "prelu") throw new Error(`wasm epilogue: unsupported activation ${e.act}`);
  return applyUnary(L, act.op, x, act.attrs)();
}
