// A graph view drawn as a static SVG: boxes laid out top to bottom (layout.ts), each with its op,
// name, output types, parameter count and weights; a fused kernel's box holds a small drawing of
// the ops it contains. Text is monospace, so a box's width follows from its longest line.
import { layeredLayout, type Layout, type Size } from "./layout.js";
import { searchText, type Box, type Contents, type GraphView } from "./view.js";

const FONT_SIZE = 11;
/** A monospace glyph's advance is 0.6 em (DejaVu Sans Mono, Liberation Mono, Courier). */
const CHAR_WIDTH = 0.6 * FONT_SIZE;
const LINE_HEIGHT = 14;
const PAD = 6;
const STEP_HEIGHT = 16;
const STEP_SPACING = { node: 6, layer: 10, margin: 0 };

/** A box's text, one line each, with the class that styles it. */
function lines(box: Box): [cls: string, text: string][] {
  return [
    ["title", box.kind === "node" ? box.title : `${box.title} ${box.name}`],
    ...(box.kind === "node" && box.name ? [["name", box.name] as [string, string]] : []),
    ["type", box.types.join(", ")],
    ...(box.params > 0 ? [["params", `params ${thousands(box.params)}`] as [string, string]] : []),
    ...box.weights.map((w) => ["weight", w] as [string, string]),
    ...box.constants.map((c) => ["const", c] as [string, string]),
  ];
}

const stepLabel = (s: Contents["steps"][number]) => (s.note ? `${s.op} (${s.note})` : s.op);
const textWidth = (text: string) => text.length * CHAR_WIDTH;
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ",");

/** A box measured: its size, and the drawing of its contents (a fused kernel's ops) when it has some. */
interface Measured extends Size {
  lines: [string, string][];
  inner?: Layout;
}

function measure(box: Box): Measured {
  const text = lines(box);
  const inner = box.contents && layeredLayout(box.contents.steps.map((s) => ({ width: textWidth(stepLabel(s)) + 2 * 4, height: STEP_HEIGHT })), box.contents.edges, STEP_SPACING);
  const width = Math.max(...text.map(([, t]) => textWidth(t)), inner?.width ?? 0) + 2 * PAD;
  const height = text.length * LINE_HEIGHT + 2 * PAD + (inner ? inner.height + PAD : 0);
  return { width: Math.ceil(width), height: Math.ceil(height), lines: text, ...(inner ? { inner } : {}) };
}

export const escapeXml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (v: number) => String(Math.round(v * 10) / 10);
const polyline = (points: readonly { x: number; y: number }[], extra = "") => `<polyline points="${points.map((p) => `${num(p.x)},${num(p.y)}`).join(" ")}"${extra}/>`;

const STYLE = `
.edges polyline { fill: none; stroke: #6b7080; stroke-width: 1.2; }
.box > rect { stroke: #5a6070; stroke-width: 1; }
.cls-opaque > rect { fill: #dbe8fb; } .cls-elementwise > rect, .cls-broadcast > rect { fill: #e2f3df; }
.cls-injective > rect { fill: #efefef; } .cls-reduction > rect { fill: #fdebd3; } .cls-port > rect { fill: #fff2bf; }
.group > rect { stroke: #6a4fb3; stroke-width: 1.6; stroke-dasharray: 5 3; }
.step rect { fill: #ffffff; stroke: #6a4fb3; } .step-edge { fill: none; stroke: #6a4fb3; }
.title { font-weight: bold; } .name { fill: #24408e; } .type { fill: #333; } .params { fill: #7a4a00; }
.weight { fill: #555; } .const { fill: #888; }
.hit > rect { stroke: #e8590c; stroke-width: 3; stroke-dasharray: none; }`;

export interface Drawing {
  svg: string;
  /** Where each box of the view went (same order). */
  layout: Layout;
}

/** The view as an SVG document; each box a `<g class="box ..." id=KEY data-search=...>`. */
export function renderSvg(view: GraphView): Drawing {
  const measured = view.boxes.map(measure);
  const layout = layeredLayout(measured, view.edges);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(layout.width)}" height="${num(layout.height)}" viewBox="0 0 ${num(layout.width)} ${num(layout.height)}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="${FONT_SIZE}">`,
    `<title>${escapeXml(`graphc: model ${view.model}, ${view.boxes.filter((b) => b.kind === "node").length} nodes`)}</title>`,
    `<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#6b7080"/></marker>`,
    `<marker id="step-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#6a4fb3"/></marker></defs>`,
    `<style>${STYLE}</style>`,
    `<rect class="background" width="${num(layout.width)}" height="${num(layout.height)}" fill="#ffffff"/>`,
    `<g class="edges">`,
    ...layout.edges.map((e) => polyline(e.points, ` marker-end="url(#arrow)"`)),
    `</g>`,
    `<g class="boxes">`,
  ];
  view.boxes.forEach((box, i) => {
    const m = measured[i]!;
    const p = layout.nodes[i]!;
    const classes = ["box", box.kind, `cls-${box.cls}`, ...(box.contents ? ["group"] : [])].join(" ");
    out.push(`<g class="${classes}" id="${box.key}" data-search="${escapeXml(searchText(box).toLowerCase())}">`);
    out.push(`<rect x="${num(p.x)}" y="${num(p.y)}" width="${m.width}" height="${m.height}" rx="4"/>`);
    m.lines.forEach(([cls, text], k) => out.push(`<text class="${cls}" x="${num(p.x + PAD)}" y="${num(p.y + PAD + (k + 0.8) * LINE_HEIGHT)}">${escapeXml(text)}</text>`));
    if (m.inner && box.contents) {
      const ox = p.x + (m.width - m.inner.width) / 2;
      const oy = p.y + PAD + m.lines.length * LINE_HEIGHT + PAD / 2;
      const at = (q: { x: number; y: number }) => ({ x: q.x + ox, y: q.y + oy });
      out.push(`<g class="contents">`);
      for (const e of m.inner.edges) out.push(polyline(e.points.map(at), ` class="step-edge" marker-end="url(#step-arrow)"`));
      box.contents.steps.forEach((s, k) => {
        const q = at(m.inner!.nodes[k]!);
        out.push(`<g class="step"><rect x="${num(q.x)}" y="${num(q.y)}" width="${num(m.inner!.nodes[k]!.width)}" height="${STEP_HEIGHT}" rx="3"/><text x="${num(q.x + 4)}" y="${num(q.y + STEP_HEIGHT - 4)}">${escapeXml(stepLabel(s))}</text></g>`);
      });
      out.push(`</g>`);
    }
    out.push(`</g>`);
  });
  out.push(`</g>`, `</svg>`);
  return { svg: out.join("\n") + "\n", layout };
}
