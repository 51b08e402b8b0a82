// The reference interpreter: executes any IR graph with float32 storage between ops and
// float64 arithmetic inside them (sums, means and variances accumulate in double). Plain loops,
// no cleverness: this is the oracle every pass and kernel is checked against.
//
// Semantics where frameworks differ (we follow PyTorch; ONNX agrees unless noted):
// - conv2d / pools: pads are [top, left, bottom, right]; padded input positions are 0 for
//   conv, -inf for maxpool, skipped or counted (count_include_pad) for avgpool.
// - ceil_mode: the output size rounds up, but the last window must start inside the input or
//   its left/top padding (PyTorch and ONNX agree).
// - avgpool divisor: with count_include_pad, the window clipped to the padded input (so a
//   ceil_mode overhang past the padding is not counted); without it, the valid elements only.
// - batchnorm: inference form, (x - running_mean) / sqrt(running_var + eps) * weight + bias.
// - layernorm: over the last axis, biased variance, eps inside the square root.
// - gelu "none": 0.5 x (1 + erf(x / sqrt 2)); "tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// - hard_sigmoid: relu6(x + 3) / 6 (PyTorch; ONNX's default alpha 0.2 differs); hard_swish: x * that.
// - selu: PyTorch's (and ONNX's default) alpha and scale; elu: x > 0 ? x : alpha (e^x - 1).
// - softmax: along one axis, max-subtracted.
// - attention: softmax(q kᵀ · scale + mask) v over the last axis, max-subtracted like softmax.
// - embedding (gather): integer ids (i32 or i64) must lie in [0, rows); anything else is an error.
// - prelu: one slope, or one per channel of axis 1.
// - integer tensors are held as Int32Array; i64 inputs must fit in 32 bits.
import { numel, type Attrs, type Graph, type Node, type TensorType } from "../ir/graph.js";
import { epilogueInputs, fusedProgram, isNHWC } from "../ir/ops.js";
import type { TensorData } from "../weights/tensor.js";
import { erf, relu6, SELU_ALPHA, SELU_SCALE, sigmoid } from "./math.js";

export type { TensorData };
type Buf = Float32Array | Int32Array;

/** A run-time error in the model's data (bad ids, wrong input size), not a bug. */
export class InterpError extends Error {}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** For each element of `out`, the offset of the element of a tensor of shape `inp` broadcast to it. */
function broadcastOffsets(inp: readonly number[], out: readonly number[]): Int32Array {
  const n = numel(out);
  const offs = new Int32Array(n);
  const r = out.length;
  const padded = [...Array(r - inp.length).fill(1), ...inp] as number[];
  const inStr = strides(padded).map((s, i) => (padded[i] === 1 ? 0 : s));
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      off += inStr[d]!;
      if (idx[d]! < out[d]!) break;
      off -= inStr[d]! * out[d]!;
      idx[d] = 0;
    }
  }
  return offs;
}

const unary: Record<string, (x: number, a: Node["attrs"]) => number> = {
  relu: (x) => (x > 0 ? x : 0),
  relu6: (x) => relu6(x),
  sigmoid: (x) => sigmoid(x),
  tanh: (x) => Math.tanh(x),
  selu: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)),
  silu: (x) => x * sigmoid(x),
  hard_sigmoid: (x) => relu6(x + 3) / 6,
  hard_swish: (x) => (x * relu6(x + 3)) / 6,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  erf: (x) => erf(x),
  neg: (x) => -x,
  abs: (x) => Math.abs(x),
  clip: (x, a) => Math.min(Math.max(x, a.min as number), a.max as number),
  leaky_relu: (x, a) => (x >= 0 ? x : (a.slope as number) * x),
  elu: (x, a) => (x > 0 ? x : (a.alpha as number) * Math.expm1(x)),
  gelu: (x, a) =>
    a.approximate === "tanh"
      ? 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
      : 0.5 * x * (1 + erf(x / Math.SQRT2)),
};

const binary: Record<string, (a: number, b: number, int: boolean) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b, int) => {
    if (!int) return a / b;
    if (b === 0) throw new InterpError("integer division by zero");
    return Math.trunc(a / b);
  },
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
};

function alloc(t: TensorType): Buf {
  return t.dtype === "f32" ? new Float32Array(numel(t.shape)) : new Int32Array(numel(t.shape));
}

/** Splits `shape` around `axis` into (outer, size, inner) for axis-wise loops. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

type Kernel = (ins: Buf[], inT: TensorType[], outT: TensorType[], a: Node["attrs"]) => Buf[];

const kernels: Record<string, Kernel> = {
  conv2d: spatial((ins, inT, [yt], a) => {
    const [x, w] = ins;
    const [xt, wt] = inT;
    const [n, c, h, wd] = xt!.shape as [number, number, number, number];
    const [k, cg, kh, kw] = wt!.shape as [number, number, number, number];
    const [, , oh, ow] = yt!.shape as [number, number, number, number];
    const [sh, sw] = a.stride as number[];
    const [pt, pl] = a.pads as number[];
    const [dh, dw] = a.dilation as number[];
    const kPerGroup = k / (a.groups as number);
    const y = new Float32Array(numel(yt!.shape));
    const acc = new Float64Array(oh! * ow!);
    for (let ni = 0; ni < n; ni++) {
      for (let ko = 0; ko < k; ko++) {
        acc.fill(0);
        const g = Math.floor(ko / kPerGroup);
        for (let ci = 0; ci < cg; ci++) {
          const xBase = (ni * c + g * cg + ci) * h * wd;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const wv = w![((ko * cg + ci) * kh + ky) * kw + kx]!;
              // Output columns whose input column ox*sw - pl + kx*dw lies inside the row.
              const shift = kx * dw! - pl!;
              const oxLo = Math.max(0, Math.ceil(-shift / sw!));
              const oxHi = Math.min(ow!, Math.ceil((wd - shift) / sw!));
              for (let oy = 0; oy < oh!; oy++) {
                const iy = oy * sh! - pt! + ky * dh!;
                if (iy < 0 || iy >= h) continue;
                const row = xBase + iy * wd + shift;
                const accRow = oy * ow!;
                for (let ox = oxLo; ox < oxHi; ox++) acc[accRow + ox]! += wv * x![row + ox * sw!]!;
              }
            }
          }
        }
        y.set(acc, (ni * k + ko) * oh! * ow!);
      }
    }
    return [epilogue(y, yt!.shape, 1, ins, a)];
  }, [1]),

  maxpool: spatial((ins, inT, outT, a) => [pool(ins[0]!, inT[0]!, outT[0]!, a, "max")]),
  avgpool: spatial((ins, inT, outT, a) => [pool(ins[0]!, inT[0]!, outT[0]!, a, "avg")]),

  global_avgpool: spatial(([x], [xt]) => {
    const [n, c, h, w] = xt!.shape as [number, number, number, number];
    const y = new Float32Array(n * c);
    for (let i = 0; i < n * c; i++) {
      let s = 0;
      for (let j = 0; j < h * w; j++) s += x![i * h * w + j]!;
      y[i] = s / (h * w);
    }
    return [y];
  }),

  batchnorm: spatial(([x, g, b, mean, v], [xt], _o, a) => {
    const [outer, c, inner] = around(xt!.shape, 1);
    const y = new Float32Array(x!.length);
    for (let o = 0; o < outer; o++)
      for (let ci = 0; ci < c; ci++) {
        const scale = g![ci]! / Math.sqrt(v![ci]! + (a.eps as number));
        const base = (o * c + ci) * inner;
        for (let i = 0; i < inner; i++) y[base + i] = (x![base + i]! - mean![ci]!) * scale + b![ci]!;
      }
    return [y];
  }),

  layernorm([x, g, b], [xt], _o, a) {
    const d = xt!.shape[xt!.shape.length - 1]!;
    const y = new Float32Array(x!.length);
    for (let base = 0; base < x!.length; base += d) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += x![base + i]!;
      mean /= d;
      let v = 0;
      for (let i = 0; i < d; i++) v += (x![base + i]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / d + (a.eps as number));
      for (let i = 0; i < d; i++) y[base + i] = (x![base + i]! - mean) * inv * g![i]! + b![i]!;
    }
    return [y];
  },

  linear(ins, [xt, wt], [yt], a) {
    const [x, w] = ins;
    const [out, inF] = wt!.shape as [number, number];
    const rows = numel(xt!.shape) / inF;
    const y = new Float32Array(rows * out);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < out; o++) {
        let s = 0;
        for (let i = 0; i < inF; i++) s += x![r * inF + i]! * w![o * inF + i]!;
        y[r * out + o] = s;
      }
    return [epilogue(y, yt!.shape, yt!.shape.length - 1, ins, a)];
  },

  matmul(ins, [at, bt], [yt], attrs) {
    const [a, b] = ins;
    const [m, k] = at!.shape.slice(-2) as [number, number];
    const nn = bt!.shape[bt!.shape.length - 1]!;
    const batch = yt!.shape.slice(0, -2);
    const aOff = broadcastOffsets([...at!.shape.slice(0, -2)], batch);
    const bOff = broadcastOffsets([...bt!.shape.slice(0, -2)], batch);
    const y = new Float32Array(numel(yt!.shape));
    for (let bi = 0; bi < aOff.length; bi++) {
      const ab = aOff[bi]! * m * k;
      const bb = bOff[bi]! * k * nn;
      for (let i = 0; i < m; i++)
        for (let j = 0; j < nn; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a![ab + i * k + p]! * b![bb + p * nn + j]!;
          y[(bi * m + i) * nn + j] = s;
        }
    }
    return [epilogue(y, yt!.shape, yt!.shape.length - 1, ins, attrs)];
  },

  prelu: spatial(([x, slope], [xt]) => {
    const [outer, c, inner] = xt!.shape.length >= 2 ? around(xt!.shape, 1) : [1, 1, x!.length];
    const y = new Float32Array(x!.length);
    for (let o = 0; o < outer; o++)
      for (let ci = 0; ci < c; ci++) {
        const s = slope!.length === 1 ? slope![0]! : slope![ci]!;
        const base = (o * c + ci) * inner;
        for (let i = 0; i < inner; i++) {
          const v = x![base + i]!;
          y[base + i] = v >= 0 ? v : s * v;
        }
      }
    return [y];
  }),

  cast([x], _i, [yt]) {
    const y = alloc(yt!);
    for (let i = 0; i < x!.length; i++) y[i] = yt!.dtype === "f32" ? x![i]! : Math.trunc(x![i]!);
    return [y];
  },

  softmax([x], [xt], _o, a) {
    const [outer, d, inner] = around(xt!.shape, norm(a.axis as number, xt!.shape.length));
    const y = new Float32Array(x!.length);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const at = (j: number) => (o * d + j) * inner + i;
        let max = -Infinity;
        for (let j = 0; j < d; j++) max = Math.max(max, x![at(j)]!);
        let sum = 0;
        for (let j = 0; j < d; j++) sum += Math.exp(x![at(j)]! - max);
        for (let j = 0; j < d; j++) y[at(j)] = Math.exp(x![at(j)]! - max) / sum;
      }
    return [y];
  },

  reduce_mean: (ins, inT, outT, a) => [reduce(ins[0]!, inT[0]!, outT[0]!, a, true)],
  reduce_sum: (ins, inT, outT, a) => [reduce(ins[0]!, inT[0]!, outT[0]!, a, false)],

  reshape: ([x]) => [x!],

  transpose([x], [xt], [yt], a) {
    const perm = a.perm as number[];
    const inStr = strides(xt!.shape);
    // Offsets into x of y's elements: x broadcast-indexed through permuted strides.
    const permuted = perm.map((p) => inStr[p]!);
    const y = alloc(yt!);
    const r = perm.length;
    const idx = new Array<number>(r).fill(0);
    let off = 0;
    for (let i = 0; i < y.length; i++) {
      y[i] = x![off]!;
      for (let d = r - 1; d >= 0; d--) {
        idx[d]!++;
        off += permuted[d]!;
        if (idx[d]! < yt!.shape[d]!) break;
        off -= permuted[d]! * yt!.shape[d]!;
        idx[d] = 0;
      }
    }
    return [y];
  },

  concat(ins, inT, [yt], a) {
    const axis = norm(a.axis as number, yt!.shape.length);
    const [outer, total, inner] = around(yt!.shape, axis);
    const y = alloc(yt!);
    let at = 0;
    ins.forEach((x, k) => {
      const d = inT[k]!.shape[axis]!;
      for (let o = 0; o < outer; o++) y.set(x.subarray(o * d * inner, (o + 1) * d * inner), (o * total + at) * inner);
      at += d;
    });
    return [y];
  },

  split([x], [xt], outT, a) {
    const axis = a.axis as number;
    const [outer, total, inner] = around(xt!.shape, axis);
    let at = 0;
    return outT.map((t) => {
      const d = t.shape[axis]!;
      const y = alloc(t);
      for (let o = 0; o < outer; o++) y.set(x!.subarray((o * total + at) * inner, (o * total + at + d) * inner), o * d * inner);
      at += d;
      return y;
    });
  },

  slice([x], [xt], [yt], a) {
    const axis = a.axis as number;
    const [outer, total, inner] = around(xt!.shape, axis);
    const [start, end] = [a.start as number, a.end as number];
    const y = alloc(yt!);
    const d = end - start;
    for (let o = 0; o < outer; o++) y.set(x!.subarray((o * total + start) * inner, (o * total + end) * inner), o * d * inner);
    return [y];
  },

  gather([table, ids], [tt]) {
    const [rows, dim] = tt!.shape as [number, number];
    const y = new Float32Array(ids!.length * dim);
    for (let i = 0; i < ids!.length; i++) {
      const id = ids![i]!;
      if (!(id >= 0 && id < rows)) throw new InterpError(`embedding: id ${id} at position ${i} is outside [0, ${rows})`);
      y.set(table!.subarray(id * dim, (id + 1) * dim), i * dim);
    }
    return [y];
  },
};

kernels.fused_elementwise = fusedElementwise;

kernels.reduce_max = ([x], [xt], [yt], a) => {
  const axes = (a.axes as number[]).map((ax) => norm(ax, xt!.shape.length));
  const offs = broadcastOffsets(xt!.shape.map((d, i) => (axes.includes(i) ? 1 : d)), xt!.shape);
  // -Infinity would fill an Int32Array with 0: i32 starts at its least value.
  const y = alloc(yt!).fill(yt!.dtype === "f32" ? -Infinity : -(2 ** 31));
  for (let i = 0; i < x!.length; i++) y[offs[i]!] = Math.max(y[offs[i]!]!, x![i]!);
  return [y];
};

/** attention: per (batch, head, query row) a max-subtracted softmax of the scaled, masked scores. */
kernels.attention = ([q, k, v, mask], [qt, kt, vt, mt], [yt], a) => {
  const [b, h, sq, d] = qt!.shape as [number, number, number, number];
  const [sk, dv] = [kt!.shape[2]!, vt!.shape[3]!];
  const maskOff = mt ? broadcastOffsets(mt.shape, [b, h, sq, sk]) : undefined;
  const y = new Float32Array(numel(yt!.shape));
  const p = new Float64Array(sk);
  for (let bh = 0; bh < b * h; bh++)
    for (let i = 0; i < sq; i++) {
      const row = bh * sq + i;
      let max = -Infinity;
      for (let j = 0; j < sk; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += q![row * d + t]! * k![(bh * sk + j) * d + t]!;
        s = s * (a.scale as number) + (maskOff ? mask![maskOff[row * sk + j]!]! : 0);
        p[j] = s;
        max = Math.max(max, s);
      }
      let sum = 0;
      for (let j = 0; j < sk; j++) sum += p[j] = Math.exp(p[j]! - max);
      for (let t = 0; t < dv; t++) {
        let acc = 0;
        for (let j = 0; j < sk; j++) acc += p[j]! * v![(bh * sk + j) * dv + t]!;
        y[row * dv + t] = acc / sum;
      }
    }
  return [y];
};

for (const [name, f] of Object.entries(unary)) {
  kernels[name] = ([x], _i, [yt], a) => {
    const y = alloc(yt!);
    for (let i = 0; i < x!.length; i++) y[i] = f(x![i]!, a);
    return [y];
  };
}

for (const [name, f] of Object.entries(binary)) {
  kernels[name] = ([a, b], [at, bt], [yt]) => {
    const int = yt!.dtype !== "f32";
    const ao = broadcastOffsets(at!.shape, yt!.shape);
    const bo = broadcastOffsets(bt!.shape, yt!.shape);
    const y = alloc(yt!);
    for (let i = 0; i < y.length; i++) y[i] = f(a![ao[i]!]!, b![bo[i]!]!, int);
    return [y];
  };
}

/**
 * The fused epilogue of conv2d / linear / matmul (see epilogueInputs): adds the bias along
 * `channelAxis`, then the residual, then applies the activation, in place on `y`.
 */
function epilogue(y: Float32Array, shape: readonly number[], channelAxis: number, ins: Buf[], a: Attrs): Float32Array {
  const e = epilogueInputs(ins.map((_, i) => i), a);
  const [outer, c, inner] = around(shape, channelAxis);
  const act = typeof a.act === "string" ? a.act : undefined;
  const f = act && act !== "prelu" ? unary[act]! : undefined;
  const bias = e.bias !== undefined ? ins[e.bias]! : undefined;
  const residual = e.residual !== undefined ? ins[e.residual]! : undefined;
  const slope = e.slope !== undefined ? ins[e.slope]! : undefined;
  if (!bias && !residual && !act) return y;
  for (let o = 0; o < outer; o++)
    for (let ci = 0; ci < c; ci++)
      for (let i = 0, at = (o * c + ci) * inner; i < inner; i++, at++) {
        let v = y[at]!;
        if (bias) v += bias[ci]!;
        if (residual) v += residual[at]!;
        if (f) v = f(v, a);
        else if (slope && v < 0) v *= slope.length === 1 ? slope[0]! : slope[ci]!;
        y[at] = v;
      }
  return y;
}

const toNCHW = [0, 3, 1, 2];
const toNHWC = [0, 2, 3, 1];

/**
 * Runs an NCHW kernel for a layout-aware op: with attrs.layout "NHWC", 4-D inputs are
 * transposed to NCHW and 4-D outputs back, so the kernels stay single-layout and plainly correct.
 * `weightInputs` are 4-D inputs in PyTorch layout whatever the activations' (conv2d's weight).
 */
function spatial(k: Kernel, weightInputs: readonly number[] = []): Kernel {
  return (ins, inT, outT, a) => {
    if (!isNHWC(a)) return k(ins, inT, outT, a);
    const swap = (t: TensorType, perm: number[]): TensorType => ({ dtype: t.dtype, shape: perm.map((p) => t.shape[p]!) });
    const moves = (i: number) => inT[i]!.shape.length === 4 && !weightInputs.includes(i);
    const ins2 = ins.map((b, i) => (moves(i) ? kernels.transpose!([b], [inT[i]!], [swap(inT[i]!, toNCHW)], { perm: toNCHW })[0]! : b));
    const inT2 = inT.map((t, i) => (moves(i) ? swap(t, toNCHW) : t));
    const outT2 = outT.map((t) => (t.shape.length === 4 ? swap(t, toNCHW) : t));
    return k(ins2, inT2, outT2, a).map((b, i) => (outT2[i]!.shape.length === 4 ? kernels.transpose!([b], [outT2[i]!], [outT[i]!], { perm: toNHWC })[0]! : b));
  };
}

/** A fused_elementwise node: its steps evaluated per element, with broadcasting. */
function fusedElementwise(ins: Buf[], inT: TensorType[], [yt]: TensorType[], a: Attrs): Buf[] {
  const steps = fusedProgram(a);
  const offs = inT.map((t) => broadcastOffsets(t.shape, yt!.shape));
  const regs = new Float64Array(ins.length + steps.length);
  const y = alloc(yt!);
  for (let i = 0; i < y.length; i++) {
    for (let r = 0; r < ins.length; r++) regs[r] = ins[r]![offs[r]![i]!]!;
    steps.forEach((st, j) => {
      const [p, q] = st.args;
      regs[ins.length + j] = st.args.length === 1 ? unary[st.op]!(regs[p!]!, st.attrs ?? {}) : binary[st.op]!(regs[p!]!, regs[q!]!, false);
    });
    y[i] = regs[regs.length - 1]!;
  }
  return [y];
}

function pool(x: Buf, xt: TensorType, yt: TensorType, a: Node["attrs"], kind: "max" | "avg"): Float32Array {
  const [n, c, h, w] = xt.shape as [number, number, number, number];
  const [, , oh, ow] = yt.shape as [number, number, number, number];
  const [kh, kw] = a.kernel as number[];
  const [sh, sw] = a.stride as number[];
  const [pt, pl, pb, pr] = a.pads as number[];
  const [dh, dw] = (a.dilation as number[] | undefined) ?? [1, 1];
  const includePad = a.count_include_pad === true;
  const y = new Float32Array(n * c * oh * ow);
  for (let plane = 0; plane < n * c; plane++) {
    const base = plane * h * w;
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const y0 = oy * sh! - pt!;
        const x0 = ox * sw! - pl!;
        let acc = kind === "max" ? -Infinity : 0;
        let count = 0;
        for (let ky = 0; ky < kh!; ky++) {
          const iy = y0 + ky * dh!;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw!; kx++) {
            const ix = x0 + kx * dw!;
            if (ix < 0 || ix >= w) continue;
            const v = x[base + iy * w + ix]!;
            acc = kind === "max" ? Math.max(acc, v) : acc + v;
            count++;
          }
        }
        if (kind === "avg") {
          const padded = (Math.min(y0 + kh!, h + pb!) - y0) * (Math.min(x0 + kw!, w + pr!) - x0);
          acc /= includePad ? padded : count;
        }
        y[(plane * oh + oy) * ow + ox] = acc;
      }
  }
  return y;
}

function reduce(x: Buf, xt: TensorType, yt: TensorType, a: Node["attrs"], mean: boolean): Buf {
  const r = xt.shape.length;
  const axes = (a.axes as number[]).map((ax) => norm(ax, r));
  const kept = xt.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const offs = broadcastOffsets(kept, xt.shape);
  const acc = new Float64Array(numel(kept));
  for (let i = 0; i < x.length; i++) acc[offs[i]!]! += x[i]!;
  const count = x.length / acc.length;
  const y = alloc(yt);
  for (let i = 0; i < acc.length; i++) y[i] = mean ? acc[i]! / count : acc[i]!;
  return y;
}

function toBuf(data: TensorData, t: TensorType, what: string): Buf {
  if (data.length !== numel(t.shape)) throw new InterpError(`${what}: expected ${numel(t.shape)} elements for shape [${t.shape}], got ${data.length}`);
  if (t.dtype === "f32") {
    if (!(data instanceof Float32Array)) throw new InterpError(`${what}: expected f32 data`);
    return data;
  }
  if (data instanceof Float32Array) throw new InterpError(`${what}: expected integer (${t.dtype}) data, got f32`);
  if (data instanceof Int32Array) return data;
  return Int32Array.from(data, (v) => {
    if (v < -(2n ** 31n) || v >= 2n ** 31n) throw new InterpError(`${what}: value ${v} does not fit in 32 bits`);
    return Number(v);
  });
}

/** Called before each node runs, with the node's input buffers (which it may rewrite). */
export type NodeHook = (node: Node, inputs: Buf[]) => void;

/** Runs the graph; returns every output by name. */
export function interpret(g: Graph, weights: ReadonlyMap<string, TensorData>, inputs: Record<string, TensorData>, beforeNode?: NodeHook): Record<string, TensorData> {
  const vals = new Array<Buf | undefined>(g.values.length);
  for (const w of g.weights) {
    const d = weights.get(w.name);
    if (!d) throw new InterpError(`no data for weight ${w.name}`);
    if (w.type.dtype !== "i64") vals[w.value] = toBuf(d, w.type, `weight ${w.name}`);
  }
  for (const c of g.constants) vals[c.value] = c.data;
  for (const p of g.inputs) {
    const d = inputs[p.name];
    if (!d) throw new InterpError(`missing input ${p.name}`);
    vals[p.value] = toBuf(d, g.values[p.value]!.type, `input ${p.name}`);
  }
  for (const name of Object.keys(inputs))
    if (!g.inputs.some((p) => p.name === name)) throw new InterpError(`unknown input ${name} (inputs: ${g.inputs.map((p) => p.name).join(", ")})`);
  for (const n of g.nodes) {
    const kernel = kernels[n.op];
    if (!kernel) throw new Error(`interpreter: no kernel for op ${n.op}`);
    const ins = n.inputs.map((i) => vals[i]!);
    beforeNode?.(n, ins);
    const outs = kernel(ins, n.inputs.map((i) => g.values[i]!.type), n.outputs.map((o) => g.values[o]!.type), n.attrs);
    n.outputs.forEach((o, i) => (vals[o] = outs[i]));
  }
  const result: Record<string, TensorData> = {};
  for (const p of g.outputs) {
    const v = vals[p.value]!;
    result[p.name] = g.values[p.value]!.type.dtype === "i64" ? BigInt64Array.from(v as Int32Array, (x) => BigInt(x)) : v;
  }
  return result;
}
