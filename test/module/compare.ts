// Output comparison for the module tests.
import { expect } from "vitest";
import type { TensorData } from "../../src/weights/tensor.js";
import { maxDiff } from "../onnx/helpers.js";

/** Every output of `want` is in `got` with its length, and max |got - want| <= rtol * max |want| + atol. */
export function expectOutputsClose(got: Record<string, TensorData | Uint8Array>, want: Record<string, TensorData | Uint8Array>, what: string, rtol: number, atol: number): void {
  expect(Object.keys(got).sort(), `${what}: output names`).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const o = got[name]!;
    expect(o.length, `${what}: length of ${name}`).toBe(w.length);
    const { diff, at } = maxDiff(o, w);
    const { scale } = maxDiff(w, w);
    const tol = rtol * scale + atol;
    if (!(diff <= tol)) expect.fail(`${what}: output ${name} differs by ${diff} (tolerance ${tol}) at flat index ${at}: ${o[at]} vs ${w[at]}`);
  }
}
