// random_uniform: the counter-based generator of src/ir/random.ts in i32 arithmetic, each thread
// on its share of the elements (element i depends on i and the key alone). dropout never reaches
// a kernel: it is the identity at inference, and a training graph replaces it.
import binaryen from "binaryen";
import { numel } from "../../src/ir/graph.js";
import { unsupported, type NodeOf, type Unsupported } from "../../src/ir/ops.js";
import { FRACTION_SCALE, FRACTION_SHIFT, GOLDEN, mix32, MIX } from "../../src/ir/random.js";
import type { KernelContext, KernelEmitter } from "./context.js";
import { Code, type X } from "./lanes.js";

const I32 = binaryen.i32;

/** lowbias32 of `x` (ir/random.ts mix32), its stages in locals. */
function mix(c: Code, x: X): X {
  const m = c.m;
  const stage = (h: X, shift: number, mul: number) => c.let(() => m.i32.mul(m.i32.xor(h(), m.i32.shr_u(h(), m.i32.const(shift))), m.i32.const(mul | 0)), I32);
  const h = stage(stage(c.let(x, I32), MIX.shifts[0], MIX.m1), MIX.shifts[1], MIX.m2);
  return () => m.i32.xor(h(), m.i32.shr_u(h(), m.i32.const(MIX.shifts[2])));
}

function randomUniform(ctx: KernelContext, node: NodeOf<"random_uniform">): string {
  const { shape, seed, stream } = node.attrs;
  const c = new Code(ctx.mod);
  const m = c.m;
  const [stepAddr, yAddr] = [ctx.addr(node.inputs[0]!), ctx.addr(node.outputs[0]!)];
  // mix(mix(seed) ^ stream) is known at compile time; the step counter is read at run time.
  const keyed = mix32(mix32(seed) ^ (stream ?? 0));
  const key = c.let(mix(c, () => m.i32.xor(m.i32.const(keyed | 0), m.i32.trunc_u_sat.f32(m.f32.load(0, 4, m.i32.const(stepAddr))))), I32);
  const [lo, hi] = ctx.part(numel(shape)).map((x) => c.let(x, I32)) as [X, X];
  c.range(lo, hi, (i) => {
    const h = mix(c, () => m.i32.add(key(), m.i32.mul(i(), m.i32.const(GOLDEN | 0))));
    const u = m.f32.mul(m.f32.convert_u.i32(m.i32.shr_u(h(), m.i32.const(FRACTION_SHIFT))), m.f32.const(FRACTION_SCALE));
    c.emit(m.f32.store(0, 4, m.i32.add(m.i32.const(yAddr), m.i32.shl(i(), m.i32.const(2))), u));
  });
  return c.finish(ctx.fnName("random_uniform"));
}

export const randomKernels: { random_uniform: KernelEmitter<"random_uniform">; dropout: Unsupported } = {
  random_uniform: randomUniform,
  dropout: unsupported("the identity at inference (its decomposition); a training graph replaces it"),
};
