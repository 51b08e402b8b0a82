// Static memory planning: every intermediate (node result, graph outputs included) gets a byte
// offset in one arena. Buffers whose lifetimes overlap never share bytes; reshapes alias their
// input, and an elementwise op writes over an input that dies at that node. (A GEMM's residual
// may not be overwritten: the kernels store a tile before its epilogue reads the residual.)
// Placement is greedy, largest buffer first, at the lowest 16-byte-aligned offset free over
// its lifetime.
import { numel, type Graph, type Node } from "./graph.js";
import { getOp } from "./ops.js";

export interface MemoryPlan {
  /** Byte offset in the arena of each value id (-1 for values outside it: inputs, constants). */
  offsets: number[];
  arenaBytes: number;
  /** Largest total size of buffers live at the same time: no placement can use less. */
  lowerBound: number;
}

/**
 * The buffer of one or more values (a result, its reshapes, results written over it in place),
 * live from the node that defines it to its last reader, inclusive.
 */
interface Storage {
  value: number;
  bytes: number;
  start: number;
  end: number;
}

/** Whether `op` moves no data, so its result reuses its input's buffer (the registry's `view` trait). */
export const isView = (op: string) => getOp(op).traits.view === true;

const ALIGN = 16;

/** Inputs `n` may overwrite with its result: those read only at the output element's own position. */
function inPlaceCandidates(n: Node): number[] {
  const cls = getOp(n.op).cls;
  return cls === "elementwise" || cls === "broadcast" ? n.inputs : [];
}

/** The buffers of `g` and, for each value id, the buffer holding it (undefined outside the arena). */
function storage(g: Graph): { list: Storage[]; home: (Storage | undefined)[] } {
  const last = g.values.map(() => -1);
  g.nodes.forEach((n, i) => n.inputs.forEach((v) => (last[v] = i)));
  for (const p of g.outputs) last[p.value] = g.nodes.length;
  const home: (Storage | undefined)[] = g.values.map(() => undefined);
  const list: Storage[] = [];
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      const bytes = numel(g.values[o]!.type.shape) * 4;
      const reuse = isView(n.op)
        ? home[n.inputs[0]!]
        : inPlaceCandidates(n).map((v) => home[v]).find((b) => b && b.end === i && b.bytes === bytes && n.inputs.filter((v) => home[v] === b).length === 1);
      if (isView(n.op) && !reuse) continue; // a view of an input or constant
      const b = reuse ?? { value: o, bytes, start: i, end: i };
      if (!reuse) list.push(b);
      b.end = Math.max(b.end, last[o]!);
      home[o] = b;
    }
  });
  return { list, home };
}

export function planMemory(g: Graph): MemoryPlan {
  const { list, home } = storage(g);
  const delta = new Array<number>(g.nodes.length + 2).fill(0);
  for (const b of list) {
    delta[b.start]! += b.bytes;
    delta[b.end + 1]! -= b.bytes;
  }
  let [live, lowerBound] = [0, 0];
  for (const d of delta) lowerBound = Math.max(lowerBound, (live += d));

  const offset = new Map<Storage, number>();
  const placed: Storage[] = [];
  let arenaBytes = 0;
  for (const b of [...list].sort((x, y) => y.bytes - x.bytes || x.start - y.start)) {
    const clashes = placed.filter((p) => p.start <= b.end && b.start <= p.end).sort((x, y) => offset.get(x)! - offset.get(y)!);
    let at = 0;
    for (const p of clashes) {
      if (at + b.bytes <= offset.get(p)!) break;
      at = Math.max(at, Math.ceil((offset.get(p)! + p.bytes) / ALIGN) * ALIGN);
    }
    offset.set(b, at);
    placed.push(b);
    arenaBytes = Math.max(arenaBytes, at + b.bytes);
  }
  return { offsets: home.map((b) => (b ? offset.get(b)! : -1)), arenaBytes, lowerBound };
}
