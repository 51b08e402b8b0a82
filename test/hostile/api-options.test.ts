// compile() and instantiate() given what a careless or hostile caller passes: each option's bad
// values, null and undefined arguments, unknown options, random option objects. Each is a
// UsageError naming the option and the value, before any work: never a raw TypeError or
// RangeError, never a model built from a malformed option.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile, CompileError, instantiate, UsageError, WeightsError } from "../../src/api.js";
import { show } from "../../src/driver.js";
import { defaultPipeline } from "../../src/passes/index.js";

const source = `model tiny(hidden: int = 8) {
  input x: f32[1, 4]
  output y = fc: linear(x, hidden)
}
`;

/** What compile() or instantiate() threw for these arguments (undefined when it resolved). */
async function thrown(call: (...args: never[]) => Promise<unknown>, ...args: unknown[]): Promise<unknown> {
  return (call as (...a: unknown[]) => Promise<unknown>)(...args).then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectUsageError(call: (...args: never[]) => Promise<unknown>, args: unknown[], message: RegExp): Promise<void> {
  const e = await thrown(call, ...args);
  expect(e, `${String(e)} for ${args.map((a) => show(a)).join(", ")}`).toBeInstanceOf(UsageError);
  expect((e as Error).message).toMatch(message);
}

/** [option, value, what the message says] */
type Case = [string, unknown, RegExp];

async function expectOptionErrors(cases: Case[]): Promise<void> {
  for (const [option, value, message] of cases) await expectUsageError(compile, [source, { [option]: value }], message);
}

describe("compile() options, one by one", () => {
  it("shapes: dimensions that are not positive safe integers, naming the input and the value", async () => {
    const dims = (got: string) => new RegExp(`^shapes\\.x = .*: dimensions are positive integers below 2\\^53, got ${got}$`);
    await expectOptionErrors([
      ["shapes", { x: [1, 4.5] }, /^shapes\.x = \[1, 4\.5\]: dimensions are positive integers below 2\^53, got 4\.5$/],
      ["shapes", { x: [1, "4"] }, dims('"4"')],
      ["shapes", { x: [1, NaN] }, dims("NaN")],
      ["shapes", { x: [1, Infinity] }, dims("Infinity")],
      ["shapes", { x: [0, 4] }, dims("0")],
      ["shapes", { x: [-1, 4] }, dims("-1")],
      ["shapes", { x: [1, 2 ** 60] }, dims(String(2 ** 60))],
      // eslint-disable-next-line no-sparse-arrays
      ["shapes", { x: [1, , 4] }, dims("undefined")],
      ["shapes", { x: "1x4" }, /^shapes\.x = "1x4": a shape is an array of dimensions, got "1x4"$/],
      ["shapes", [[1, 4]], /^shapes must be a plain object, got \[\[1, 4\]\]$/],
    ]);
  });

  it("set: values that are not strings, finite numbers or booleans", async () => {
    await expectOptionErrors([
      ["set", { hidden: NaN }, /^set\.hidden must be a string, a finite number or a boolean, got NaN$/],
      ["set", { hidden: Infinity }, /got Infinity$/],
      ["set", { hidden: null }, /got null$/],
      ["set", { hidden: [4] }, /got \[4\]$/],
      ["set", { hidden: 4n }, /got 4n$/],
      ["set", "hidden=4", /^set must be a plain object, got "hidden=4"$/],
    ]);
  });

  it("seed: anything but an integer in [0, 2^32)", async () => {
    for (const [seed, shown] of [[-1, "-1"], [1.5, "1.5"], [2 ** 32, "4294967296"], ["3", '"3"'], [NaN, "NaN"]] as const)
      await expectOptionErrors([["seed", seed, new RegExp(`^seed must be an integer in \\[0, 2\\^32\\), got ${shown}$`)]]);
  });

  it("weights: neither a Map of typed arrays nor a path", async () => {
    await expectOptionErrors([
      ["weights", 42, /^weights must be a Map of tensors \(Float32Array, Int32Array or BigInt64Array by name\) or a \.safetensors or \.pt\/\.pth path, got 42$/],
      ["weights", "", /or a \.safetensors or \.pt\/\.pth path, got ""$/],
      ["weights", {}, /got an object$/],
      ["weights", new Map([["fc.weight", [1, 2]]]), /^weights: entry "fc\.weight" must map a name to a Float32Array, Int32Array or BigInt64Array, got \[1, 2\]$/],
      ["weights", new Map([[1, new Float32Array(8)]]), /^weights: entry 1 must map/],
    ]);
  });

  it("passes, model, target and the target's options of the wrong type; a callback's own error comes back as it is", async () => {
    await expectOptionErrors([
      ["passes", "dce", /^passes must be an array of pass names, got "dce"$/],
      ["passes", [1], /got \[1\]$/],
      ["model", 3, /^model must be a model name, got 3$/],
      ["target", 5, /^target must be a target name, got 5$/],
      ["relaxedSimd", true, /^relaxedSimd must be "auto", "on" or "off", got true$/],
      ["embedWeights", "yes", /^embedWeights must be true or false, got "yes"$/],
      ["weightsDtype", "f8", /^weightsDtype must be "f32", "f16" or "int8", got "f8"$/],
      ["allowUnexpected", 1, /^allowUnexpected must be true or false, got 1$/],
      ["strict", "yes", /^strict must be true or false, got "yes"$/],
      ["rename", { "module.": "" }, /^rename must be an array of \[old, new\] name prefix pairs \(old not empty\), got /],
      ["rename", [["", "x."]], /^rename must be an array of \[old, new\] name prefix pairs/],
      ["onProgress", "log", /^onProgress must be a function, got "log"$/],
    ]);
    const mine = new Error("stop");
    expect(
      await thrown(compile, source, {
        onProgress: () => {
          throw mine;
        },
      }),
    ).toBe(mine);
  });

  it("calibration: not tensors by input name, the wrong inputs, or without f16 / int8 weights", async () => {
    await expectOptionErrors([
      ["calibration", 5, /^calibration must be a plain object, got 5$/],
      ["calibration", { x: [1, 2, 3, 4] }, /^calibration\.x must be a Float32Array, Int32Array or BigInt64Array, got \[1, 2, 3, 4\]$/],
    ]);
    const x = new Float32Array(4);
    await expectUsageError(compile, [source, { calibration: { x } }], /^calibration goes with f16 or int8 weights \(weightsDtype \/ --weights-dtype\)$/);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: { x, z: x } }], /^calibration: model tiny has no input "z" \(inputs: x\)$/);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: {} }], /^calibration: no data for input x \(every input needs one\)$/);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: { x: new Float32Array(3) } }], /^calibration\.x must be a Float32Array of 4 elements \(f32\[1, 4\]\), got /);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: { x: new Int32Array(4) } }], /^calibration\.x must be a Float32Array of 4 elements/);
    // Several samples: each checked, and named by its index.
    await expectOptionErrors([["calibration", [{ x }, 5], /^calibration\[1\] must be a plain object, got 5$/]]);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: [{ x }, { x: new Float32Array(3) }] }], /^calibration\[1\]\.x must be a Float32Array of 4 elements/);
    await expectUsageError(compile, [source, { weightsDtype: "int8", calibration: [] }], /^calibration must hold at least one sample of the model's inputs$/);
    const two = await compile(source, { weightsDtype: "f16", calibration: [{ x }, { x: Float32Array.of(1, 2, 3, 4) }] });
    expect(two.report.precision?.samples).toBe(2);
  });

  it("weightsTolerance: not a number >= 0 or \"off\", without f16 / int8 weights, or with no calibration inputs to check on", async () => {
    const message = (got: string) => new RegExp(`^weightsTolerance must be a number >= 0 \\(the largest max \\|out - f32 out\\| / max \\|f32 out\\|\\) or "off", got ${got}$`);
    await expectOptionErrors([
      ["weightsTolerance", -1e-3, message("-0.001")],
      ["weightsTolerance", Number.NaN, message("NaN")],
      ["weightsTolerance", Infinity, message("Infinity")],
      ["weightsTolerance", "loose", message('"loose"')],
      ["weightsTolerance", "1e-3", message('"1e-3"')],
    ]);
    await expectUsageError(compile, [source, { weightsTolerance: 1e-3 }], /^weightsTolerance goes with f16 or int8 weights \(weightsDtype \/ --weights-dtype\)$/);
    // A checkpoint's weights have no seeded input: the check needs the caller's.
    const weights = new Map([["fc.weight", new Float32Array(32)], ["fc.bias", new Float32Array(8)]]);
    await expectUsageError(compile, [source, { weights, weightsDtype: "f16", weightsTolerance: 1e-3 }], /^weightsTolerance is checked on calibration inputs: give inputs like the model's \(calibration\)$/);
    // "off" asks for no check, which needs no inputs.
    expect((await compile(source, { weights, weightsDtype: "f16", weightsTolerance: "off" })).report.precision).toBeUndefined();
  });

  it("unknown options, and options that are not an object", async () => {
    await expectUsageError(compile, [source, { shape: { x: [2, 4] } }], /^unknown option "shape" \(options: set, shapes, model, .*\)$/);
    await expectUsageError(compile, [source, { seed: 1, __proto__: null, toString: 3 }], /^unknown option "toString"/);
    for (const [options, shown] of [[null, "null"], ["fast", '"fast"'], [[], "\\[\\]"], [5, "5"], [new Map(), "a Map"]] as const)
      await expectUsageError(compile, [source, options], new RegExp(`^options must be a plain object, got ${shown}$`));
  });
});

describe("compile()'s source and instantiate()'s arguments", () => {
  it("a source that is neither .nn text, { path } nor ONNX bytes", async () => {
    for (const bad of [null, undefined, 5, {}, { path: 5 }, { path: "" }, { file: "tiny.nn" }, { path: "a.nn", text: source }, ["tiny.nn"], new Float32Array(4)])
      await expectUsageError(compile, [bad], /^the source must be \.nn text, \{ path: "model\.nn" \| "model\.onnx" \} or ONNX bytes \(a Uint8Array\), got /);
  });

  it("instantiate() of what compile() did not give, or with bad options", async () => {
    const result = await compile(source, { relaxedSimd: "off" });
    await expectUsageError(instantiate, [null], /^instantiate\(\) takes what compile\(\) resolved to, got null$/);
    await expectUsageError(instantiate, [undefined], /got undefined$/);
    await expectUsageError(instantiate, [{ module: { manifest: {}, weights: [1, 2] } }], /^instantiate\(\): result\.module must be the module compile\(\) gave, got an object$/);
    await expectUsageError(instantiate, [result, null], /^instantiate\(\)'s options must be an object, got null$/);
    await expectUsageError(instantiate, [result, { simd: "fast" }], /^simd must be "auto", "relaxed" or "baseline", got "fast"$/);
    await expectUsageError(instantiate, [result, { speed: 1 }], /^unknown option "speed" \(options: simd, threads\)$/);
    await expectUsageError(instantiate, [result, { simd: "relaxed" }], /simd is "relaxed", but the result has no relaxed build/);
    expect(Array.from((await (await instantiate(result)).run({ x: new Float32Array(4) })).y!)).toHaveLength(8);
  });
});

describe("random option objects", () => {
  const anything = fc.anything({ maxDepth: 2, withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true });
  const badNumber = fc.constantFrom(0, -1, 0.5, NaN, Infinity, 2 ** 53, "4", null);
  // Model parameters stay small: a random huge `hidden` would only measure the allocator.
  const valid = <T>(values: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: values }, { weight: 1, arbitrary: anything });
  const option = {
    set: valid(fc.record({ hidden: fc.oneof(fc.integer({ min: 1, max: 8 }), badNumber, fc.string(), fc.boolean()) }, { requiredKeys: [] })),
    shapes: valid(fc.record({ x: fc.oneof(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constant(4)), fc.array(fc.oneof(fc.integer({ min: 1, max: 4 }), badNumber), { maxLength: 3 })) }, { requiredKeys: [] })),
    model: valid(fc.constant("tiny")),
    weights: valid(fc.oneof(fc.constant(new Map([["fc.weight", new Float32Array(32)]])), fc.string({ maxLength: 4 }))),
    seed: valid(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    passes: valid(fc.subarray([...defaultPipeline])),
    target: valid(fc.constantFrom("wasm", "wgsl")),
    relaxedSimd: valid(fc.constantFrom("auto", "on", "off")),
    embedWeights: valid(fc.boolean()),
    allowUnexpected: valid(fc.boolean()),
    strict: valid(fc.boolean()),
    rename: valid(fc.array(fc.tuple(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })), { maxLength: 2 })),
    onProgress: valid(fc.constant(() => {})),
  };
  const options = fc.oneof(
    { weight: 6, arbitrary: fc.record(option, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...Object.keys(option)), fc.string()), anything, { maxKeys: 3 }) },
    { weight: 1, arbitrary: anything },
  );

  it("compile() resolves, or throws a UsageError, CompileError or WeightsError", async () => {
    await fc.assert(
      fc.asyncProperty(options, async (opts) => {
        const e = await thrown(compile, source, opts);
        if (e !== undefined && !(e instanceof UsageError || e instanceof CompileError || e instanceof WeightsError)) throw e;
      }),
      { numRuns: 150 },
    );
  });
});
