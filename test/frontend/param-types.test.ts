// Union and tuple parameter types: `stride: int | (int, int)`, checked at the call.
import { describe, expect, it } from "vitest";
import { elaborateSource, renderDiagnostic } from "../../src/frontend/index.js";
import { parseSource } from "../../grammar/index.js";

const block = "block down(x, stride: int | (int, int) = 1, sizes: list | none = none, scale: (float, float) = (1, 2)) {\n  return maxpool(x, 2, stride=stride)\n}\n";

function run(call: string): { shape?: number[]; errors: string[] } {
  const r = elaborateSource(`${block}model m() {\n  input x: f32[1, 1, 8, 8]\n  output y = ${call}\n}\n`, "m.nn");
  const errors = r.diagnostics.filter((d) => d.severity === "error").map((d) => renderDiagnostic(d, r.sources));
  return { shape: r.graph?.values[r.graph.outputs[0]!.value]!.type.shape, errors };
}

describe("union parameter types", () => {
  it("parse to a union of a name and a tuple type", () => {
    const p = parseSource(block, "m.nn").ast!.blocks[0]!.params[1]!;
    expect(p.type!.kind).toBe("union");
    const t = p.type as Extract<typeof p.type, { kind: "union" }>;
    expect(t.options.map((o) => o.kind)).toEqual(["name", "tuple"]);
  });

  it("accept a value of any option", () => {
    expect(run("down(x, 2)")).toEqual({ shape: [1, 1, 4, 4], errors: [] });
    expect(run("down(x, (2, 1))")).toEqual({ shape: [1, 1, 4, 7], errors: [] });
    expect(run("down(x, sizes=[1, 2])").errors).toEqual([]);
  });

  it("reject others with a located diagnostic naming every option", () => {
    const { errors } = run("down(x, (2, 1, 1))");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: argument `stride` of `down` must be an int or a tuple \(int, int\), found the tuple \(2, 1, 1\)\n  --> m.nn:6:22\n/);
    expect(run('down(x, (2, "a"))').errors[0]).toContain("must be an int or a tuple (int, int), found the tuple (2, \"a\")");
    expect(run("down(x, scale=(1, true))").errors[0]).toContain("argument `scale` of `down` must be a tuple (float, float)");
  });

  it("an unknown name inside a union is reported where it is written", () => {
    const r = elaborateSource("block b(x, s: int | (int, itn)) {\n  return x\n}\nmodel m() {\n  input x: f32[1]\n  output y = b(x, 1)\n}\n", "m.nn");
    const [d] = r.diagnostics.map((x) => renderDiagnostic(x, r.sources));
    expect(d).toMatch(/^error: unknown type `itn`; the types are .*\n  --> m.nn:1:27\n/);
    expect(d).toContain("did you mean `int`?");
  });
});
