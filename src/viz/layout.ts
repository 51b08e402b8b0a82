// A layered (Sugiyama-style) drawing of a DAG, flowing downwards: longest-path layering (sources
// then moved down next to their first reader), long edges split into dummy vertices, barycentric
// crossing reduction over a few sweeps, and x coordinates by least squares towards the
// neighbours (isotonic regression per layer keeps the order and the gaps). Edges are polylines:
// vertical through the layers, straight across the gaps between them.

export interface Size {
  width: number;
  height: number;
}

export interface Spacing {
  /** Between boxes side by side. */
  node: number;
  /** Between layers. */
  layer: number;
  /** Around the drawing. */
  margin: number;
}

/** A box placed: x, y is its top-left corner. */
export interface Placed extends Size {
  x: number;
  y: number;
  layer: number;
}

export interface Point {
  x: number;
  y: number;
}

/** From the bottom middle of `from` to the top middle of `to`. */
export interface RoutedEdge {
  from: number;
  to: number;
  points: Point[];
}

export interface Layout {
  nodes: Placed[];
  edges: RoutedEdge[];
  width: number;
  height: number;
}

export const defaultSpacing: Spacing = { node: 16, layer: 28, margin: 16 };

/** Sweeps of crossing reduction (each one down and one up) and rounds of x placement. */
const SWEEPS = 6;
const PLACEMENT_ROUNDS = 12;
/** How hard an edge passing through a layer holds its place against the boxes beside it: it gives way. */
const DUMMY_WEIGHT = 0.05;
/** The room an edge passing through a layer takes beside boxes and other edges. */
const EDGE_GAP = 6;

/**
 * Lays out boxes of `sizes` with `edges` [from, to] between them (indices). The edges must form a
 * DAG; repeated edges are drawn once.
 */
export function layeredLayout(sizes: readonly Size[], edges: readonly (readonly [number, number])[], spacing: Spacing = defaultSpacing): Layout {
  const n = sizes.length;
  const unique = [...new Map(edges.map(([a, b]) => [`${a} ${b}`, [a, b] as const])).values()];
  for (const [a, b] of unique) if (!(a >= 0 && a < n && b >= 0 && b < n) || a === b) throw new Error(`layeredLayout: bad edge ${a} -> ${b}`);
  const layer = layering(n, unique);

  // Every edge becomes a chain of vertices one layer apart; the dummies hold its bends. The long
  // edges of one source share their dummies (a trunk per source), so a value read all the way
  // down (BERT's attention mask) is one line with branches, not one line per reader.
  const vLayer = [...layer];
  const vWidth = sizes.map((s) => s.width);
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  const link = (a: number, b: number) => (succ[a]!.push(b), pred[b]!.push(a));
  const trunks = new Map<number, number[]>(); // source -> its dummies, layer by layer below it
  const chains = unique.map(([a, b]) => {
    const trunk = trunks.get(a) ?? trunks.set(a, []).get(a)!;
    for (let l = layer[a]! + 1 + trunk.length; l < layer[b]!; l++) {
      const d = vLayer.length;
      vLayer.push(l);
      vWidth.push(0);
      succ.push([]);
      pred.push([]);
      link(trunk.length ? trunk[trunk.length - 1]! : a, d);
      trunk.push(d);
    }
    const chain = [a, ...trunk.slice(0, layer[b]! - layer[a]! - 1), b];
    link(chain[chain.length - 2]!, b);
    return chain;
  });
  const isDummy = (v: number) => v >= n;

  const rows = orderLayers(initialOrder(vLayer, succ, n), succ, pred);
  const x = placeX(rows, succ, pred, vWidth, isDummy, spacing.node);

  // y: each layer as tall as its tallest box, boxes centred in it.
  const rowTop: number[] = [];
  const rowHeight = rows.map((row) => Math.max(0, ...row.filter((v) => !isDummy(v)).map((v) => sizes[v]!.height)));
  let y = spacing.margin;
  for (const h of rowHeight) (rowTop.push(y), (y += h + spacing.layer));
  let minX = 0;
  x.forEach((c, v) => (minX = v === 0 ? c - vWidth[v]! / 2 : Math.min(minX, c - vWidth[v]! / 2)));
  const shift = spacing.margin - minX;
  const nodes: Placed[] = sizes.map((s, v) => ({ ...s, layer: layer[v]!, x: x[v]! + shift - s.width / 2, y: rowTop[layer[v]!]! + (rowHeight[layer[v]!]! - s.height) / 2 }));
  const width = Math.max(0, ...nodes.map((p) => p.x + p.width)) + spacing.margin;
  const height = n === 0 ? 2 * spacing.margin : y - spacing.layer + spacing.margin;

  const routed = chains.map((chain): RoutedEdge => {
    const [a, b] = [chain[0]!, chain[chain.length - 1]!];
    const from = nodes[a]!;
    const to = nodes[b]!;
    const points: Point[] = [{ x: from.x + from.width / 2, y: from.y + from.height }];
    points.push({ x: points[0]!.x, y: rowTop[from.layer]! + rowHeight[from.layer]! });
    for (const d of chain.slice(1, -1)) {
      const l = vLayer[d]!;
      points.push({ x: x[d]! + shift, y: rowTop[l]! }, { x: x[d]! + shift, y: rowTop[l]! + rowHeight[l]! });
    }
    points.push({ x: to.x + to.width / 2, y: rowTop[to.layer]! }, { x: to.x + to.width / 2, y: to.y });
    return { from: a, to: b, points: points.filter((p, i) => i === 0 || p.x !== points[i - 1]!.x || p.y !== points[i - 1]!.y) };
  });
  return { nodes, edges: routed, width, height };
}

/** Longest path from the sources; then each source moves down to just above its first reader. */
function layering(n: number, edges: readonly (readonly [number, number])[]): number[] {
  const succ: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Array<number>(n).fill(0);
  for (const [a, b] of edges) (succ[a]!.push(b), indegree[b]!++);
  const layer = new Array<number>(n).fill(0);
  const ready = [...Array(n).keys()].filter((v) => indegree[v] === 0);
  const sources = [...ready];
  let seen = 0;
  while (ready.length) {
    const v = ready.pop()!;
    seen++;
    for (const w of succ[v]!) {
      layer[w] = Math.max(layer[w]!, layer[v]! + 1);
      if (--indegree[w]! === 0) ready.push(w);
    }
  }
  if (seen !== n) throw new Error("layeredLayout: the edges have a cycle");
  for (const s of sources) if (succ[s]!.length) layer[s] = Math.min(...succ[s]!.map((w) => layer[w]!)) - 1;
  return layer;
}

/** Rows in depth-first order from the real vertices, in index order: chains start out side by side. */
function initialOrder(vLayer: readonly number[], succ: readonly number[][], real: number): number[][] {
  const rows: number[][] = Array.from({ length: Math.max(-1, ...vLayer) + 1 }, () => []);
  const seen = new Set<number>();
  const visit = (root: number) => {
    const stack = [root];
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      rows[vLayer[v]!]!.push(v);
      for (const w of succ[v]!.toReversed()) if (!seen.has(w)) stack.push(w);
    }
  };
  for (let v = 0; v < real; v++) visit(v);
  return rows;
}

/** Barycentric sweeps down and up; keeps the order with the fewest crossings seen. */
function orderLayers(rows: number[][], succ: readonly number[][], pred: readonly number[][]): number[][] {
  const pos = new Map<number, number>();
  const index = (row: readonly number[]) => row.forEach((v, i) => pos.set(v, i));
  rows.forEach(index);
  let best = rows.map((r) => [...r]);
  let fewest = totalCrossings(rows, succ, pos);
  const reorder = (row: number[], neighbours: readonly number[][]) => {
    const key = new Map(row.map((v, i) => [v, neighbours[v]!.length ? neighbours[v]!.reduce((s, w) => s + pos.get(w)!, 0) / neighbours[v]!.length : i]));
    row.sort((a, b) => key.get(a)! - key.get(b)!);
    index(row);
  };
  for (let sweep = 0; sweep < SWEEPS && fewest > 0; sweep++) {
    for (let l = 1; l < rows.length; l++) reorder(rows[l]!, pred);
    for (let l = rows.length - 2; l >= 0; l--) reorder(rows[l]!, succ);
    const crossings = totalCrossings(rows, succ, pos);
    if (crossings < fewest) (fewest = crossings), (best = rows.map((r) => [...r]));
  }
  return best;
}

/** Edge crossings between each pair of adjacent layers (every edge joins adjacent layers by now). */
function totalCrossings(rows: readonly number[][], succ: readonly number[][], pos: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const row of rows) {
    // Edges by source position, then target position; a crossing is a pair whose targets invert.
    const targets = row.flatMap((v) => succ[v]!.map((w) => pos.get(w)!).sort((a, b) => a - b));
    for (let i = 0; i < targets.length; i++) for (let j = i + 1; j < targets.length; j++) if (targets[j]! < targets[i]!) total++;
  }
  return total;
}

/**
 * Centre x of every vertex: rows start packed; then each round moves every row, in order, as
 * close as the gaps allow to the mean x of its vertices' neighbours above (then below).
 */
function placeX(rows: readonly number[][], succ: readonly number[][], pred: readonly number[][], width: readonly number[], isDummy: (v: number) => boolean, nodeGap: number): number[] {
  const x = new Array<number>(width.length).fill(0);
  const gap = (a: number, b: number) => (width[a]! + width[b]!) / 2 + (isDummy(a) && isDummy(b) ? EDGE_GAP : isDummy(a) || isDummy(b) ? nodeGap / 2 : nodeGap);
  const place = (row: readonly number[], neighbours: readonly (readonly number[][])[]) => {
    const desired = row.map((v) => {
      // A box follows the boxes beside it in the flow, not the long edges passing (a residual, a
      // mask read in every layer), which would drag the chain sideways; of those, the median.
      const all = neighbours.flatMap((side) => side[v]!);
      const boxes = isDummy(v) ? [] : all.filter((w) => !isDummy(w));
      const ns = (boxes.length ? boxes : all).map((w) => x[w]!).sort((a, b) => a - b);
      return ns.length === 0 ? x[v]! : ns.length % 2 ? ns[(ns.length - 1) / 2]! : (ns[ns.length / 2 - 1]! + ns[ns.length / 2]!) / 2;
    });
    // Edges passing through give way to boxes: else each box wider than the last pushes them, and
    // they the boxes, further out layer after layer.
    const centres = orderedLeastSquares(desired, row.map((v) => (isDummy(v) ? DUMMY_WEIGHT : 1)), row.map((v, i) => (i === 0 ? 0 : gap(row[i - 1]!, v))));
    row.forEach((v, i) => (x[v] = centres[i]!));
  };
  for (const row of rows) {
    let at = 0;
    row.forEach((v, i) => (x[v] = at += i === 0 ? 0 : gap(row[i - 1]!, v)));
  }
  // Down towards the neighbours above, up towards those below, and last towards both.
  for (let round = 0; round < PLACEMENT_ROUNDS; round++) {
    const down = round % 2 === 0;
    const sides = round >= PLACEMENT_ROUNDS - 2 ? [pred, succ] : [down ? pred : succ];
    for (let l = 0; l < rows.length; l++) place(rows[down ? l : rows.length - 1 - l]!, sides);
  }
  return x;
}

/**
 * Positions closest (weighted least squares) to `desired` with each at least `gaps[i]` right of
 * the one before: with offsets o (the running sum of gaps), y = x - o must be non-decreasing,
 * which is isotonic regression of desired - o, solved by pooling adjacent violators.
 */
export function orderedLeastSquares(desired: readonly number[], weights: readonly number[], gaps: readonly number[]): number[] {
  const offset: number[] = [];
  gaps.forEach((g, i) => offset.push(i === 0 ? 0 : offset[i - 1]! + g));
  const blocks: { sum: number; weight: number; count: number }[] = [];
  desired.forEach((d, i) => {
    blocks.push({ sum: (d - offset[i]!) * weights[i]!, weight: weights[i]!, count: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2]!.sum / blocks[blocks.length - 2]!.weight >= blocks[blocks.length - 1]!.sum / blocks[blocks.length - 1]!.weight) {
      const last = blocks.pop()!;
      const prev = blocks[blocks.length - 1]!;
      (prev.sum += last.sum), (prev.weight += last.weight), (prev.count += last.count);
    }
  });
  const out: number[] = [];
  for (const b of blocks) for (let k = 0; k < b.count; k++) out.push(b.sum / b.weight + offset[out.length]!);
  return out;
}
