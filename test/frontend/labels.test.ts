// Labels inside expressions: after an operator a label binds to the call that follows it.
import { describe, expect, it } from "vitest";
import { elaborateSource, renderDiagnostic } from "../../src/frontend/index.js";
import { parseSource } from "../../grammar/index.js";

/** The model's weight names, or its rendered errors. */
function weights(body: string): string[] {
  const r = elaborateSource(`model m() {\n  input x: f32[1, 4, 8]\n${body}\n}\n`, "m.nn");
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !r.graph) return errors.map((d) => renderDiagnostic(d, r.sources));
  return r.graph.weights.map((w) => w.name);
}

describe("a label after an operator", () => {
  it("names the call after `+`, `*` and unary minus; the operators keep their precedence", () => {
    expect(weights("  y = x + attn: linear(x, 8)\n  z = 2 * fc1: linear(y, 8) + -fc2: linear(y, 8)\n  output o = z + out.{1}: linear(z, 8)")).toEqual([
      "attn.weight", "attn.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "out.1.weight", "out.1.bias",
    ]);
  });

  it("parses as the parenthesised form: the label covers the call (and its suffixes), not the rest of the expression", () => {
    const tree = (src: string) => {
      const { ast, errors } = parseSource(src, "m.nn");
      expect(errors).toEqual([]);
      return JSON.stringify(ast, (k, v) => (k === "span" ? undefined : v));
    };
    const body = (e: string) => `model m() {\n  input x: f32[1, 4, 8]\n  output y = ${e}\n}\n`;
    expect(tree(body("x + a: linear(x, 8) * 2"))).toBe(tree(body("x + (a: linear(x, 8)) * 2")));
    expect(tree(body("x - shared a: linear(x, 8)"))).toBe(tree(body("x - (shared a: linear(x, 8))")));
  });

  it("a label at the start of an expression still covers the whole expression", () => {
    expect(weights("  output y = a: linear(x, 8) + x")).toEqual(["a.weight", "a.bias"]);
  });
});

describe("label parts built from strings", () => {
  it("a name fills a part, a dotted path adds several segments", () => {
    expect(weights('  for b in range(2) { x = {"block_" + str(b)}.{"attn.qkv"}: linear(x, 8) }\n  p = "enc.layers"\n  output y = pre_{p}_{1}: linear(x, 8)')).toEqual([
      "block_0.attn.qkv.weight", "block_0.attn.qkv.bias", "block_1.attn.qkv.weight", "block_1.attn.qkv.bias", "pre_enc.layers_1.weight", "pre_enc.layers_1.bias",
    ]);
  });

  it("a string that is not a name or a dotted path is a located error", () => {
    expect(weights('  output y = {"a..b"}: linear(x, 8)')[0]).toMatch(/^error: a label part must be a non-negative int, a name or a dotted path of names and ints \("blocks.3"\), found the string "a..b"\n  --> m.nn:3:15/);
  });
});
