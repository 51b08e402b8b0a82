// The reference interpreter: executes any IR graph with float32 storage between ops and
// float64 arithmetic inside them (sums, means and variances accumulate in double). Plain loops,
// no cleverness: this is the oracle every pass and kernel is checked against. Fused forms
// (epilogues, channels-last layouts, fused_elementwise, attention) run as kernels of their own,
// not through their decompositions, so that tests can check the two against each other.
//
// Semantics where frameworks differ (we follow PyTorch; ONNX agrees unless noted):
// - elementwise ops: the registry's reference semantics (unaryScalar / binaryScalar in
//   ir/ops.ts), evaluated in double. Among them: gelu "none" is 0.5 x (1 + erf(x / sqrt 2)),
//   "tanh" 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); hard_swish is x relu6(x + 3) / 6
//   (hard_sigmoid's PyTorch default, alpha 1/6, times x); selu uses PyTorch's (and
//   ONNX's default) alpha and scale; integer div truncates and rejects a zero divisor.
// - conv2d / pools: pads are [top, left, bottom, right]; padded input positions are 0 for
//   conv, -inf for maxpool, skipped or counted (count_include_pad) for avgpool.
// - conv_transpose2d: PyTorch's ConvTranspose2d; pads crop the full (scattered) output,
//   output_padding extends it at the bottom and right; outputs no input reaches are 0 (+ bias).
// - ceil_mode: the output size rounds up, but the last window must start inside the input or
//   its left/top padding (PyTorch and ONNX agree).
// - avgpool divisor: with count_include_pad, the window clipped to the padded input (so a
//   ceil_mode overhang past the padding is not counted); without it, the valid elements only.
// - batchnorm: inference form, (x - running_mean) / sqrt(running_var + eps) * weight + bias.
// - layernorm: over the last axis, biased variance, eps inside the square root.
// - softmax: along one axis, max-subtracted.
// - attention: softmax(q kᵀ · scale + mask) v over the last axis, max-subtracted like softmax.
// - gather: integer ids (i32 or i64) must lie in [-d, d), negative ones counting from the end
//   (ONNX), or in [0, d) for embedding (negative_ids "error", PyTorch); anything else is an error.
// - pad: negative pads crop first, then reflect and replicate read what is kept (ONNX Pad).
// - slice: ONNX Slice's clamping of start and end, any nonzero step.
// - resize: ONNX Resize's coordinate maps, linear with PyTorch's taps (see ir/resize.ts).
// - prelu: one slope, or one per channel of axis 1.
// - random_uniform: the counter-based generator of ir/random.ts; dropout: the identity.
// - integer tensors are held as Int32Array; i64 inputs must fit in 32 bits. bool tensors (the
//   comparisons' results) are Int32Array of 0 and 1; comparisons follow IEEE (NaN is unequal
//   to everything).
// - hard_sigmoid is clip(alpha x + beta, 0, 1) (PyTorch's alpha 1/6 by default).
// - cast from f32 to an integer truncates toward zero and saturates (NaN gives 0), as
//   WebAssembly's trunc_sat does; C, PyTorch and ORT leave non-finite and out-of-range values
//   undefined.
//
// NaN and ±Inf are values like any other, never an error, and every op treats them as PyTorch's
// CPU kernels do: NaN propagates through every elementwise op (relu, clip, maximum, ...; pow is
// C's, where NaN^0 and 1^NaN are 1: see the registry's scalars in ir/ops.ts for the formulas and
// their values at ±Inf), through pools
// (a window holding a NaN gives NaN), reductions, softmax and layernorm (a row holding a NaN is
// NaN), the GEMM class and its epilogues. Infinities give what IEEE arithmetic on the formula
// gives: softmax of a row holding +Inf, or of a row all -Inf, is NaN (Inf - Inf), a maxpool window
// wholly in the padding is -Inf, Inf - Inf and 0 * Inf anywhere are NaN. Conv's padding is skipped,
// not multiplied by the weights. This interpreter is the oracle for these values too: the
// conformance tests compare NaN with NaN and infinities exactly.
import { numel, type Attrs, type Graph, type Node, type TensorData, type TensorType } from "../ir/graph.js";
import {
  activationOf, attrsOf, binaryOps, binaryScalar, compareOps, compareScalar, DivisionByZero, epilogueInputs, getOp, isBinaryOp, isNHWC, isOp, isUnaryOp, unaryOps,
  unaryScalar, type AttrsOf, type BinaryOp, type CompareOp, type OpName, type UnaryOp,
} from "../ir/ops.js";
import { randomKey, uniformAt } from "../ir/random.js";
import { resizeTables } from "../ir/resize.js";
import { around, broadcastOffsets, normAxis, padAxes, padSource, permute, sliceRange, strides, TO_NCHW, TO_NHWC, transposeOffsets, type PadMode } from "../ir/shape.js";

export type { TensorData };
type Floats = Float32Array | Float64Array;
type Buf = Floats | Int32Array;

/**
 * How f32 tensors are stored between ops: float32, as every target does, or float64 for
 * interpretFloat64 (finite-difference gradient checks need the extra digits). Set per run.
 */
let FloatStorage: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array;
const floats = (n: number): Floats => new FloatStorage(n);

/** A run-time error in the model's data (bad ids, wrong input size), not a bug. */
export class InterpError extends Error {}

function alloc(t: TensorType): Buf {
  return t.dtype === "f32" ? floats(numel(t.shape)) : new Int32Array(numel(t.shape));
}

/** The kernel of op N: input buffers and types, output types and the node's typed attributes in, output buffers out. */
type Kernel<N extends OpName> = (ins: Buf[], inT: TensorType[], outT: TensorType[], a: AttrsOf<N>) => Buf[];

function unaryKernel(op: UnaryOp): Kernel<UnaryOp> {
  return ([x], _i, [yt], a) => {
    const y = alloc(yt!);
    for (let i = 0; i < x!.length; i++) y[i] = unaryScalar(op, x![i]!, a);
    return [y];
  };
}

function binaryKernel(op: BinaryOp): Kernel<BinaryOp> {
  return ([a, b], [at, bt], [yt]) => {
    const int = yt!.dtype !== "f32";
    const ao = broadcastOffsets(at!.shape, yt!.shape);
    const bo = broadcastOffsets(bt!.shape, yt!.shape);
    const y = alloc(yt!);
    try {
      for (let i = 0; i < y.length; i++) y[i] = binaryScalar(op, a![ao[i]!]!, b![bo[i]!]!, int);
    } catch (e) {
      // A zero divisor is an error in the model's data.
      throw e instanceof DivisionByZero ? new InterpError(e.message) : e;
    }
    return [y];
  };
}

/** Broadcasts the inputs to the output's shape and maps `f` over their elements. */
function broadcastMap(f: (args: number[]) => number): Kernel<OpName> {
  return (ins, inT, [yt]) => {
    const offs = inT.map((t) => broadcastOffsets(t.shape, yt!.shape));
    const y = alloc(yt!);
    for (let i = 0; i < y.length; i++) y[i] = f(ins.map((x, k) => x[offs[k]![i]!]!));
    return [y];
  };
}

const kernels: { readonly [N in OpName]: Kernel<N> } = {
  ...(Object.fromEntries(unaryOps.map((op) => [op, unaryKernel(op)])) as Record<UnaryOp, Kernel<UnaryOp>>),
  ...(Object.fromEntries(binaryOps.map((op) => [op, binaryKernel(op)])) as Record<BinaryOp, Kernel<BinaryOp>>),

  conv2d: spatial("conv2d", (ins, inT, [yt], a) => {
    const [x, w] = ins;
    const [xt, wt] = inT;
    const [n, c, h, wd] = xt!.shape as [number, number, number, number];
    const [k, cg, kh, kw] = wt!.shape as [number, number, number, number];
    const [, , oh, ow] = yt!.shape as [number, number, number, number];
    const [sh, sw] = a.stride;
    const [pt, pl] = a.pads;
    const [dh, dw] = a.dilation;
    const kPerGroup = k / a.groups;
    const y = floats(numel(yt!.shape));
    const plane = oh! * ow!;
    // Four output channels at a time where a group has them: each input element read once for
    // four sums. Every output still sums its products in the same order (ci, ky, kx), in double.
    const block = kPerGroup >= 4 ? 4 : 1;
    const acc = new Float64Array(block * plane);
    const [p1, p2, p3] = [plane, 2 * plane, 3 * plane];
    for (let ni = 0; ni < n; ni++)
      for (let g = 0; g < a.groups; g++)
        for (let k0 = g * kPerGroup; k0 < (g + 1) * kPerGroup; k0 += block) {
          // The group's last block may have fewer channels: the rest weigh 0.
          const kb = Math.min(block, (g + 1) * kPerGroup - k0);
          acc.fill(0);
          for (let ci = 0; ci < cg; ci++) {
            const xBase = (ni * c + g * cg + ci) * h * wd;
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const wOf = (j: number) => (j < kb ? w![(((k0 + j) * cg + ci) * kh + ky) * kw + kx]! : 0);
                const [w0, w1, w2, w3] = [wOf(0), wOf(1), wOf(2), wOf(3)];
                // Output columns whose input column ox*sw - pl + kx*dw lies inside the row.
                const shift = kx * dw! - pl!;
                const oxLo = Math.max(0, Math.ceil(-shift / sw!));
                const oxHi = Math.min(ow!, Math.ceil((wd - shift) / sw!));
                for (let oy = 0; oy < oh!; oy++) {
                  const iy = oy * sh! - pt! + ky * dh!;
                  if (iy < 0 || iy >= h) continue;
                  const row = xBase + iy * wd + shift;
                  const accRow = oy * ow!;
                  if (block === 1) for (let ox = oxLo; ox < oxHi; ox++) acc[accRow + ox]! += w0 * x![row + ox * sw!]!;
                  else
                    for (let ox = oxLo, i = accRow + oxLo; ox < oxHi; ox++, i++) {
                      const xv = x![row + ox * sw!]!;
                      acc[i]! += w0 * xv;
                      acc[p1 + i]! += w1 * xv;
                      acc[p2 + i]! += w2 * xv;
                      acc[p3 + i]! += w3 * xv;
                    }
                }
              }
            }
          }
          for (let j = 0; j < kb; j++) y.set(acc.subarray(j * plane, (j + 1) * plane), (ni * k + k0 + j) * plane);
        }
    return [epilogue(y, yt!.shape, 1, ins, a)];
  }),

  // The scatter form: input pixel (iy, ix) adds x * w to output (iy*sh - pt + ky*dh, ix*sw - pl + kx*dw).
  conv_transpose2d: spatial("conv_transpose2d", (ins, inT, [yt], a) => {
    const [x, w] = ins;
    const [n, c, h, wd] = inT[0]!.shape as [number, number, number, number];
    const [, kg, kh, kw] = inT[1]!.shape as [number, number, number, number];
    const [, k, oh, ow] = yt!.shape as [number, number, number, number];
    const [sh, sw] = a.stride;
    const [pt, pl] = a.pads;
    const [dh, dw] = a.dilation;
    const cg = c / a.groups;
    const acc = new Float64Array(numel(yt!.shape));
    for (let ni = 0; ni < n; ni++)
      for (let ci = 0; ci < c; ci++) {
        const g = Math.floor(ci / cg);
        for (let ko = 0; ko < kg; ko++) {
          const yBase = (ni * k + g * kg + ko) * oh * ow;
          for (let iy = 0; iy < h; iy++)
            for (let ix = 0; ix < wd; ix++) {
              const xv = x![((ni * c + ci) * h + iy) * wd + ix]!;
              for (let ky = 0; ky < kh; ky++) {
                const oy = iy * sh! - pt! + ky * dh!;
                if (oy < 0 || oy >= oh) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ox = ix * sw! - pl! + kx * dw!;
                  if (ox >= 0 && ox < ow) acc[yBase + oy * ow + ox]! += xv * w![((ci * kg + ko) * kh + ky) * kw + kx]!;
                }
              }
            }
        }
      }
    return [epilogue(FloatStorage.from(acc), yt!.shape, 1, ins, a)];
  }),

  maxpool: spatial("maxpool", (ins, inT, outT, a) => [pool(ins[0]!, inT[0]!, outT[0]!, a, "max")]),
  avgpool: spatial("avgpool", (ins, inT, outT, a) => [pool(ins[0]!, inT[0]!, outT[0]!, a, "avg")]),

  global_avgpool: spatial("global_avgpool", ([x], [xt]) => {
    const [n, c, h, w] = xt!.shape as [number, number, number, number];
    const y = floats(n * c);
    for (let i = 0; i < n * c; i++) {
      let s = 0;
      for (let j = 0; j < h * w; j++) s += x![i * h * w + j]!;
      y[i] = s / (h * w);
    }
    return [y];
  }),

  // The shared tap tables (ir/resize.ts); linear blends along W, then H, in double.
  resize: spatial("resize", ([x], [xt], [yt], a) => {
    const [n, c, h, w] = xt!.shape as [number, number, number, number];
    const [, , oh, ow] = yt!.shape as [number, number, number, number];
    const [ty, tx] = resizeTables(xt!.shape, yt!.shape, a.scales, a);
    const y = floats(n * c * oh * ow);
    for (let plane = 0; plane < n * c; plane++)
      for (let oy = 0; oy < oh; oy++) {
        const [r0, r1, wy] = [(plane * h + ty.i0[oy]!) * w, (plane * h + ty.i1[oy]!) * w, ty.w1[oy]!];
        for (let ox = 0; ox < ow; ox++) {
          const [c0, c1, wx] = [tx.i0[ox]!, tx.i1[ox]!, tx.w1[ox]!];
          const at = (plane * oh + oy) * ow + ox;
          if (a.mode === "nearest") y[at] = x![r0 + c0]!;
          else {
            const top = (1 - wx) * x![r0 + c0]! + wx * x![r0 + c1]!;
            const bottom = (1 - wx) * x![r1 + c0]! + wx * x![r1 + c1]!;
            y[at] = (1 - wy) * top + wy * bottom;
          }
        }
      }
    return [y];
  }),

  batchnorm: spatial("batchnorm", ([x, g, b, mean, v], [xt], _o, a) => {
    const [outer, c, inner] = around(xt!.shape, 1);
    const y = floats(x!.length);
    for (let o = 0; o < outer; o++)
      for (let ci = 0; ci < c; ci++) {
        const scale = g![ci]! / Math.sqrt(v![ci]! + a.eps);
        const base = (o * c + ci) * inner;
        for (let i = 0; i < inner; i++) y[base + i] = (x![base + i]! - mean![ci]!) * scale + b![ci]!;
      }
    return [y];
  }),

  layernorm([x, g, b], [xt], _o, a) {
    const d = xt!.shape[xt!.shape.length - 1]!;
    const y = floats(x!.length);
    for (let base = 0; base < x!.length; base += d) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += x![base + i]!;
      mean /= d;
      let v = 0;
      for (let i = 0; i < d; i++) v += (x![base + i]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / d + a.eps);
      for (let i = 0; i < d; i++) y[base + i] = (x![base + i]! - mean) * inv * g![i]! + b![i]!;
    }
    return [y];
  },

  linear(ins, [xt, wt], [yt], a) {
    const [x, w] = ins;
    const [out, inF] = wt!.shape as [number, number];
    const rows = numel(xt!.shape) / inF;
    const y = floats(rows * out);
    // Four outputs at a time (four independent sums, each x read once for them), the rest one by
    // one; each sum runs over i in order, in double.
    const whole = out - (out % 4);
    for (let r = 0; r < rows; r++) {
      const xr = r * inF;
      for (let o = 0; o < whole; o += 4) {
        const [w0, w1, w2, w3] = [o * inF, (o + 1) * inF, (o + 2) * inF, (o + 3) * inF];
        let [s0, s1, s2, s3] = [0, 0, 0, 0];
        for (let i = 0; i < inF; i++) {
          const xv = x![xr + i]!;
          s0 += xv * w![w0 + i]!;
          s1 += xv * w![w1 + i]!;
          s2 += xv * w![w2 + i]!;
          s3 += xv * w![w3 + i]!;
        }
        const at = r * out + o;
        [y[at], y[at + 1], y[at + 2], y[at + 3]] = [s0, s1, s2, s3];
      }
      for (let o = whole; o < out; o++) {
        let s = 0;
        for (let i = 0; i < inF; i++) s += x![xr + i]! * w![o * inF + i]!;
        y[r * out + o] = s;
      }
    }
    return [epilogue(y, yt!.shape, yt!.shape.length - 1, ins, a)];
  },

  matmul(ins, [at, bt], [yt], attrs) {
    const [a, b] = ins;
    const [m, k] = at!.shape.slice(-2) as [number, number];
    const nn = bt!.shape[bt!.shape.length - 1]!;
    const batch = yt!.shape.slice(0, -2);
    const aOff = broadcastOffsets(at!.shape.slice(0, -2), batch);
    const bOff = broadcastOffsets(bt!.shape.slice(0, -2), batch);
    const y = floats(numel(yt!.shape));
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

  prelu: spatial("prelu", ([x, slope], [xt]) => {
    const [outer, c, inner] = xt!.shape.length >= 2 ? around(xt!.shape, 1) : [1, 1, x!.length];
    const y = floats(x!.length);
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
    for (let i = 0; i < x!.length; i++) y[i] = yt!.dtype === "f32" ? x![i]! : saturate(x![i]!);
    return [y];
  },

  ...(Object.fromEntries(compareOps.map((op) => [op, broadcastMap(([a, b]) => compareScalar(op, a!, b!))])) as Record<CompareOp, Kernel<CompareOp>>),
  where: broadcastMap(([c, a, b]) => (c ? a! : b!)),
  logical_not: ([x], _i, [yt]) => [alloc(yt!).map((_, i) => (x![i] ? 0 : 1))],
  random_uniform([step], _i, [yt], a) {
    const key = randomKey(a.seed, a.stream ?? 0, step![0]!);
    return [alloc(yt!).map((_, i) => uniformAt(key, i))];
  },
  // The identity at inference (a training graph replaces it; docs/TRAINING.md).
  dropout: ([x]) => [x!.slice()],

  softmax([x], [xt], _o, a) {
    const [outer, d, inner] = around(xt!.shape, normAxis(a.axis, xt!.shape.length));
    const y = floats(x!.length);
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

  reduce_max([x], [xt], [yt], a) {
    const offs = broadcastOffsets(keptShape(xt!.shape, a.axes), xt!.shape);
    // -Infinity would fill an Int32Array with 0: i32 starts at its least value.
    const y = alloc(yt!).fill(yt!.dtype === "f32" ? -Infinity : -(2 ** 31));
    for (let i = 0; i < x!.length; i++) y[offs[i]!] = Math.max(y[offs[i]!]!, x![i]!);
    return [y];
  },

  reshape: ([x]) => [x!],

  transpose: ([x], [xt], _o, a) => [transpose(x!, xt!, a.perm)],

  concat(ins, inT, [yt], a) {
    const axis = normAxis(a.axis, yt!.shape.length);
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
    const axis = normAxis(a.axis, xt!.shape.length);
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
    const axis = normAxis(a.axis, xt!.shape.length);
    const step = a.step ?? 1;
    const { first } = sliceRange(xt!.shape[axis]!, a.start, a.end, step);
    return [take(x!, xt!.shape, yt!, (k, o) => (k === axis ? first + o * step : o))];
  },

  gather([x, ids], [xt], [yt], a) {
    const [outer, d, inner] = around(xt!.shape, normAxis(a.axis ?? 0, xt!.shape.length));
    const lo = a.negative_ids === "error" ? 0 : -d;
    const n = ids!.length;
    const y = alloc(yt!);
    for (let j = 0; j < n; j++) {
      const id = ids![j]!;
      if (!(id >= lo && id < d)) throw new InterpError(`gather: id ${id} at position ${j} is outside [${lo}, ${d})`);
      const row = id < 0 ? id + d : id;
      for (let o = 0; o < outer; o++) y.set(x!.subarray((o * d + row) * inner, (o * d + row + 1) * inner), (o * n + j) * inner);
    }
    return [y];
  },

  pad([x], [xt], [yt], a) {
    const mode = (a.mode ?? "constant") as PadMode;
    const axes = padAxes(xt!.shape, a.pads, mode);
    return [take(x!, xt!.shape, yt!, (k, o) => padSource(axes[k]!, o, mode), a.value ?? 0)];
  },

  expand: ([x], [xt], [yt]) => [take(x!, xt!.shape, yt!, (k, o) => (xt!.shape[k - (yt!.shape.length - xt!.shape.length)] === 1 ? 0 : o))],

  tile: ([x], [xt], [yt]) => [take(x!, xt!.shape, yt!, (k, o) => o % xt!.shape[k]!)],

  /** Its steps evaluated per element (in double, as the unfused ops), with broadcasting. */
  fused_elementwise(ins, inT, [yt], a) {
    const steps = a.program.map(({ op, args: [p, q], attrs = {} }): ((regs: Float64Array) => number) => {
      if (isUnaryOp(op)) return (regs) => unaryScalar(op, regs[p!]!, attrs);
      if (isBinaryOp(op)) return (regs) => binaryScalar(op, regs[p!]!, regs[q!]!, false);
      throw new Error(`interpreter: fused_elementwise step ${op} is not a unary or binary op`);
    });
    const offs = inT.map((t) => broadcastOffsets(t.shape, yt!.shape));
    const regs = new Float64Array(ins.length + steps.length);
    const y = alloc(yt!);
    for (let i = 0; i < y.length; i++) {
      for (let r = 0; r < ins.length; r++) regs[r] = ins[r]![offs[r]![i]!]!;
      steps.forEach((step, j) => (regs[ins.length + j] = step(regs)));
      y[i] = regs[regs.length - 1]!;
    }
    return [y];
  },

  /** Per (batch, head, query row), a max-subtracted softmax of the scaled, masked scores. */
  attention([q, k, v, mask], [qt, kt, vt, mt], [yt], a) {
    const [b, h, sq, d] = qt!.shape as [number, number, number, number];
    const [sk, dv] = [kt!.shape[2]!, vt!.shape[3]!];
    const maskOff = mt ? broadcastOffsets(mt.shape, [b, h, sq, sk]) : undefined;
    const y = floats(numel(yt!.shape));
    const p = new Float64Array(sk);
    for (let bh = 0; bh < b * h; bh++)
      for (let i = 0; i < sq; i++) {
        const row = bh * sq + i;
        let max = -Infinity;
        for (let j = 0; j < sk; j++) {
          let s = 0;
          for (let t = 0; t < d; t++) s += q![row * d + t]! * k![(bh * sk + j) * d + t]!;
          s = s * a.scale + (maskOff ? mask![maskOff[row * sk + j]!]! : 0);
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
  },
};

/**
 * The fused epilogue of conv2d / linear / matmul (see epilogueInputs): adds the bias along
 * `channelAxis`, then the residual, then applies the activation, in place on `y`.
 */
function epilogue(y: Floats, shape: readonly number[], channelAxis: number, ins: Buf[], a: Attrs): Floats {
  const e = epilogueInputs(ins.map((_, i) => i), a);
  const act = activationOf(a);
  const unaryAct = act !== "prelu" ? act : undefined;
  const bias = e.bias !== undefined ? ins[e.bias]! : undefined;
  const residual = e.residual !== undefined ? ins[e.residual]! : undefined;
  const slope = e.slope !== undefined ? ins[e.slope]! : undefined;
  if (!bias && !residual && !act) return y;
  const [outer, c, inner] = around(shape, channelAxis);
  for (let o = 0; o < outer; o++)
    for (let ci = 0; ci < c; ci++)
      for (let i = 0, at = (o * c + ci) * inner; i < inner; i++, at++) {
        let v = y[at]!;
        if (bias) v += bias[ci]!;
        if (residual) v += residual[at]!;
        if (unaryAct) v = unaryScalar(unaryAct.op, v, unaryAct.attrs);
        else if (slope && v < 0) v *= slope.length === 1 ? slope[0]! : slope[ci]!;
        y[at] = v;
      }
  return y;
}

/** A float truncated to the nearest int32 toward zero (an Int32Array would wrap it modulo 2^32), NaN to 0. */
function saturate(v: number): number {
  return Number.isNaN(v) ? 0 : Math.min(Math.max(Math.trunc(v), -(2 ** 31)), 2 ** 31 - 1);
}

/** x of type xt with its axes permuted (a copy). */
function transpose(x: Buf, xt: TensorType, perm: readonly number[]): Buf {
  const offs = transposeOffsets(xt.shape, perm);
  const y = alloc({ dtype: xt.dtype, shape: permute(xt.shape, perm) });
  for (let i = 0; i < y.length; i++) y[i] = x[offs[i]!]!;
  return y;
}

/**
 * The tensor of type yt whose element at coordinates (o_0, ..., o_r-1) is x's at
 * (src(0, o_0), ..., src(r-1, o_r-1)), x of shape `xs` and of rank r (expand: of rank up to r,
 * aligned right); a coordinate of -1 gives `fill`.
 */
function take(x: Buf, xs: readonly number[], yt: TensorType, src: (axis: number, o: number) => number, fill = 0): Buf {
  const ys = yt.shape;
  const lead = ys.length - xs.length;
  const st = strides(xs);
  const tables = ys.map((d, k) => Int32Array.from({ length: d }, (_, o) => (k < lead ? 0 : src(k, o))));
  const y = alloc(yt);
  let i = 0;
  const walk = (k: number, at: number): void => {
    if (k === ys.length) return void (y[i++] = at < 0 ? fill : x[at]!);
    for (let o = 0; o < ys[k]!; o++) {
      const s = tables[k]![o]!;
      walk(k + 1, at < 0 || s < 0 ? -1 : k < lead ? at : at + s * st[k - lead]!);
    }
  };
  walk(0, 0);
  return y;
}

/**
 * Runs an NCHW kernel for a layout-aware op: with attrs.layout "NHWC", 4-D inputs are
 * transposed to NCHW and 4-D outputs back, so the kernels stay single-layout and plainly correct.
 * The op's weight inputs (its registry layout trait) keep PyTorch layout whatever the activations'.
 */
function spatial<N extends OpName>(op: N, k: Kernel<N>): Kernel<N> {
  const layout = getOp(op).traits.layout;
  if (!layout) throw new Error(`interpreter: ${op} is not layout-aware`);
  return (ins, inT, outT, a) => {
    if (!isNHWC(a)) return k(ins, inT, outT, a);
    const nchw = (t: TensorType): TensorType => ({ dtype: t.dtype, shape: permute(t.shape, TO_NCHW) });
    const moves = (i: number) => inT[i]!.shape.length === 4 && !layout.weights.includes(i);
    const ins2 = ins.map((b, i) => (moves(i) ? transpose(b, inT[i]!, TO_NCHW) : b));
    const inT2 = inT.map((t, i) => (moves(i) ? nchw(t) : t));
    const outT2 = outT.map((t) => (t.shape.length === 4 ? nchw(t) : t));
    return k(ins2, inT2, outT2, a).map((b, i) => (outT2[i]!.shape.length === 4 ? transpose(b, outT2[i]!, TO_NHWC) : b));
  };
}

function pool(x: Buf, xt: TensorType, yt: TensorType, a: AttrsOf<"maxpool" | "avgpool">, kind: "max" | "avg"): Floats {
  const [n, c, h, w] = xt.shape as [number, number, number, number];
  const [, , oh, ow] = yt.shape as [number, number, number, number];
  const [kh, kw] = a.kernel;
  const [sh, sw] = a.stride;
  const [pt, pl, pb, pr] = a.pads;
  const [dh, dw] = a.dilation ?? [1, 1];
  const includePad = a.count_include_pad === true;
  const y = floats(n * c * oh * ow);
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

/** The shape of a reduction's result with its axes kept as 1s. */
function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  const reduced = axes.map((ax) => normAxis(ax, shape.length));
  return shape.map((d, i) => (reduced.includes(i) ? 1 : d));
}

function reduce(x: Buf, xt: TensorType, yt: TensorType, a: AttrsOf<"reduce_sum" | "reduce_mean">, mean: boolean): Buf {
  const kept = keptShape(xt.shape, a.axes);
  const offs = broadcastOffsets(kept, xt.shape);
  const acc = new Float64Array(numel(kept));
  for (let i = 0; i < x.length; i++) acc[offs[i]!]! += x[i]!;
  const count = x.length / acc.length;
  const y = alloc(yt);
  for (let i = 0; i < acc.length; i++) y[i] = mean ? acc[i]! / count : acc[i]!;
  return y;
}

/** Runs the kernel of node n, of op `op`, with its attributes typed by the registry. */
function runKernel<N extends OpName>(op: N, n: Node, ins: Buf[], inT: TensorType[], outT: TensorType[]): Buf[] {
  return kernels[op](ins, inT, outT, attrsOf(n, op));
}

function toBuf(data: TensorData | Float64Array, t: TensorType, what: string): Buf {
  if (data.length !== numel(t.shape)) throw new InterpError(`${what}: expected ${numel(t.shape)} elements for shape [${t.shape}], got ${data.length}`);
  if (t.dtype === "f32") {
    if (!(data instanceof FloatStorage)) throw new InterpError(`${what}: expected ${FloatStorage === Float32Array ? "f32" : "float64"} data`);
    return data;
  }
  if (data instanceof Float32Array || data instanceof Float64Array) throw new InterpError(`${what}: expected integer (${t.dtype}) data, got f32`);
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
  return withStorage(Float32Array, () => run(g, weights, inputs, beforeNode)) as Record<string, TensorData>;
}

/**
 * Runs the graph with f32 tensors held in float64 between ops (f32 weights and inputs given as
 * Float64Array; constants keep their float32 data): the oracle for finite-difference checks.
 */
export function interpretFloat64(g: Graph, weights: ReadonlyMap<string, Float64Array | Int32Array>, inputs: Record<string, Float64Array | Int32Array>): Record<string, Float64Array | Int32Array> {
  return withStorage(Float64Array, () => run(g, weights, inputs)) as Record<string, Float64Array | Int32Array>;
}

function withStorage<T>(storage: typeof FloatStorage, f: () => T): T {
  const before = FloatStorage;
  FloatStorage = storage;
  try {
    return f();
  } finally {
    FloatStorage = before;
  }
}

function run(g: Graph, weights: ReadonlyMap<string, TensorData | Float64Array>, inputs: Record<string, TensorData | Float64Array>, beforeNode?: NodeHook): Record<string, TensorData | Float64Array> {
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
    const op = n.op;
    if (!isOp(op)) throw new Error(`interpreter: no kernel for op ${op}`);
    const ins = n.inputs.map((i) => vals[i]!);
    beforeNode?.(n, ins);
    const outs = runKernel(op, n, ins, n.inputs.map((i) => g.values[i]!.type), n.outputs.map((o) => g.values[o]!.type));
    n.outputs.forEach((o, i) => (vals[o] = outs[i]));
  }
  const result: Record<string, TensorData | Float64Array> = {};
  for (const p of g.outputs) {
    const v = vals[p.value]!;
    result[p.name] = g.values[p.value]!.type.dtype === "i64" ? BigInt64Array.from(v as Int32Array, (x) => BigInt(x)) : v;
  }
  return result;
}
