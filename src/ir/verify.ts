// The IR verifier: structural invariants and types. Run after every pass in tests.
import { numel, type Graph } from "./graph.js";
import { attrProblems, getOp, isOp } from "./ops.js";

export class VerifyError extends Error {}

/** Throws a VerifyError listing every broken invariant. */
export function verify(g: Graph): void {
  const problems: string[] = [];
  const defined = new Set<number>();
  const value = (id: number, where: string) => {
    const v = g.values[id];
    if (!v || v.id !== id) problems.push(`${where}: value %${id} does not exist`);
    return v;
  };
  for (const p of g.inputs) {
    if (value(p.value, `input ${p.name}`)?.kind !== "input") problems.push(`input ${p.name}: %${p.value} is not an input value`);
    defined.add(p.value);
  }
  for (const w of g.weights) {
    const v = value(w.value, `weight ${w.name}`);
    if (v && (v.kind !== "weight" || v.type.dtype !== w.type.dtype || v.type.shape.join() !== w.type.shape.join())) problems.push(`weight ${w.name}: %${w.value} does not match`);
    defined.add(w.value);
  }
  for (const c of g.constants) {
    const v = value(c.value, "constant");
    if (v && (v.kind !== "const" || numel(v.type.shape) !== c.data.length)) problems.push(`constant %${c.value}: ${c.data.length} elements for shape [${v.type.shape}]`);
    if (v && (v.type.dtype === "f32") !== (c.data instanceof Float32Array)) problems.push(`constant %${c.value}: data does not match dtype ${v.type.dtype}`);
    defined.add(c.value);
  }
  g.nodes.forEach((n, i) => {
    const where = `node ${i} (${n.op})`;
    if (n.id !== i) problems.push(`${where}: id ${n.id} differs from its position`);
    for (const id of n.inputs) if (!defined.has(id)) problems.push(`${where}: input %${id} is used before it is defined`);
    for (const id of n.outputs) {
      const v = value(id, where);
      if (v && (v.kind !== "node" || v.producer !== n.id)) problems.push(`${where}: output %${id} does not name it as producer`);
      if (defined.has(id)) problems.push(`${where}: output %${id} is defined twice`);
      defined.add(id);
    }
    if (!isOp(n.op)) {
      problems.push(`${where}: unknown op`);
      return;
    }
    const arity = getOp(n.op).arity;
    const [fewest, most] = typeof arity === "number" ? [arity, arity] : arity;
    if (n.inputs.length < fewest || n.inputs.length > most) problems.push(`${where}: ${n.inputs.length} inputs, the op takes ${fewest === most ? fewest : `${fewest} to ${most}`}`);
    for (const p of attrProblems(n.op, n.attrs)) problems.push(`${where}: ${p}`);
    try {
      const types = getOp(n.op).infer(n.inputs.map((id) => g.values[id]!.type), n.attrs);
      types.forEach((t, j) => {
        const got = g.values[n.outputs[j]!]?.type;
        if (!got || got.dtype !== t.dtype || got.shape.join() !== t.shape.join()) problems.push(`${where}: output ${j} has type ${JSON.stringify(got)} but the op infers ${JSON.stringify(t)}`);
      });
      if (types.length !== n.outputs.length) problems.push(`${where}: ${n.outputs.length} outputs, the op produces ${types.length}`);
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
  });
  for (const p of g.outputs) if (!defined.has(p.value)) problems.push(`output ${p.name}: %${p.value} is never defined`);
  if (problems.length) throw new VerifyError(`invalid IR for ${g.name}:\n  ${problems.slice(0, 20).join("\n  ")}`);
}
