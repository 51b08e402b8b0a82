// The tolerance check of f16 / int8 weights (src/precision.ts): which weights compile keeps
// float32 so that every output on the calibration inputs stays within the tolerance of float32's.
// - the wasm target's constantsRunner, which the check measures with: the module with some
//   constants replaced gives the interpreter's outputs on the same constants;
// - keepWithinTolerance on a chain of linear layers of five sizes, for tolerances from "all
//   encoded meets it" to 0: the weights kept are the smallest, as many as the bisection found;
//   with them the outputs (recomputed here from the decoded weights) meet the tolerance with
//   HEADROOM to spare, and with
//   one fewer they do not, so the count is a boundary, not a guess; on two inputs, every output
//   meets it on both;
// - compile() end to end: the module it writes, run on the calibration input, is within the
//   tolerance of the float32 module, and report.precision says what it kept.
import { describe, expect, it } from "vitest";
import type { ConstantsRunner } from "../codegen/target.js";
import { wasmTarget } from "../codegen/wasm/target.js";
import { compile, instantiate } from "../src/api.js";
import { elaborate, lower, optimise } from "../src/driver.js";
import type { Graph } from "../src/ir/graph.js";
import { interpret } from "../src/interp/index.js";
import { defaultPipeline } from "../src/passes/index.js";
import { describePrecision, HEADROOM, keepWithinTolerance, relativeError, weightLabel } from "../src/precision.js";
import { fanInMeans, randomInputs } from "../src/weights/calibrate.js";
import { fastWeights } from "./module/weights.js";

// Six weights of 20480 to 73728 elements, all above SMALL_WEIGHT_ELEMENTS (which stay float32
// whatever the tolerance), so both dtypes encode all six; two outputs, one of them off a branch (of
// its own input: linears that share one are packed into one).
const source = `model chain() {
  input x: f32[16, 128]
  a = relu(l1: linear(x, 160))
  b = relu(l2: linear(a, 192))
  c = relu(l3: linear(b, 224))
  d = relu(l4: linear(c, 256))
  output y = l5: linear(d, 288)
  output z = l6: linear(a * a, 200)
}
`;

function lowered(): Graph {
  const g = elaborate(source).graph;
  return lower(optimise(g, fastWeights(g, 3), wasmTarget.pipeline(defaultPipeline)).graph, wasmTarget);
}

/** The rounded weights and corrected biases of `g` under `dtype` for means `means`, all but `kept`, by value. */
function stored(g: Graph, dtype: "f16" | "int8", means: ReadonlyMap<number, Float64Array>, kept: ReadonlySet<number> = new Set()): Map<number, Float32Array> {
  const out = new Map<number, Float32Array>();
  for (const r of wasmTarget.roundedWeights!(g, { weightsDtype: dtype, fanInMeans: means, keepFloat32: kept })) {
    out.set(r.weight, r.decoded);
    for (const b of r.biases) out.set(b.value, b.data);
  }
  return out;
}

const withConstants = (g: Graph, data: ReadonlyMap<number, Float32Array>): Graph => ({ ...g, constants: g.constants.map((c) => (data.has(c.value) ? { ...c, data: data.get(c.value)! } : c)) });

const worst = (errors: Record<string, number>) => Math.max(...Object.values(errors));

describe("keepWithinTolerance", () => {
  const g = lowered();
  const run = wasmTarget.constantsRunner!(g);
  const inputs = randomInputs(g, 5) as Record<string, Float32Array>;
  const means = fanInMeans(g, [inputs]);
  /** Per output, the error of the module on `x` with every rounded weight but `kept` as decoded (and its biases corrected), against the float32 module, as the check measures it. */
  const errorsKeeping = async (kept: ReadonlySet<number>, dtype: "f16" | "int8", x = inputs): Promise<Record<string, number>> => {
    const [[got], [want]] = await Promise.all([run(stored(g, dtype, means, kept), [x]), run(new Map(), [x])]);
    return Object.fromEntries(g.outputs.map((p) => [p.name, relativeError(got![p.name]!, want![p.name]!)]));
  };

  it("the module with constants replaced gives the interpreter's outputs on them, and its own again after", async () => {
    const rounded = stored(g, "int8", means);
    const [got, again] = await run(rounded, [inputs, inputs]);
    const want = interpret(withConstants(g, rounded), new Map(), inputs);
    const [plain] = await run(new Map(), [inputs]);
    const float32 = interpret(g, new Map(), inputs);
    for (const p of g.outputs) {
      // The same float32 arithmetic in another order: ~1e-7 of the range.
      expect(relativeError(got![p.name]!, want[p.name]!), p.name).toBeLessThan(1e-6);
      expect(again![p.name]).toEqual(got![p.name]);
      // Replacing is per call: the float32 weights again.
      expect(relativeError(plain![p.name]!, float32[p.name]!), p.name).toBeLessThan(1e-6);
      expect(relativeError(plain![p.name]!, want[p.name]!), p.name).toBeGreaterThan(1e-4);
    }
  });

  for (const dtype of ["f16", "int8"] as const) {
    const rounded = wasmTarget.roundedWeights!(g, { weightsDtype: dtype, fanInMeans: means });
    const bySize = [...rounded].sort((a, b) => a.decoded.length - b.decoded.length).map((r) => r.weight);
    const keep = (tolerance: number, steps?: string[], samples = [inputs]) => keepWithinTolerance(g, rounded, run, samples, dtype, tolerance, steps && ((s: string) => steps.push(s)));

    it(`${dtype}: encodes all six weights, with an error to check`, async () => {
      expect(rounded.map((r) => weightLabel(g, r.weight)).sort()).toEqual(["l1.weight", "l2.weight", "l3.weight", "l4.weight", "l5.weight", "l6.weight"]);
      expect(worst(await errorsKeeping(new Set(), dtype))).toBeGreaterThan(dtype === "f16" ? 1e-5 : 1e-3);
    });

    it(`${dtype}: a tolerance the encoded weights meet with HEADROOM to spare keeps none, after one pass; one they meet only to the full keeps some`, async () => {
      const allEncoded = worst(await errorsKeeping(new Set(), dtype));
      const steps: string[] = [];
      const { kept, report } = await keep(allEncoded / (1 - HEADROOM), steps);
      expect([kept.size, report.keptFloat32, report.keptAlone, report.keptShare, report.encodable, report.samples, steps.length]).toEqual([0, [], [], 0, 6, 1, 1]);
      expect(worst(report.calibrationError)).toBe(allEncoded);
      expect((await keep(allEncoded)).kept.size).toBeGreaterThan(0);
    });

    if (dtype === "f16")
      it("nothing to encode: no pass, and the outputs are float32's", async () => {
        const steps: string[] = [];
        const { kept, report } = await keepWithinTolerance(g, [], () => Promise.reject(new Error("no run expected")), [inputs], dtype, 0, (s) => steps.push(s));
        expect([kept.size, report.encodable, steps, report.calibrationError]).toEqual([0, 0, [], { y: 0, z: 0 }]);
      });

    it(`${dtype}: tolerance 0 keeps every weight, and the outputs are float32's`, async () => {
      const { kept, report } = await keep(0);
      expect([kept.size, report.keptShare, worst(report.calibrationError)]).toEqual([6, 1, 0]);
    });

    for (const fraction of [0.9, 0.6, 0.3, 0.1])
      it(`${dtype}: tolerance ${fraction} of the all-encoded error keeps the fewest smallest weights that meet it, and the largest that break it alone`, async () => {
        const tolerance = fraction * worst(await errorsKeeping(new Set(), dtype));
        const bound = (1 - HEADROOM) * tolerance;
        const steps: string[] = [];
        const { kept, report } = await keep(tolerance, steps);
        const largest = report.keptAlone.length;
        const smallest = kept.size - largest;
        const chosen = [...bySize.slice(0, smallest), ...bySize.slice(bySize.length - largest)];
        expect([...kept].sort(), "the smallest and the largest").toEqual([...new Set(chosen)].sort());
        expect(report.keptFloat32).toEqual(chosen.map((v) => weightLabel(g, v)));
        expect(report.keptAlone).toEqual(bySize.slice(bySize.length - largest).map((v) => weightLabel(g, v)));
        const elements = (vs: number[]) => vs.reduce((n, v) => n + rounded.find((r) => r.weight === v)!.decoded.length, 0);
        expect(report.keptShare).toBeCloseTo(elements(chosen) / elements(bySize), 12);
        // The figures reported are the outputs' with these weights kept (with all kept, float32's: 0), and they meet the tolerance with HEADROOM to spare.
        expect(report.calibrationError).toEqual(kept.size === bySize.length ? { y: 0, z: 0 } : await errorsKeeping(kept, dtype));
        expect(worst(report.calibrationError)).toBeLessThanOrEqual(bound);
        expect(kept.size).toBeGreaterThan(0);
        // A boundary: one fewer of the smallest fails; and each of the largest, encoded alone with every smaller one float32, fails.
        if (smallest > 0) expect(worst(await errorsKeeping(new Set([...bySize.slice(0, smallest - 1), ...bySize.slice(bySize.length - largest)]), dtype))).toBeGreaterThan(bound);
        for (let i = bySize.length - largest; i < bySize.length; i++) expect(worst(await errorsKeeping(new Set(bySize.filter((_, j) => j !== i)), dtype)), weightLabel(g, bySize[i]!)).toBeGreaterThan(bound);
        // Bisection over 0..6: the first pass, then at most three; one more per weight kept alone, and a bisection over the rest after the last.
        expect(steps.length).toBeLessThanOrEqual(4 + largest + (largest ? 3 : 0));
      });

    it(`${dtype}: on two inputs, each output's error is its worst on either, and what is kept meets the tolerance on both`, async () => {
      const other = randomInputs(g, 6) as Record<string, Float32Array>;
      const tolerance = 0.5 * worst(await errorsKeeping(new Set(), dtype));
      const { kept, report } = await keep(tolerance, undefined, [inputs, other]);
      const [a, b] = [await errorsKeeping(kept, dtype), await errorsKeeping(kept, dtype, other)];
      expect(report.samples).toBe(2);
      for (const p of g.outputs) expect(report.calibrationError[p.name], p.name).toBe(kept.size === bySize.length ? 0 : Math.max(a[p.name]!, b[p.name]!));
      expect(worst(report.calibrationError)).toBeLessThanOrEqual((1 - HEADROOM) * tolerance);
      expect(kept.size).toBeGreaterThanOrEqual((await keep(tolerance)).kept.size);
    });
  }
});

describe("keepWithinTolerance, a weight that alone breaks the bound", () => {
  // Four weights, smallest first, each moving output y by its own amount when encoded; the largest
  // alone moves it past the bound, so no count of the smallest meets it (as seeded BERT question
  // answering's word embeddings under f16).
  const effect = new Map([
    [1, 1e-4],
    [2, 1e-4],
    [3, 3e-4],
    [4, 2e-3],
  ]);
  const g = { outputs: [{ name: "y", value: 0 }], constants: [...effect.keys()].map((v) => ({ value: v, name: `w${v}` })), nodes: [] } as unknown as Graph;
  const rounded = [...effect.keys()].map((v) => ({ weight: v, decoded: new Float32Array(10 * v), biases: [] }));
  const runs: number[][] = [];
  const run: ConstantsRunner = async (constants, inputs) => {
    runs.push([...constants.keys()]);
    return inputs.map(() => ({ y: [1 + [...constants.keys()].reduce((e, v) => e + effect.get(v)!, 0)] }));
  };

  it("keeps the largest float32 and encodes the rest, where they meet the bound without it", async () => {
    const { kept, report } = await keepWithinTolerance(g, rounded, run, [{}], "f16", 1e-3 / (1 - HEADROOM));
    expect([[...kept], report.keptFloat32, report.keptAlone]).toEqual([[4], ["w4"], ["w4"]]);
    expect(report.keptShare).toBeCloseTo(40 / 100, 12);
    expect(report.calibrationError.y).toBeCloseTo(5e-4, 12);
    expect(describePrecision(report)).toBe("f16 weights: the 1 largest of 4 weights kept float32 (40.0% of their elements; the largest because rounding it alone moved an output past the bound); every output within 1.25e-3 of float32 on the calibration inputs, 20% to spare (worst 5.00e-4, y)");
  });

  it("with a bound nothing meets, each weight is tried alone once: one run per weight after the first search", async () => {
    runs.length = 0;
    const { kept, report } = await keepWithinTolerance(g, rounded, run, [{}], "f16", 0);
    expect([kept.size, report.keptAlone.length, report.keptShare]).toEqual([4, 4, 1]);
    // The reference, all encoded, the bisection over 1..3 (two runs), then weights 3, 2 and 1 alone.
    expect(runs.length).toBe(1 + 1 + 2 + 3);
  });
});

describe("compile() with f16 / int8 weights and a tolerance", () => {
  it("writes a module within the tolerance of float32's on the calibration input, and reports what it kept", async () => {
    const g = elaborate(source).graph;
    const calibration = randomInputs(g, 5) as Record<string, Float32Array>;
    const weights = fastWeights(g, 3);
    const f32 = await instantiate(await compile(source, { weights }));
    const want = await f32.run(calibration);
    for (const dtype of ["f16", "int8"] as const) {
      const loose = await compile(source, { weights, weightsDtype: dtype, calibration, weightsTolerance: 1 });
      const allEncoded = worst(loose.report.precision!.calibrationError);
      const tolerance = allEncoded / 4;
      const tight = await compile(source, { weights, weightsDtype: dtype, calibration, weightsTolerance: tolerance });
      const report = tight.report.precision!;
      expect([report.dtype, report.tolerance, loose.report.precision!.keptFloat32]).toEqual([dtype, tolerance, []]);
      expect(report.keptFloat32.length).toBeGreaterThan(0);
      const got = await (await instantiate(tight)).run(calibration);
      for (const name of ["y", "z"]) {
        // The module's float32 arithmetic differs from the interpreter's by ~1e-7 of the range.
        expect(relativeError(got[name]!, want[name]!), `${dtype} ${name}`).toBeLessThanOrEqual((1 - HEADROOM) * tolerance + 1e-6);
        expect(Math.abs(relativeError(got[name]!, want[name]!) - report.calibrationError[name]!)).toBeLessThan(1e-6);
      }
      // Each weight kept float32 costs its 2 (f16) or 3 (int8) bytes per element more.
      expect(tight.report.stats.weightsFileBytes).toBeGreaterThan(loose.report.stats.weightsFileBytes!);
    }
  });
});

describe("describePrecision", () => {
  it("says how many of how many were kept, their share, the tolerance and the worst output", () => {
    const report = { dtype: "f16" as const, tolerance: 1e-3, encodable: 27, keptFloat32: Array(12).fill("w"), keptAlone: [], keptShare: 0.0694, samples: 4, calibrationError: { logits: 9.96e-4, probs: 2e-4 } };
    expect(describePrecision(report)).toBe("f16 weights: the 12 smallest of 27 weights kept float32 (6.9% of their elements); every output within 1e-3 of float32 on 4 calibration samples, 20% to spare (worst 9.96e-4, logits)");
    expect(describePrecision({ ...report, dtype: "int8", tolerance: 0.05, keptFloat32: [], keptShare: 0, samples: 1 })).toBe("int8 weights: no weight kept float32 (27 encoded); every output within 0.05 of float32 on the calibration inputs, 20% to spare (worst 9.96e-4, logits)");
  });
});
