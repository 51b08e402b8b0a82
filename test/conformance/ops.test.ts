// Per-op conformance: for every registry op and every engine, the op's generated cases
// (cases.ts) run on the engine (runners.ts), batched, and are compared with the interpreter within
// each case's tolerance, plus the engine's known deviations for that op. An op an engine does not
// run must be on its expected-unsupported list, a case it refuses on its known refusals: both are
// asserted to still hold, never skipped.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { isUnsupported, opNames } from "../../src/ir/ops.js";
import { interpret } from "../../src/interp/index.js";
import { opCases, type Case } from "./cases.js";
import {
  closeGpu, deviationsFor, engines, expectedUnsupported, knownDeviations, knownRefusals, lowerFused, merge, mismatches, plan, refusalOf, type Engine, type Refusal,
} from "./runners.js";

afterAll(closeGpu);

/** A known refusal still holds: the engine reports the case unsupported, or throws what the entry says. */
async function expectRefused(engine: Engine, c: Case, r: Refusal): Promise<void> {
  const prepared = engine.prepare(c.graph);
  if (!isUnsupported(prepared)) await expect(engine.run(prepared, { ...c.inputs }), `${c.what}: ${r.why}`).rejects.toThrow(r.error);
}

describe.each(opNames)("%s", (op) => {
  for (const engine of engines.filter((e) => e.applies(op))) {
    const expected = expectedUnsupported[engine.name].includes(op);
    const notes = [
      expected && "expected unsupported",
      knownDeviations[engine.name]?.[op] && "known deviation",
      knownRefusals.some((r) => r.engine === engine.name && r.ops.includes(op)) && "known refusal",
    ].filter(Boolean);
    it(`${engine.name}${notes.length ? ` (${notes.join(", ")})` : ""}`, async () => {
      if (expected) {
        const prepared = engine.prepare(fc.sample(opCases[op], 1)[0]!.graph);
        expect(isUnsupported(prepared), `${engine.name} runs ${op}: take it off expectedUnsupported`).toBe(true);
        return;
      }
      const { cases, batch } = plan(op, engine.name);
      let fusedForms = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opCases[op], { minLength: batch, maxLength: batch }), async (all) => {
          const cs: Case[] = [];
          for (const c of all) {
            const refusal = refusalOf(engine.name, c);
            if (refusal) await expectRefused(engine, c, refusal);
            else cs.push(c);
          }
          if (cs.length === 0) return;
          const { graph, inputs } = merge(cs);
          const prepared = engine.prepare(graph);
          if (isUnsupported(prepared)) expect.fail(`${engine.name} reports ${op} unsupported (${prepared.unsupported}), and ${op} is not on its expected-unsupported list`);
          const want = interpret(graph, new Map(), inputs);
          const got = await engine.run(prepared, inputs);
          const problems = cs.flatMap((c, k) => mismatches(c, k, got, want, deviationsFor(engine.name, c)));
          if (problems.length) expect.fail(`${engine.name} vs the interpreter:\n${problems.join("\n")}`);
          if (engine.name === "decomposed") fusedForms += cs.filter((c) => lowerFused(c.graph).rewritten > 0).length;
        }),
        // A failing WGSL batch is reported as it is: shrinking would recompile shaders for minutes.
        { numRuns: Math.ceil(cases / batch), ...(engine.name === "wgsl" ? { endOnFailure: true } : {}) },
      );
      if (engine.name === "decomposed") expect(fusedForms, `no ${op} case is in a fused form`).toBeGreaterThan(0);
    });
  }
});
