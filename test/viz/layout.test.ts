// The layered layout: every box placed inside the drawing, edges pointing down between layers,
// no two boxes overlapping, edges routed from the bottom of their source to the top of their
// target; on random DAGs and on the zoo's drawings, which must also stay compact.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { elaborate, modelWeights, optimise, pipelineFor } from "../../src/driver.js";
import { layeredLayout, orderedLeastSquares, type Layout } from "../../src/viz/layout.js";
import { renderSvg } from "../../src/viz/svg.js";
import { buffersOf, graphView } from "../../src/viz/view.js";

/** Every problem with `layout` for these edges, as text (empty when it is sound). */
function problems(layout: Layout, edges: readonly (readonly [number, number])[]): string[] {
  const found: string[] = [];
  const { nodes } = layout;
  nodes.forEach((p, i) => {
    if (![p.x, p.y].every(Number.isFinite) || p.x < 0 || p.y < 0 || p.x + p.width > layout.width || p.y + p.height > layout.height) found.push(`box ${i} at ${p.x},${p.y} is not inside the drawing`);
  });
  for (const [a, b] of edges) {
    const [pa, pb] = [nodes[a]!, nodes[b]!];
    if (!(pa.layer < pb.layer && pa.y + pa.height < pb.y)) found.push(`edge ${a} -> ${b} does not point down (layers ${pa.layer}, ${pb.layer})`);
  }
  for (let i = 0; i < nodes.length; i++)
    for (let j = i + 1; j < nodes.length; j++) {
      const [p, q] = [nodes[i]!, nodes[j]!];
      if (p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height) found.push(`boxes ${i} and ${j} overlap`);
    }
  for (const e of layout.edges) {
    const [first, last] = [e.points[0]!, e.points[e.points.length - 1]!];
    const [from, to] = [nodes[e.from]!, nodes[e.to]!];
    if (first.x !== from.x + from.width / 2 || first.y !== from.y + from.height) found.push(`edge ${e.from} -> ${e.to} does not leave its source's bottom middle`);
    if (last.x !== to.x + to.width / 2 || last.y !== to.y) found.push(`edge ${e.from} -> ${e.to} does not reach its target's top middle`);
    if (e.points.some((p, k) => k > 0 && p.y < e.points[k - 1]!.y)) found.push(`edge ${e.from} -> ${e.to} goes up`);
  }
  return found;
}

/** Random DAGs: edges only from lower to higher indices, sizes like the CLI's boxes. */
const dags = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.record({
    sizes: fc.array(fc.record({ width: fc.integer({ min: 8, max: 300 }), height: fc.integer({ min: 8, max: 120 }) }), { minLength: n, maxLength: n }),
    edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 3 * n }).map((pairs) => pairs.filter(([a, b]) => a !== b).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const)),
  }),
);

describe("layeredLayout", () => {
  it("places every box of a random DAG inside the drawing, edges down, no overlaps", () => {
    fc.assert(
      fc.property(dags, ({ sizes, edges }) => {
        const layout = layeredLayout(sizes, edges);
        expect(layout.nodes).toHaveLength(sizes.length);
        expect(layout.edges).toHaveLength(new Set(edges.map((e) => e.join())).size);
        expect(problems(layout, edges)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it("uncrosses edges that cross in the first order", () => {
    // Depth first from 0, the targets start as [2, 3], and 0 -> 3 crosses 1 -> 2: the sweep puts 3
    // on the side of 0 (the only source it reads), 2 between them.
    const layout = layeredLayout(Array(4).fill({ width: 40, height: 20 }), [[0, 2], [0, 3], [1, 2]]);
    const [s0, s1, t2, t3] = layout.nodes.map((p) => p.x);
    expect(Math.sign(t2! - t3!)).toBe(Math.sign(s1! - s0!));
  });

  it("refuses a cycle and an edge to nowhere", () => {
    expect(() => layeredLayout(Array(2).fill({ width: 1, height: 1 }), [[0, 1], [1, 0]])).toThrow(/cycle/);
    expect(() => layeredLayout([{ width: 1, height: 1 }], [[0, 1]])).toThrow(/bad edge/);
  });

  it("draws a chain straight down", () => {
    const layout = layeredLayout([{ width: 80, height: 30 }, { width: 40, height: 20 }, { width: 120, height: 30 }], [[0, 1], [1, 2]]);
    expect(new Set(layout.nodes.map((p) => p.x + p.width / 2)).size).toBe(1);
  });
});

describe("orderedLeastSquares", () => {
  it("keeps feasible positions and pools the ones too close", () => {
    expect(orderedLeastSquares([0, 10, 30], [1, 1, 1], [0, 5, 5])).toEqual([0, 10, 30]);
    // Both want 0 but must be 10 apart: the least-squares answer straddles it.
    expect(orderedLeastSquares([0, 0], [1, 1], [0, 10])).toEqual([-5, 5]);
    // The heavier one moves less.
    expect(orderedLeastSquares([0, 0], [3, 1], [0, 8])).toEqual([-2, 6]);
  });
});

describe("the zoo's drawings", () => {
  const drawing = (file: string, after: boolean, options: Parameters<typeof elaborate>[1] = {}) => {
    const g = elaborate({ path: file }, options).graph;
    const buffers = buffersOf(g);
    const graph = after ? optimise(g, modelWeights(g).data, pipelineFor(undefined)).graph : g;
    const view = graphView(graph, { buffers });
    return { view, layout: renderSvg(view).layout };
  };

  it.each([
    // The widths guard against drift: each layer's boxes pushing the next ones sideways.
    ["specs/resnet50.nn", 175, 1000],
    ["specs/bert_base.nn", 302, 2000],
  ])("%s before the passes: sound and compact (%i nodes, narrower than %i)", (file, nodes, maxWidth) => {
    const { view, layout } = drawing(file, false);
    expect(view.boxes.filter((b) => b.kind === "node")).toHaveLength(nodes);
    expect(problems(layout, view.edges)).toEqual([]);
    expect(layout.width).toBeLessThan(maxWidth);
  });

  it("resnet18 after the pipeline: fused kernels drawn as groups, sound", () => {
    const { view, layout } = drawing("specs/resnet18.nn", true, { shapes: { image: [1, 3, 32, 32] } });
    const groups = view.boxes.filter((b) => b.contents);
    expect(groups.length).toBeGreaterThan(10);
    expect(groups.find((b) => b.name === "layer1.0.conv2")?.contents?.steps.map((s) => s.op)).toEqual(["conv2d", "add", "relu"]);
    expect(problems(layout, view.edges)).toEqual([]);
  });
});
