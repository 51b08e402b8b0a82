// The backward pass's graph builder: appends core-op nodes to a graph at the place (path, loc)
// of the forward node being differentiated, with the few tensor helpers the gradient rules share
// (scalars, broadcasting back, masks, strided placement).
import { numel, type Attrs, type Graph, type Node, type SourceLoc, type TensorType } from "../ir/graph.js";
import { addConstant, addNode } from "../ir/rewrite.js";
import { normAxis, sameShape } from "../ir/shape.js";

/**
 * x^EPS is 1 for every positive float x (the smallest f32, 2^-149, gives 1 - 1e-36, which rounds
 * to 1 in f32 and in f64) and 0 at 0, so pow(clip(x, 0, 1), EPS) is the exact 0/1 mask of x > 0.
 * Masks are built this way, from float ops, rather than as cast(greater(x, 0)): elementwise
 * fusion takes float ops only, so the mask fuses with the products around it.
 */
const MASK_EXPONENT = 2 ** -126;

/** A window's geometry: kernel [kh, kw], stride, pads [top, left, bottom, right], dilation (default 1). */
export interface WindowAttrs {
  kernel: readonly number[];
  stride: readonly number[];
  pads: readonly number[];
  dilation?: readonly number[] | null;
}

export class Emit {
  private path = "";
  private loc: SourceLoc | undefined;
  private readonly scalars = new Map<number, number>();

  constructor(readonly g: Graph) {}

  /** New nodes are placed at `n`'s path and source location. */
  at(n: Node): this {
    this.path = n.path;
    this.loc = n.loc;
    return this;
  }

  type(v: number): TensorType {
    return this.g.values[v]!.type;
  }

  shape(v: number): number[] {
    return this.type(v).shape;
  }

  nodes(op: string, inputs: number[], attrs: Attrs = {}): number[] {
    return addNode(this.g, op, inputs, attrs, this.path, this.loc);
  }

  node(op: string, inputs: number[], attrs: Attrs = {}): number {
    return this.nodes(op, inputs, attrs)[0]!;
  }

  /** An f32 scalar constant (one per value). */
  c(value: number): number {
    let v = this.scalars.get(value);
    if (v === undefined) this.scalars.set(value, (v = addConstant(this.g, [], Float32Array.of(value))));
    return v;
  }

  constant(shape: number[], data: Float32Array | Int32Array): number {
    return addConstant(this.g, shape, data);
  }

  zeros(shape: number[]): number {
    return shape.length ? this.node("expand", [this.c(0)], { shape: [...shape] }) : this.c(0);
  }

  add = (a: number, b: number) => this.node("add", [a, b]);
  sub = (a: number, b: number) => this.node("sub", [a, b]);
  mul = (a: number, b: number) => this.node("mul", [a, b]);
  div = (a: number, b: number) => this.node("div", [a, b]);
  neg = (a: number) => this.node("neg", [a]);
  un = (op: string, a: number, attrs: Attrs = {}) => this.node(op, [a], attrs);
  reshape = (a: number, shape: readonly number[]) => (sameShape(this.shape(a), shape) ? a : this.node("reshape", [a], { shape: [...shape] }));
  transpose = (a: number, perm: readonly number[]) => (perm.every((p, i) => p === i) ? a : this.node("transpose", [a], { perm: [...perm] }));

  /** 1 - a. */
  oneMinus = (a: number) => this.sub(this.c(1), a);

  /** The 0/1 mask of a > 0 (a f32 tensor of a's shape). */
  positive(a: number): number {
    return this.node("pow", [this.un("clip", a, { min: 0, max: 1 }), this.c(MASK_EXPONENT)]);
  }

  /** The 0/1 mask of a == 0. */
  isZero(a: number): number {
    return this.oneMinus(this.positive(this.un("abs", a)));
  }

  /** The 0/1 mask of a == 0 for integer-valued a: relu(1 - |a|), three cheap ops where isZero's pow is an exp and a log a lane. */
  isZeroInteger(a: number): number {
    return this.un("relu", this.oneMinus(this.un("abs", a)));
  }

  /** a broadcast to `shape`. */
  expandTo(a: number, shape: readonly number[]): number {
    return sameShape(this.shape(a), shape) ? a : this.node("expand", [a], { shape: [...shape] });
  }

  /** The gradient `g` of a value broadcast from `shape`, summed back to `shape` (numpy rules, aligned right). */
  sumTo(g: number, shape: readonly number[]): number {
    const gs = this.shape(g);
    const lead = gs.length - shape.length;
    const axes = gs.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
    const summed = axes.length ? this.node("reduce_sum", [g], { axes, keepdim: true }) : g;
    return this.reshape(summed, shape);
  }

  /** Sums over every axis but `axis`: a per-channel vector. */
  sumExcept(a: number, axis: number): number {
    const r = this.shape(a).length;
    const axes = [...Array(r).keys()].filter((i) => i !== axis);
    return axes.length ? this.node("reduce_sum", [a], { axes }) : a;
  }

  /** A vector along `axis` of a rank-`rank` tensor, shaped to broadcast against it. */
  alongAxis(v: number, axis: number, rank: number): number {
    const n = numel(this.shape(v));
    return this.reshape(v, [n, ...Array<number>(rank - 1 - axis).fill(1)]);
  }

  /** a with `step - 1` zeros inserted between neighbours along `axis` (length (n - 1) * step + 1). */
  dilate(a: number, axis: number, step: number): number {
    if (step === 1) return a;
    const s = this.shape(a);
    const ax = normAxis(axis, s.length);
    const n = s[ax]!;
    const split = this.reshape(a, [...s.slice(0, ax + 1), 1, ...s.slice(ax + 1)]);
    const pads = Array<number>(2 * (s.length + 1)).fill(0);
    pads[s.length + 1 + ax + 1] = step - 1;
    const spread = this.node("pad", [split], { pads });
    const merged = this.reshape(spread, [...s.slice(0, ax), n * step, ...s.slice(ax + 1)]);
    return this.node("slice", [merged], { axis: ax, start: 0, end: (n - 1) * step + 1 });
  }

  /** Pads (negative: crops) `before` and `after` elements along each of `axes`. */
  padAxes(a: number, axes: readonly number[], before: readonly number[], after: readonly number[]): number {
    const r = this.shape(a).length;
    const pads = Array<number>(2 * r).fill(0);
    axes.forEach((ax, i) => ((pads[ax] = before[i]!), (pads[r + ax] = after[i]!)));
    return pads.every((p) => p === 0) ? a : this.node("pad", [a], { pads });
  }

  /**
   * The sliding windows of a pool or convolution over NCHW `x` with output `outShape`: the input
   * padded to cover every window (`fill` outside), each tap's strided [N, C, OH, OW] view of it,
   * and the way back: `place` puts a tap's [N, C, OH, OW] gradient where the view read it, `crop`
   * takes the padding off their sum.
   */
  windows(x: number, outShape: readonly number[], a: WindowAttrs, fill: number) {
    const [, , h, w] = this.shape(x) as [number, number, number, number];
    const [, , oh, ow] = outShape as [number, number, number, number];
    const [kh, kw] = a.kernel as [number, number];
    const [sh, sw] = a.stride as [number, number];
    const [dh, dw] = (a.dilation ?? [1, 1]) as [number, number];
    const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
    // ceil_mode windows may reach past the end padding: pad enough for all of them.
    const hp = Math.max(h + pt + pb, (oh - 1) * sh + (kh - 1) * dh + 1);
    const wp = Math.max(w + pl + pr, (ow - 1) * sw + (kw - 1) * dw + 1);
    const padded = hp === h && wp === w ? x : this.node("pad", [x], { pads: [0, 0, pt, pl, 0, 0, hp - h - pt, wp - w - pl], value: fill });
    const taps = [...Array(kh * kw).keys()].map((t) => [Math.floor(t / kw) * dh, (t % kw) * dw] as const);
    const span = [(oh - 1) * sh + 1, (ow - 1) * sw + 1];
    return {
      taps,
      view: ([ty, tx]: readonly [number, number]) =>
        this.node("slice", [this.node("slice", [padded], { axis: 2, start: ty, end: ty + span[0]!, step: sh })], { axis: 3, start: tx, end: tx + span[1]!, step: sw }),
      place: (g: number, [ty, tx]: readonly [number, number]) => this.padAxes(this.dilate(this.dilate(g, 2, sh), 3, sw), [2, 3], [ty, tx], [hp - ty - span[0]!, wp - tx - span[1]!]),
      crop: (g: number) => this.padAxes(g, [2, 3], [-pt, -pl], [pt + h - hp, pl + w - wp]),
    };
  }

  /** a reversed along `axis`. */
  flip(a: number, axis: number): number {
    const d = this.shape(a)[axis]!;
    return d === 1 ? a : this.node("slice", [a], { axis, start: d - 1, end: -d - 1, step: -1 });
  }
}
