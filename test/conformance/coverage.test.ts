// The registry walked: every op has cases, they build a node of that op and reach every value
// of its enum and bool attributes, and every engine that applies to the op plans runs of it and
// accepts it, unless the op is on the engine's expected-unsupported list (then it must refuse
// every case); the known refusals still match cases (ops.test checks the engine still refuses).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attrSchema, isUnsupported, opNames } from "../../src/ir/ops.js";
import { opCases } from "./cases.js";
import { engines, expectedUnsupported, knownRefusals, lowerFused, plan } from "./runners.js";

const SAMPLES = 200;

it("has case generators for exactly the registry's ops", () => {
  expect(Object.keys(opCases).sort()).toEqual([...opNames].sort());
});

it.each(knownRefusals)("the known refusal on $engine still matches cases ($why)", (r) => {
  for (const op of r.ops) expect(fc.sample(opCases[op], SAMPLES).some(r.cases), op).toBe(true);
});

describe.each(opNames)("%s", (op) => {
  const sample = fc.sample(opCases[op], SAMPLES);

  it("cases build the op and reach every value of its enum and bool attributes", () => {
    const nodes = sample.flatMap((c) => c.graph.nodes.filter((n) => n.op === op));
    expect(nodes.length).toBeGreaterThanOrEqual(SAMPLES);
    for (const [name, spec] of Object.entries(attrSchema(op))) {
      const values = spec.kind === "bool" ? [true, false] : (spec.values ?? []);
      for (const v of values) expect(nodes.some((n) => n.attrs[name] === v), `no ${op} case has ${name} = ${String(v)}`).toBe(true);
    }
  });

  it.each(engines.filter((e) => e.applies(op)))("runs on $name", (engine) => {
    expect(plan(op, engine.name).cases).toBeGreaterThan(0);
    const refused = sample.filter((c) => isUnsupported(engine.prepare(c.graph))).length;
    expect(refused, `${engine.name} refuses ${refused} of ${SAMPLES} ${op} cases`).toBe(expectedUnsupported[engine.name].includes(op) ? SAMPLES : 0);
    if (engine.name === "decomposed") expect(sample.some((c) => lowerFused(c.graph).rewritten > 0), `no ${op} case is in a fused form`).toBe(true);
  });
});
