// The interpreter's conv_transpose2d against its definition as conv2d's adjoint, with the same
// weight ([C, K/groups, kh, kw] is conv2d's [out, in/groups, kh, kw] for the reverse map):
// <convT(x), y> = <x, conv2d(y)> for every stride, pad, output_padding, dilation and group
// count. conv2d (checked against onnxruntime by the conformance tests) sees y zero-padded by
// the same pads; its output may be longer than x when output_padding reaches past the stride
// (rows past every tap), so only x's rows and columns count.
import fc from "fast-check";
import { expect, test } from "vitest";
import { emptyGraph, numel, type Attrs } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { addConstant, addNode } from "../../src/ir/rewrite.js";
import { rng } from "../support/source.js";

/** The op on constant operands, its one output. */
function run(op: string, x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], attrs: Attrs): { data: Float32Array; shape: number[] } {
  const g = emptyGraph(op);
  const [y] = addNode(g, op, [addConstant(g, xShape, x), addConstant(g, wShape, w)], attrs);
  g.outputs.push({ name: "y", value: y! });
  return { data: interpret(g, new Map(), {}).y as Float32Array, shape: g.values[y!]!.type.shape };
}

const dim = (max: number) => fc.integer({ min: 1, max });

test("conv_transpose2d is conv2d's adjoint", () => {
  fc.assert(
    fc.property(
      fc.record({
        n: dim(2), groups: dim(3), cg: dim(3), kg: dim(3), h: dim(5), w: dim(5), kh: dim(4), kw: dim(4),
        stride: fc.tuple(dim(3), dim(3)), dilation: fc.tuple(dim(3), dim(3)), pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.nat(3))), extra: fc.tuple(fc.nat(2), fc.nat(2)), seed: fc.nat(),
      }).map((c) => ({ ...c, extra: c.extra.map((e, i) => e % Math.max(c.stride[i]!, c.dilation[i]!)) }))
        .filter((c) => [0, 1].every((i) => ([c.h, c.w][i]! - 1) * c.stride[i]! - c.pads[i]! - c.pads[i + 2]! + c.dilation[i]! * ([c.kh, c.kw][i]! - 1) + c.extra[i]! + 1 >= 1)),
      (c) => {
        const rand = rng(c.seed);
        const data = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
        const [C, K] = [c.groups * c.cg, c.groups * c.kg];
        const xShape = [c.n, C, c.h, c.w];
        const wShape = [C, c.kg, c.kh, c.kw];
        const [x, w] = [data(numel(xShape)), data(numel(wShape))];
        const common = { stride: c.stride, pads: c.pads, dilation: c.dilation, groups: c.groups };
        const up = run("conv_transpose2d", x, xShape, w, wShape, { ...common, output_padding: c.extra });
        expect(up.shape.slice(0, 2)).toEqual([c.n, K]);
        const y = data(numel(up.shape));
        const down = run("conv2d", y, up.shape, w, wShape, common);
        // S: the sum of |terms| on either side, <convT(|x|, |w|), |y|>.
        const absUp = run("conv_transpose2d", x.map(Math.abs), xShape, w.map(Math.abs), wShape, { ...common, output_padding: c.extra });
        let [lhs, rhs, S] = [0, 0, 0];
        for (let i = 0; i < y.length; i++) (lhs += up.data[i]! * y[i]!), (S += absUp.data[i]! * Math.abs(y[i]!));
        const [dh, dw] = down.shape.slice(2) as [number, number];
        for (let i = 0; i < x.length; i++) {
          const [b, col] = [Math.floor(i / (c.h * c.w)), i % (c.h * c.w)];
          const [iy, ix] = [Math.floor(col / c.w), col % c.w];
          rhs += x[i]! * down.data[(b * dh + iy) * dw + ix]!;
        }
        // Each side's outputs are exact sums rounded once to f32 (2^-24 relative), so each side is
        // within 2^-24 S of the exact bilinear form; 2x margin for the double sums here.
        expect(Math.abs(lhs - rhs), JSON.stringify(c)).toBeLessThanOrEqual(4 * 2 ** -24 * S + 1e-12);
      },
    ),
    { seed: 20261126, numRuns: 200 },
  );
});
