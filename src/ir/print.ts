// The IR's text form, stable enough for golden files: values are renumbered in order of
// definition, attributes sorted by name, constants of up to 8 elements printed inline.
import { formatType, numel, type Attrs, type AttrValue, type FusedStep, type Graph } from "./graph.js";

function attr(v: AttrValue): string {
  // A fused program prints as its steps, registers as r0, r1, ...
  if (Array.isArray(v) && v.some((x) => typeof x === "object")) return `{${(v as FusedStep[]).map((st) => `${st.op}(${[...st.args.map((r) => `r${r}`), ...attrList(st.attrs ?? {})].join(", ")})`).join("; ")}}`;
  if (Array.isArray(v)) return `[${v.join(", ")}]`;
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

const attrList = (a: Attrs) => Object.keys(a).sort().filter((k) => a[k] !== undefined).map((k) => `${k}=${attr(a[k]!)}`);

export function printGraph(g: Graph): string {
  const names = new Map<number, string>();
  for (const p of g.inputs) names.set(p.value, `%${p.name}`);
  for (const w of g.weights) names.set(w.value, `@${w.name}`);
  g.constants.forEach((c, i) => names.set(c.value, c.name !== undefined ? `$${c.name}` : `$${i}`));
  let next = 0;
  for (const n of g.nodes) for (const o of n.outputs) names.set(o, `%${next++}`);
  const name = (id: number) => names.get(id) ?? `%?${id}`;
  const type = (id: number) => formatType(g.values[id]!.type);

  const lines = [`model ${g.name}(${g.inputs.map((p) => `${name(p.value)}: ${type(p.value)}`).join(", ")}) {`];
  g.constants.forEach((c) => {
    const t = g.values[c.value]!.type;
    const data = numel(t.shape) <= 8 ? ` = [${Array.from(c.data, (x) => Number(x.toPrecision(7))).join(", ")}]` : "";
    lines.push(`  ${name(c.value)}: ${formatType(t)}${data}`);
  });
  for (const n of g.nodes) {
    const attrs = attrList(n.attrs);
    const outs = n.outputs.map(name).join(", ");
    const args = [...n.inputs.map(name), ...attrs].join(", ");
    const types = n.outputs.map(type).join(", ");
    lines.push(`  ${outs} = ${n.op}(${args}) : ${types}${n.path ? `  # ${n.path}` : ""}`);
  }
  lines.push(`  return ${g.outputs.map((p) => `${p.name}=${name(p.value)}`).join(", ")}`, "}");
  return lines.join("\n") + "\n";
}
