// maxpool / avgpool with pads, dilation, ceil_mode and count_include_pad, in NCHW (scalar per
// output element) and NHWC (f32x4 across channels). Each output position computes the window's
// valid tap range once, so the tap loops need no bounds checks.
import binaryen from "binaryen";
import { isNHWC, type NodeOf } from "../../src/ir/ops.js";
import { permute, TO_NCHW } from "../../src/ir/shape.js";
import type { KernelContext, Kernels } from "./context.js";
import { address, Code, Lanes, type X } from "./lanes.js";

/**
 * A 4-D op's input x and output y in NCHW terms, whatever its layout, and the byte strides of
 * n, c, h, w of each (xs, ys) in its own layout.
 */
export function spatialLayout(ctx: KernelContext, node: NodeOf<"maxpool" | "avgpool" | "resize">) {
  const nhwc = isNHWC(node.attrs);
  const nchw = (s: readonly number[]) => (nhwc ? permute(s, TO_NCHW) : [...s]) as [number, number, number, number];
  const [x, y] = [node.inputs[0]!, node.outputs[0]!];
  const [n, ch, h, w] = nchw(ctx.graph.values[x]!.type.shape);
  const [, , oh, ow] = nchw(ctx.graph.values[y]!.type.shape);
  const strides = (hh: number, ww: number) => (nhwc ? [hh * ww * ch, 1, ww * ch, ch] : [ch * hh * ww, hh * ww, ww, 1]).map((s) => s * 4);
  return { nhwc, x, y, n, ch, h, w, oh, ow, xs: strides(h, w), ys: strides(oh, ow) };
}

function pool(ctx: KernelContext, node: NodeOf<"maxpool" | "avgpool">): string {
  const max = node.op === "maxpool";
  const a = node.attrs;
  const { nhwc, x, y, n, ch, h, w, oh, ow, xs, ys } = spatialLayout(ctx, node);
  const [kh, kw] = a.kernel;
  const [sh, sw] = a.stride;
  const [pt, pl, pb, pr] = a.pads;
  const [dh, dw] = a.dilation ?? [1, 1];
  const c = new Code(ctx.mod);
  const m = c.m;
  const i32 = (x: X) => c.let(x, binaryen.i32);
  const k = (v: number) => () => m.i32.const(v);

  /** Window start and valid tap range [lo, hi) along one axis for output index o. */
  const axis = (o: X, stride: number, pad: number, dil: number, kern: number, size: number) => {
    const start = i32(() => m.i32.sub(m.i32.mul(o(), m.i32.const(stride)), m.i32.const(pad)));
    const ceilDiv = (num: X) => () => m.i32.div_u(m.i32.add(num(), m.i32.const(dil - 1)), m.i32.const(dil));
    const lo = i32(() => m.select(m.i32.lt_s(start(), m.i32.const(0)), ceilDiv(() => m.i32.sub(m.i32.const(0), start()))(), m.i32.const(0)));
    const end = ceilDiv(() => m.i32.sub(m.i32.const(size), start()));
    const hi = i32(() => m.select(m.i32.lt_u(end(), m.i32.const(kern)), end(), m.i32.const(kern)));
    return { start, lo, hi };
  };

  type Window = ReturnType<typeof axis>;
  const windows = (oy: X, ox: X): [Window, Window] => [axis(oy, sh, pt, dh, kh, h), axis(ox, sw, pl, dw, kw, w)];
  const emit = (L: Lanes, xb: X, yb: X, [r, q]: [Window, Window]) => {
    const acc = c.mut(L.f(max ? -Infinity : 0), L.type("f32"));
    c.range(r.lo, r.hi, (ky) =>
      c.range(q.lo, q.hi, (kx) => {
        const ptr = address(m, xb, [
          [() => m.i32.add(r.start(), m.i32.mul(ky(), m.i32.const(dh))), xs[2]!],
          [() => m.i32.add(q.start(), m.i32.mul(kx(), m.i32.const(dw))), xs[3]!],
        ]);
        const v = L.load("f32", ptr, 1);
        acc.set(max ? L.max(acc.get, v) : L.add(acc.get, v));
      }),
    );
    let out = acc.get;
    if (!max) {
      // count_include_pad: the window clipped to the padded input; else the valid taps.
      const span = (s: Window, kern: number, size: number, pad: number): X => {
        if (a.count_include_pad !== true) return () => m.i32.sub(s.hi(), s.lo());
        const end = i32(() => m.i32.add(s.start(), m.i32.const(kern)));
        return () => m.i32.sub(m.select(m.i32.lt_s(end(), m.i32.const(size + pad)), end(), m.i32.const(size + pad)), s.start());
      };
      const count = () => m.f32.convert_s.i32(m.i32.mul(span(r, kh, h, pb)(), span(q, kw, w, pr)()));
      out = L.div(out, L.splat(count));
    }
    L.store("f32", yb, 1, out);
  };

  const base = (addr: number, st: number[], idx: [X, number][]) => i32(address(m, k(addr), idx.map(([i, d]) => [i, st[d]!])));
  if (nhwc)
    c.nestPart([n, oh, ow], ctx.part, ([ni, oy, ox]) => {
      const xb = base(ctx.addr(x), xs, [[ni!, 0]]);
      const yb = base(ctx.addr(y), ys, [[ni!, 0], [oy!, 2], [ox!, 3]]);
      const win = windows(oy!, ox!);
      c.lanes(ch, ctx.relaxed, (L, j) => emit(L, address(m, xb, [[j, 4]]), address(m, yb, [[j, 4]]), win));
    });
  else
    c.nestPart([n, ch, oh, ow], ctx.part, ([ni, ci, oy, ox]) => {
      const xb = base(ctx.addr(x), xs, [[ni!, 0], [ci!, 1]]);
      const yb = base(ctx.addr(y), ys, [[ni!, 0], [ci!, 1], [oy!, 2], [ox!, 3]]);
      emit(new Lanes(c, 1, ctx.relaxed), xb, yb, windows(oy!, ox!));
    });
  return c.finish(ctx.fnName(node.op));
}

export const poolKernels: Kernels<"maxpool" | "avgpool"> = { maxpool: pool, avgpool: pool };
