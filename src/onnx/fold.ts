// A small evaluator over constant tensors: what the importer needs to fold shape subgraphs
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ConstantOfShape, Range, ...) and the
// weight preparations exporters leave in the graph (Transpose or Reshape of an initializer).
// Plain loops; float results are rounded to f32 as ONNX computes them.
import { broadcastShapes, sliceRange as axisSlice, strides } from "../ir/shape.js";
import { DataType } from "./proto.js";
import type { ElemType, Tensor } from "./model.js";

const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

export function makeTensor(type: ElemType, onnxType: number, dims: number[], values: ArrayLike<number>): Tensor {
  return { type, onnxType, dims, data: type === "float" ? Float32Array.from(values) : Float64Array.from(values) };
}

export const intTensor = (dims: number[], values: ArrayLike<number>) => makeTensor("int", DataType.INT64, dims, values);
export const boolTensor = (dims: number[], values: ArrayLike<number>) => makeTensor("bool", DataType.BOOL, dims, values);

/** The values of a tensor as a plain list (shapes, axes, bounds). */
export const values = (t: Tensor): number[] => Array.from(t.data);

export function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`${what}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** out[i] = f(a[ia], b[ib]) with numpy broadcasting; `type` is the result's. */
export function broadcastMap(ts: readonly Tensor[], type: ElemType, onnxType: number, f: (...xs: number[]) => number): Tensor {
  const dims = ts.map((t) => t.dims).reduce((a, b) => broadcastShapes(a, b));
  const n = numel(dims);
  const outStrides = strides(dims);
  const inStrides = ts.map((t) => {
    const s = strides(t.dims);
    const pad = dims.length - t.dims.length;
    return dims.map((_, i) => (i < pad || t.dims[i - pad] === 1 ? 0 : s[i - pad]!));
  });
  const out: number[] = new Array<number>(n);
  const args = new Array<number>(ts.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < ts.length; k++) {
      let off = 0;
      let rest = i;
      for (let d = 0; d < dims.length; d++) {
        const q = Math.floor(rest / outStrides[d]!);
        rest -= q * outStrides[d]!;
        off += q * inStrides[k]![d]!;
      }
      args[k] = ts[k]!.data[off]!;
    }
    out[i] = f(...args);
  }
  return makeTensor(type, onnxType, dims, out);
}

export function transpose(t: Tensor, perm: readonly number[]): Tensor {
  const dims = perm.map((p) => t.dims[p]!);
  if (perm.length === 2 && perm[0] === 1) {
    // A linear layer's weight, transposed for MatMul by the exporter: computed only if read
    // (linear takes the original back from `transposeOf`).
    const [rows, cols] = t.dims as [number, number];
    let out: Float32Array | Float64Array | undefined;
    return {
      type: t.type,
      onnxType: t.onnxType,
      dims,
      transposeOf: t,
      get data() {
        if (!out) {
          out = t.type === "float" ? new Float32Array(rows * cols) : new Float64Array(rows * cols);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
        }
        return out;
      },
    };
  }
  const inStrides = strides(t.dims);
  const outStrides = strides(dims);
  const n = numel(dims);
  const out = t.type === "float" ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let off = 0;
    let rest = i;
    for (let d = 0; d < dims.length; d++) {
      const q = Math.floor(rest / outStrides[d]!);
      rest -= q * outStrides[d]!;
      off += q * inStrides[perm[d]!]!;
    }
    out[i] = t.data[off]!;
  }
  return { type: t.type, onnxType: t.onnxType, dims, data: out };
}

/** numpy.take along `axis` (negative indices from the end). */
export function gather(t: Tensor, idx: Tensor, axis: number): Tensor {
  const a = normAxis(axis, t.dims.length, "Gather");
  const outer = numel(t.dims.slice(0, a));
  const inner = numel(t.dims.slice(a + 1));
  const n = t.dims[a]!;
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const raw of idx.data) {
      const j = raw < 0 ? raw + n : raw;
      if (j < 0 || j >= n) throw new RangeError(`Gather: index ${raw} is out of range for a dimension of ${n}`);
      for (let k = 0; k < inner; k++) out.push(t.data[(o * n + j) * inner + k]!);
    }
  return makeTensor(t.type, t.onnxType, [...t.dims.slice(0, a), ...idx.dims, ...t.dims.slice(a + 1)], out);
}

/** ONNX Slice's clamping of one axis (the IR's rule): the first index and the count. */
export function sliceRange(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  if (step === 0) throw new RangeError("Slice: a step cannot be 0");
  const { first, count } = axisSlice(dim, start, end, step);
  return { start: first, count };
}

/** A tensor of `dims` whose element at index q along each axis d is t's element at `source(d, q)`. */
function remap(t: Tensor, dims: number[], source: (d: number, q: number) => number): Tensor {
  const inStrides = strides(t.dims);
  const outStrides = strides(dims);
  const out: number[] = new Array<number>(numel(dims));
  for (let i = 0; i < out.length; i++) {
    let off = 0;
    let rest = i;
    for (let d = 0; d < dims.length; d++) {
      const q = Math.floor(rest / outStrides[d]!);
      rest -= q * outStrides[d]!;
      off += source(d, q) * inStrides[d]!;
    }
    out[i] = t.data[off]!;
  }
  return makeTensor(t.type, t.onnxType, dims, out);
}

export function slice(t: Tensor, starts: number[], ends: number[], axes: number[], steps: number[]): Tensor {
  const ranges = t.dims.map((d) => ({ start: 0, count: d, step: 1 }));
  axes.forEach((ax, k) => {
    const a = normAxis(ax, t.dims.length, "Slice");
    ranges[a] = { ...sliceRange(t.dims[a]!, starts[k]!, ends[k]!, steps[k] ?? 1), step: steps[k] ?? 1 };
  });
  return remap(t, ranges.map((r) => r.count), (d, q) => ranges[d]!.start + q * ranges[d]!.step);
}

export function concat(ts: readonly Tensor[], axis: number): Tensor {
  const first = ts[0]!;
  const a = normAxis(axis, first.dims.length, "Concat");
  const outer = numel(first.dims.slice(0, a));
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const t of ts) {
      const chunk = numel(t.dims.slice(a));
      for (let k = 0; k < chunk; k++) out.push(t.data[o * chunk + k]!);
    }
  const dims = [...first.dims];
  dims[a] = ts.reduce((s, t) => s + t.dims[a]!, 0);
  return makeTensor(first.type, first.onnxType, dims, out);
}

export function reshape(t: Tensor, dims: number[]): Tensor {
  return { type: t.type, onnxType: t.onnxType, dims, data: t.data };
}

export function expand(t: Tensor, shape: readonly number[]): Tensor {
  return broadcastMap([t, makeTensor(t.type, t.onnxType, [...shape], new Array<number>(numel(shape)).fill(0))], t.type, t.onnxType, (x) => x);
}

export function tile(t: Tensor, repeats: readonly number[]): Tensor {
  return remap(t, t.dims.map((d, i) => d * repeats[i]!), (d, q) => q % t.dims[d]!);
}

/** A reduction over `axes` (all when empty), keeping them as 1s when `keep`. */
export function reduce(t: Tensor, axes: number[], keep: boolean, init: number, step: (acc: number, x: number) => number, finish: (acc: number, count: number) => number): Tensor {
  const rank = t.dims.length;
  const set = new Set(axes.length ? axes.map((a) => normAxis(a, rank, "Reduce")) : t.dims.map((_, i) => i));
  const keptDims = t.dims.map((d, i) => (set.has(i) ? 1 : d));
  const n = numel(keptDims);
  const acc = new Array<number>(n).fill(init);
  const inStrides = strides(t.dims);
  const outStrides = strides(keptDims);
  for (let i = 0; i < t.data.length; i++) {
    let off = 0;
    let rest = i;
    for (let d = 0; d < rank; d++) {
      const q = Math.floor(rest / inStrides[d]!);
      rest -= q * inStrides[d]!;
      if (!set.has(d)) off += q * outStrides[d]!;
    }
    acc[off] = step(acc[off]!, t.data[i]!);
  }
  const count = t.data.length / n;
  return makeTensor(t.type, t.onnxType, keep ? keptDims : t.dims.filter((_, i) => !set.has(i)), acc.map((a) => finish(a, count)));
}
