// Reductions, softmax and layernorm in both builds vs the interpreter (which sums in double).
// f32 sums of n terms of magnitude <= 3 drift by at most ~n * 6e-8 * 3 absolute, and the kernels
// fold four lanes at a time, so the absolute tolerances below are about that for n <= 9^3.
import fc from "fast-check";
import { describe, it } from "vitest";
import { checkModel, f32, inputsFor, model, property, shape } from "./core-helpers.js";

async function check(body: string, seed: number, rel: number, abs: number, range: [number, number] = [-3, 3]): Promise<void> {
  const g = model(body, seed);
  await checkModel(g, inputsFor(g, seed, range), { rel, abs }, `\n${body}`);
}

describe("wasm reduction kernels", () => {
  it("mean, sum and amax over any axes", () =>
    property(
      shape(1, 4).chain((s) =>
        fc.tuple(fc.constant(s), fc.constantFrom("mean", "sum", "amax"), fc.subarray([...s.keys()], { minLength: 1 }), fc.boolean()),
      ),
      ([s, op, axes, keep], seed) => check(`${f32("x", s)}\n  output y = ${op}(x, [${axes.join(", ")}], keepdim=${keep})`, seed, 1e-5, 1e-4),
      60,
    ));

  it("integer sum, mean and amax", () =>
    property(
      shape(1, 3).chain((s) => fc.tuple(fc.constant(s), fc.constantFrom("mean", "sum", "amax"), fc.subarray([...s.keys()], { minLength: 1 }))),
      ([s, op, axes], seed) => check(`${f32("x", s)}\n  output y = cast(${op}(cast(x * 10.0, "i32"), [${axes.join(", ")}]), "f32")`, seed, 0, 0),
      20,
    ));

  it("softmax along any axis", () =>
    property(
      shape(1, 4).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 }))),
      ([s, axis], seed) => check(`${f32("x", s)}\n  output y = softmax(x, axis=${axis})`, seed, 1e-5, 1e-7, [-10, 10]),
      50,
    ));

  it("layernorm", () =>
    property(
      fc.tuple(shape(1, 3, 40), fc.constantFrom(1e-5, 1e-3, 0.1)),
      // The f32 mean is off by about |x| u sqrt(d) (|x| <= 3, d <= 40, u = 2^-24); dividing by
      // sqrt(var + eps) >= sqrt(eps) amplifies that to about 1.2e-6 / sqrt(eps) absolute.
      ([s, eps], seed) => check(`${f32("x", s)}\n  output y = ln: layernorm(x, eps=${eps})`, seed, 1e-5, 2e-6 / Math.sqrt(eps)),
      40,
    ));
});
