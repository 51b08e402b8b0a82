// maxpool / avgpool (pads, dilation, ceil_mode, count_include_pad) and global_avgpool, NCHW and
// NHWC (the layout pass), in both builds vs the interpreter. maxpool is exact; an average of k
// values summed in f32 and divided once is within (k + 1) * 6e-8 relative of the double result
// for inputs of one sign, so inputs are positive and rel = 2e-6 covers k <= 25 taps.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { poolCase as sharedPoolCase } from "../support/source.js";
import { checkModel, dim, f32, inputsFor, model, property } from "./helpers.js";

const poolCase = (op: "maxpool" | "avgpool") => sharedPoolCase(op, 9);

async function check(body: string, seed: number, layout: boolean, rel: number): Promise<void> {
  const g = model(body, seed, layout ? ["layout"] : []);
  if (layout) expect(g.nodes.some((n) => n.attrs.layout === "NHWC")).toBe(true);
  await checkModel(g, inputsFor(g, seed, [0.1, 3]), { rel, abs: 0 }, `\n${body}`);
}

describe("wasm pooling kernels", () => {
  for (const layout of [false, true]) {
    const tag = layout ? " (NHWC)" : " (NCHW)";
    it(`maxpool${tag}`, () => property(poolCase("maxpool"), (body, seed) => check(body, seed, layout, 0), 60));
    it(`avgpool${tag}`, () => property(poolCase("avgpool"), (body, seed) => check(body, seed, layout, 2e-6), 60));
    it(`global_avgpool${tag}`, () =>
      property(fc.tuple(dim(2), dim(9), dim(7), dim(7)), (s, seed) => check(`${f32("x", s)}\n  output y = global_avgpool(x)`, seed, layout, 4e-6), 20));
  }
});
