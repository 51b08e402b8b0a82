// interpretFloat64, the finite-difference oracle, holds every op's f32 results in float64: a
// kernel that allocates its own Float32Array would round the difference quotients to f32.
import fc from "fast-check";
import { expect, it } from "vitest";
import { opNames } from "../../src/ir/ops.js";
import { interpretFloat64 } from "../../src/interp/index.js";
import { opCases } from "../conformance/cases.js";

it.each(opNames)("%s keeps f32 results in float64", (op) => {
  for (const c of fc.sample(opCases[op], 5)) {
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, v instanceof Float32Array ? Float64Array.from(v) : (v as Int32Array)]));
    const out = interpretFloat64(c.graph, new Map(), inputs);
    for (const p of c.graph.outputs) if (c.graph.values[p.value]!.type.dtype === "f32") expect(out[p.name], `${c.what}: output ${p.name}`).toBeInstanceOf(Float64Array);
  }
});
