// The coordinate maps of `resize` (ONNX Resize, opset 13-17, modes nearest and linear), one
// output axis at a time: for each output index, the input taps and the weight of the second.
// Every engine reads these tables (the interpreter in double, the kernels baked at compile
// time), so the index selection is the same everywhere and only the arithmetic differs.
//
// x_original of output index x, with scale = out / in (exactly, as a ratio of sizes) or the
// given scale when `scales` is set, as ONNX does:
//   half_pixel               (x + 0.5) / scale - 0.5
//   pytorch_half_pixel       out > 1 ? (x + 0.5) / scale - 0.5 : 0
//   align_corners            out > 1 ? x (in - 1) / (out - 1) : 0
//   asymmetric               x / scale
//   tf_half_pixel_for_nearest (x + 0.5) / scale
// nearest: x_original rounded by `nearest` (round_prefer_floor: ties down, the ONNX default;
// round_prefer_ceil: ties up; floor; ceil), clamped to [0, in - 1].
// linear: PyTorch's taps: x_original clamped below at 0, i0 = min(floor(x_original), in - 1),
// i1 = min(i0 + 1, in - 1), weight x_original - i0 on i1 and 1 - that on i0, both taps always
// read (so an infinity under a zero weight gives NaN, as in PyTorch). Finite results are ONNX's.
import { fmtShape as fmt, ShapeError } from "./shape.js";

export const RESIZE_MODES = ["nearest", "linear"] as const;
export const RESIZE_COORDINATES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nearest"] as const;
export const RESIZE_NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"] as const;

export interface ResizeAttrs {
  mode: string;
  coordinate: string;
  nearest?: string | null;
}

/** The taps of one output axis: input indices i0, i1 and the weight w1 of i1 (0 for nearest). */
export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float64Array;
}

/** Checks sizes (NCHW order) and scales against the NCHW input shape. */
export function checkResize(x: readonly number[], sizes: readonly number[], scales: readonly number[] | undefined): void {
  if (sizes.length !== 4 || sizes.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`resize: sizes ${fmt(sizes)} must be 4 positive ints [N, C, H, W]`);
  if (sizes[0] !== x[0] || sizes[1] !== x[1]) throw new ShapeError(`resize: sizes ${fmt(sizes)} must keep N and C of the input ${fmt(x)}`);
  if (!scales) return;
  if (scales.length !== 4 || scales[0] !== 1 || scales[1] !== 1 || scales.some((f) => !(f > 0 && Number.isFinite(f))))
    throw new ShapeError(`resize: scales ${fmt(scales)} must be [1, 1, fh, fw] with positive factors`);
  for (const d of [2, 3])
    if (sizes[d] !== Math.floor(x[d]! * scales[d]!)) throw new ShapeError(`resize: size ${sizes[d]} of axis ${d} is not floor(${x[d]} * ${scales[d]})`);
}

/** x_original of output index x along an axis from `inSize` to `outSize` (scale: the given factor, if any). */
function original(x: number, inSize: number, outSize: number, scale: number | undefined, coordinate: string): number {
  // x / scale: exact for a ratio of sizes when the result is an integer.
  const div = (v: number) => (scale === undefined ? (v * inSize) / outSize : v / scale);
  switch (coordinate) {
    case "half_pixel":
      return div(x + 0.5) - 0.5;
    case "pytorch_half_pixel":
      return outSize > 1 ? div(x + 0.5) - 0.5 : 0;
    case "align_corners":
      return outSize > 1 ? (x * (inSize - 1)) / (outSize - 1) : 0;
    case "asymmetric":
      return div(x);
    case "tf_half_pixel_for_nearest":
      return div(x + 0.5);
  }
  throw new Error(`resize: unknown coordinate transformation ${coordinate}`);
}

function round(v: number, nearest: string): number {
  switch (nearest) {
    case "round_prefer_floor":
      return v - Math.floor(v) === 0.5 ? Math.floor(v) : Math.round(v);
    case "round_prefer_ceil":
      return Math.round(v);
    case "floor":
      return Math.floor(v);
    case "ceil":
      return Math.ceil(v);
  }
  throw new Error(`resize: unknown nearest mode ${nearest}`);
}

/** The taps of an output axis of `outSize` from an input axis of `inSize`. */
export function resizeTaps(inSize: number, outSize: number, scale: number | undefined, a: ResizeAttrs): AxisTaps {
  const t: AxisTaps = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w1: new Float64Array(outSize) };
  const last = inSize - 1;
  for (let x = 0; x < outSize; x++) {
    const c = original(x, inSize, outSize, scale, a.coordinate);
    if (a.mode === "nearest") {
      t.i0[x] = t.i1[x] = Math.min(Math.max(round(c, a.nearest ?? "round_prefer_floor"), 0), last);
      continue;
    }
    const src = Math.max(c, 0);
    const i0 = Math.min(Math.floor(src), last);
    t.i0[x] = i0;
    t.i1[x] = Math.min(i0 + 1, last);
    t.w1[x] = src - i0;
  }
  return t;
}

/** The taps of H and W of a resize node from the NCHW input shape to `sizes`. */
export function resizeTables(x: readonly number[], sizes: readonly number[], scales: readonly number[] | null | undefined, a: ResizeAttrs): [AxisTaps, AxisTaps] {
  return [resizeTaps(x[2]!, sizes[2]!, scales?.[2], a), resizeTaps(x[3]!, sizes[3]!, scales?.[3], a)];
}
