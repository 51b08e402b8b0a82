// The SVG in a self-contained page: the wheel zooms about the pointer, dragging pans, and a
// search box highlights the boxes whose op, name or weight paths contain the text and brings the
// first into view (Enter: the next one).
import { escapeXml, renderSvg } from "./svg.js";
import type { GraphView } from "./view.js";

/** Runs in the page: no imports, no build step. */
const SCRIPT = String.raw`
(() => {
  const svg = document.querySelector("#view svg");
  const full = { w: svg.viewBox.baseVal.width, h: svg.viewBox.baseVal.height };
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  const view = document.getElementById("view");
  let scale = 1, x = 0, y = 0;
  const apply = () => {
    svg.setAttribute("viewBox", [x, y, view.clientWidth / scale, view.clientHeight / scale].join(" "));
  };
  // Start at the top, the whole width in view when it fits at a readable size.
  scale = Math.max(0.35, Math.min(1, view.clientWidth / full.w));
  x = (full.w - view.clientWidth / scale) / 2;
  apply();
  view.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = view.getBoundingClientRect();
    const px = x + (e.clientX - r.left) / scale, py = y + (e.clientY - r.top) / scale;
    scale = Math.min(8, Math.max(0.02, scale * Math.exp(-e.deltaY * 0.0015)));
    x = px - (e.clientX - r.left) / scale;
    y = py - (e.clientY - r.top) / scale;
    apply();
  }, { passive: false });
  let drag = null;
  view.addEventListener("pointerdown", (e) => { drag = { cx: e.clientX, cy: e.clientY, x, y }; view.setPointerCapture(e.pointerId); });
  view.addEventListener("pointermove", (e) => {
    if (!drag) return;
    x = drag.x - (e.clientX - drag.cx) / scale;
    y = drag.y - (e.clientY - drag.cy) / scale;
    apply();
  });
  view.addEventListener("pointerup", () => { drag = null; });
  window.addEventListener("resize", apply);

  const boxes = [...svg.querySelectorAll("g.box")];
  const search = document.getElementById("search");
  const count = document.getElementById("count");
  let hits = [], current = -1;
  const show = (box) => {
    const b = box.getBBox();
    scale = Math.max(scale, 0.6);
    x = b.x + b.width / 2 - view.clientWidth / scale / 2;
    y = b.y + b.height / 2 - view.clientHeight / scale / 2;
    apply();
  };
  const next = () => {
    if (!hits.length) return;
    hits[current]?.classList.remove("current");
    current = (current + 1) % hits.length;
    hits[current].classList.add("current");
    count.textContent = (current + 1) + " of " + hits.length;
    show(hits[current]);
  };
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const b of boxes) b.classList.remove("hit", "current");
    hits = q ? boxes.filter((b) => b.dataset.search.includes(q)) : [];
    for (const b of hits) b.classList.add("hit");
    current = -1;
    count.textContent = q ? (hits.length ? "" : "no match") : "";
    next();
  });
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") next(); });
})();
`;

const PAGE_STYLE = `
html, body { margin: 0; height: 100%; font-family: system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
#bar { display: flex; gap: 12px; align-items: center; padding: 6px 10px; border-bottom: 1px solid #ccc; background: #f7f7f9; font-size: 13px; }
#search { width: 320px; padding: 3px 6px; }
#view { flex: 1; overflow: hidden; cursor: grab; touch-action: none; }
#view svg { width: 100%; height: 100%; display: block; }
.box.current > rect { stroke: #c92a2a; stroke-width: 4; }`;

/** One HTML file: the page's style and script inline, nothing fetched. */
export function renderHtml(view: GraphView): string {
  const { svg } = renderSvg(view);
  const nodes = view.boxes.filter((b) => b.kind === "node").length;
  const title = escapeXml(`graphc: ${view.model}`);
  return [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${PAGE_STYLE}</style></head><body>`,
    `<div id="bar"><input id="search" type="search" placeholder="search an op, a name or a weight path" autofocus><span id="count"></span>`,
    `<span>${title} &middot; ${nodes} nodes &middot; wheel: zoom, drag: pan, Enter: next match</span></div>`,
    `<div id="view">${svg}</div>`,
    `<script>${SCRIPT}</script>`,
    "</body></html>",
    "",
  ].join("\n");
}
