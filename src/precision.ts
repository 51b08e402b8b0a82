// Mixed precision by measurement (as onnxruntime's fp16 auto-mixed-precision converter does):
// f16 / int8 storage rounds every large weight, and on some models the rounding moves the outputs
// further than the user's tolerance. Which weights matter is the model's: one early pointwise
// convolution of MobileNetV1 (0.2% of its weights) moves its logits more than all of ResNet-50's
// rounding moves ResNet-50's. So the compile measures: the module runs on the calibration inputs
// with the weights as it will decode them (biases corrected), and while some output is off by
// more than the tolerance on some input, more weights stay float32. The smallest
// go first: they cost the fewest bytes, and measured one at a time, a layer's rounding moves the
// outputs about as much whatever its size (a relative rounding of each weight is a relative
// change of the layer's output), the early and narrow layers most. How many is found by
// bisection: with that count kept the tolerance is met and with one fewer it is not (the error
// falls as more are kept, though not strictly, so a smaller count may meet it too). Where only
// keeping all of them meets it, the largest alone breaks it: that one stays float32 too and the
// search goes on over the rest.
import type { ConstantsRunner, RoundedWeight } from "../codegen/target.js";
import type { Graph } from "./ir/graph.js";
import type { TensorData } from "./weights/tensor.js";

/**
 * The default tolerance per storage dtype: the largest max |out - f32 out| / max |f32 out| on any
 * output. These are the accuracy bounds the README states for f16 and int8 storage. f16 moves
 * each weight by at most one unit in its last place (2^-11 of itself for the nearest half, up to
 * twice that for the few that keeping a channel's sum moves); int8 by up to 1/254 of its output
 * channel's largest weight. Most zoo models meet both with no weight kept (ResNet-50 f16 2.8e-4,
 * int8 4.8e-3: bench/results/2026-12-01-artifacts-tolerance.md).
 */
export const DEFAULT_TOLERANCE: Record<"f16" | "int8", number> = { f16: 1e-3, int8: 5e-2 };

/**
 * The share of the tolerance the check leaves to spare on its samples: it keeps weights float32
 * until every output is within (1 - HEADROOM) x tolerance there. The samples are a few of the
 * inputs the model will see, and the error varies from one to the next: checked to the full
 * tolerance on four seeded samples, the seeded BERT-base pooler measured 1.03e-3 under f16 and
 * RoBERTa's 5.1e-2 under int8 on the next seed (bench/results/2026-12-02-artifacts-four-samples.md).
 */
export const HEADROOM = 0.2;

/** What the measurement chose, as compile's report gives it. */
export interface PrecisionReport {
  dtype: "f16" | "int8";
  tolerance: number;
  /** How many weights the dtype would encode. */
  encodable: number;
  /** The weights stored float32 to meet the tolerance, by name. */
  keptFloat32: string[];
  /**
   * Of keptFloat32, the largest weights, each of which alone (every smaller one float32) moved
   * an output past the check's bound; the others are the smallest.
   */
  keptAlone: string[];
  /** The share of the weight elements the dtype would encode that it keeps float32 instead. */
  keptShare: number;
  /** How many samples of the inputs it was checked on. */
  samples: number;
  /** Per output: max |out - f32 out| / max |f32 out|, the worst over the samples, with the weights as stored. */
  calibrationError: Record<string, number>;
}

/** A weight as the report names it: its checkpoint name, or for one a pass made (packed Q/K/V), the layer that reads it. */
export function weightLabel(g: Graph, v: number): string {
  const name = g.constants.find((c) => c.value === v)?.name;
  if (name !== undefined) return name;
  const reader = g.nodes.find((n) => n.inputs.includes(v));
  if (!reader) return `constant %${v}`;
  const at = reader.inputs.indexOf(v);
  return `${at === 1 ? "the weight" : `input ${at}`} of \`${reader.op}\` in \`${reader.path}\``;
}

/** max |got - want| / max |want| (max |got - want| where want is all zeros); NaN against a number is Infinity. */
export function relativeError(got: ArrayLike<number | bigint>, want: ArrayLike<number | bigint>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const [x, y] = [Number(got[i]!), Number(want[i]!)];
    const d = x === y || (Number.isNaN(x) && Number.isNaN(y)) ? 0 : Number.isNaN(x - y) ? Infinity : Math.abs(x - y);
    diff = Math.max(diff, d);
    if (Number.isFinite(y)) scale = Math.max(scale, Math.abs(y));
  }
  return scale > 0 ? diff / scale : diff;
}

/**
 * Which of `rounded` (the weights the target would encode, with the biases it would correct)
 * to keep float32 so that every output of `g` on each of `inputs` is within `tolerance` of its
 * float32 output there, HEADROOM of it to spare, both measured by `run` (the target's module,
 * built once: the float32 module's outputs are the reference, so the figures are the rounding's
 * alone). `progress` hears of each measurement.
 */
export async function keepWithinTolerance(
  g: Graph,
  rounded: readonly RoundedWeight[],
  run: ConstantsRunner,
  inputs: readonly Record<string, TensorData>[],
  dtype: "f16" | "int8",
  tolerance: number,
  progress?: (step: string) => void,
): Promise<{ kept: Set<number>; report: PrecisionReport }> {
  // Smallest first; the sort is stable, so equal sizes keep the graph's order.
  const order = [...rounded].sort((a, b) => a.decoded.length - b.decoded.length);
  // The last `largest` of the order stay float32 whatever: with every smaller one float32, each
  // alone moved an output past the bound (seeded BERT question answering's word embeddings under
  // f16), so no count of the smallest could meet it.
  let largest = 0;
  let reference: Record<string, ArrayLike<number>>[] | undefined;
  const errorsKeeping = async (count: number): Promise<Record<string, number>> => {
    progress?.(`checking the ${dtype} weights against float32 on ${samplesName(inputs.length)}, ${count + largest} of ${order.length} kept float32`);
    const stored = new Map<number, Float32Array>();
    for (const r of order.slice(count, order.length - largest)) {
      stored.set(r.weight, r.decoded);
      for (const b of r.biases) stored.set(b.value, b.data);
    }
    const want = (reference ??= await run(new Map(), inputs));
    const outputs = await run(stored, inputs);
    return Object.fromEntries(g.outputs.map((p) => [p.name, Math.max(...outputs.map((o, i) => relativeError(o[p.name]!, want[i]![p.name]!)))]));
  };
  const within = (errors: Record<string, number>) => Object.values(errors).every((e) => e <= (1 - HEADROOM) * tolerance);
  // Every weight kept is float32 throughout: no error, no pass needed.
  const none: Record<string, number> = Object.fromEntries(g.outputs.map((p) => [p.name, 0]));
  // Counts of the smallest kept: `fails` is known to fail, `meets` to meet (all kept: no error).
  let [fails, meets, meetsErrors] = [-1, order.length, none];
  // Nothing encoded: the outputs are float32's, no pass needed either.
  const first = order.length ? await errorsKeeping(0) : none;
  if (within(first)) [meets, meetsErrors] = [0, first];
  else fails = 0;
  for (;;) {
    while (meets - fails > 1) {
      const mid = (fails + meets) >> 1;
      const errors = await errorsKeeping(mid);
      if (within(errors)) [meets, meetsErrors] = [mid, errors];
      else fails = mid;
    }
    const candidates = order.length - largest;
    if (meets < candidates || candidates === 0) break;
    // Every candidate kept: with only the largest encoded the bound failed. Keep it, and search
    // the rest, starting from the next largest alone (one run per weight where each fails alone).
    largest++;
    [fails, meets, meetsErrors] = [-1, candidates - 1, none];
    if (meets === 0) break;
    const alone = await errorsKeeping(meets - 1);
    if (within(alone)) [meets, meetsErrors] = [meets - 1, alone];
    else fails = meets - 1;
  }
  const kept = [...order.slice(0, meets), ...order.slice(order.length - largest)];
  const elements = (rs: readonly RoundedWeight[]) => rs.reduce((n, r) => n + r.decoded.length, 0);
  return {
    kept: new Set(kept.map((r) => r.weight)),
    report: {
      dtype,
      tolerance,
      encodable: order.length,
      keptFloat32: kept.map((r) => weightLabel(g, r.weight)),
      keptAlone: order.slice(order.length - largest).map((r) => weightLabel(g, r.weight)),
      keptShare: order.length ? elements(kept) / elements(order) : 0,
      samples: inputs.length,
      calibrationError: meetsErrors,
    },
  };
}

const samplesName = (n: number) => (n > 1 ? `${n} calibration samples` : "the calibration inputs");

/** One line for a person: what the check kept float32, and the worst output left. */
export function describePrecision(r: PrecisionReport): string {
  const [worst, error] = Object.entries(r.calibrationError).reduce((a, b) => (b[1] > a[1] ? b : a));
  const smallest = r.keptFloat32.length - r.keptAlone.length;
  const which = [...(smallest ? [`the ${smallest} smallest`] : []), ...(r.keptAlone.length ? [`the ${r.keptAlone.length} largest`] : [])].join(" and ");
  const alone = r.keptAlone.length ? `; the largest because rounding ${r.keptAlone.length > 1 ? "each" : "it"} alone moved an output past the bound` : "";
  const kept = r.keptFloat32.length ? `${which} of ${r.encodable} weights kept float32 (${(100 * r.keptShare).toFixed(1)}% of their elements${alone})` : `no weight kept float32 (${r.encodable} encoded)`;
  const tolerance = r.tolerance > 0 && r.tolerance < 0.01 ? r.tolerance.toExponential() : String(r.tolerance);
  return `${r.dtype} weights: ${kept}; every output within ${tolerance} of float32 on ${samplesName(r.samples)}, ${100 * HEADROOM}% to spare (worst ${error.toExponential(2)}, ${worst})`;
}
