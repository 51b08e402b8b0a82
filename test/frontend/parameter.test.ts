// parameter(): a free learned tensor whose default init is N(0, 0.02^2) (timm's trunc_normal_),
// so a class token is never all zero without a checkpoint; init="zeros"/"ones" are explicit.
import { describe, expect, it } from "vitest";
import { elaborateSource, renderDiagnostic } from "../../src/frontend/index.js";
import { loadWeights } from "../../src/weights/load.js";

function model(body: string, width = 4) {
  const r = elaborateSource(`model m() {\n  input x: f32[1, ${width}]\n${body}\n}\n`, "m.nn");
  return { graph: r.graph, errors: r.diagnostics.filter((d) => d.severity === "error").map((d) => renderDiagnostic(d, r.sources)) };
}

describe("parameter()", () => {
  it("defaults to a seeded normal with std 0.02, honoured by the seeded initialiser", () => {
    const { graph } = model("  output y = x + cls: parameter([1, 4096])", 4096);
    expect(graph!.weights[0]!.init).toEqual({ kind: "normal", std: 0.02 });
    const data = loadWeights(graph!, { seed: 5 }).data.get("cls") as Float32Array;
    const mean = data.reduce((a, v) => a + v, 0) / data.length;
    const std = Math.sqrt(data.reduce((a, v) => a + (v - mean) ** 2, 0) / data.length);
    // 4096 draws: the sample std is within 5% of 0.02 with overwhelming probability (its relative error is ~1/sqrt(2n) = 1.1%).
    expect(Math.abs(std - 0.02)).toBeLessThan(0.001);
    expect(Math.abs(mean)).toBeLessThan(0.002);
  });

  it("takes std=, init=\"zeros\" and init=\"ones\"", () => {
    const { graph, errors } = model('  a = p: parameter([4], std=0.5)\n  b = q: parameter([4], init="zeros")\n  output y = x + a + b + r: parameter([4], init="ones")');
    expect(errors).toEqual([]);
    expect(graph!.weights.map((w) => w.init)).toEqual([{ kind: "normal", std: 0.5 }, { kind: "zeros" }, { kind: "ones" }]);
    const data = loadWeights(graph!).data;
    expect(data.get("q")).toEqual(new Float32Array(4));
    expect(data.get("r")).toEqual(new Float32Array(4).fill(1));
  });

  it("rejects an unknown init and a std with a non-normal init, at the argument", () => {
    expect(model('  output y = x + p: parameter([4], init="uniform")').errors[0]).toMatch(/^error: parameter: init must be "normal" \(the default\), "zeros" or "ones", found "uniform"\n  --> m.nn:3:36\n/);
    expect(model('  output y = x + p: parameter([4], init="zeros", std=0.1)').errors[0]).toContain('parameter: std applies only to init="normal", not init="zeros"');
  });
});
