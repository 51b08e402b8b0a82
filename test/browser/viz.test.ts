// graphc viz's HTML page in a real browser (Debian's Chromium, headless, via playwright-core):
// it draws something, holds a box for every node, zooms with the wheel, pans by dragging, and
// its search highlights the matching boxes and brings the first into view.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { elaborate, modelWeights, optimise, pipelineFor } from "../../src/driver.js";
import { renderHtml } from "../../src/viz/html.js";
import { buffersOf, graphView } from "../../src/viz/view.js";

const CHROMIUM = "/usr/bin/chromium";
const g = elaborate({ path: "specs/resnet18.nn" }, { shapes: { image: [1, 3, 32, 32] } }).graph;
const buffers = buffersOf(g);
const graph = optimise(g, modelWeights(g).data, pipelineFor(undefined)).graph;
const html = renderHtml(graphView(graph, { buffers }));

let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium chromium-common`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
  page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  await page.setContent(html);
});

afterAll(async () => {
  await browser?.close();
});

const viewBox = () => page.evaluate(() => document.querySelector("#view svg")!.getAttribute("viewBox")!.split(" ").map(Number));

it("draws the graph: the screenshot is not blank below the search bar", async () => {
  const png = (await page.screenshot()).toString("base64");
  // Decoded by the browser itself: the share of pixels that are not the white background.
  const inked = await page.evaluate(async (data) => {
    const img = new Image();
    img.src = `data:image/png;base64,${data}`;
    await img.decode();
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [img.width, img.height];
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(img, 0, 0);
    const top = 60; // below the search bar
    const px = ctx.getImageData(0, top, img.width, img.height - top).data;
    let count = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i]! < 240 || px[i + 1]! < 240 || px[i + 2]! < 240) count++;
    return count / (px.length / 4);
  }, png);
  // Boxes are filled with colour: a drawing covers far more than 5% of the view, a blank page 0.
  expect(inked).toBeGreaterThan(0.05);
});

it("holds a box for every node, input and output of the graph", async () => {
  const ids = await page.evaluate(() => [...document.querySelectorAll("#view svg g.box")].map((b) => b.id));
  const expected = [...graph.inputs.map((_, i) => `input-${i}`), ...graph.nodes.map((n) => `node-${n.id}`), ...graph.outputs.map((_, i) => `output-${i}`)];
  expect(ids.sort()).toEqual(expected.sort());
  // The fused kernels show what they contain.
  expect(await page.locator("g.group g.step").count()).toBeGreaterThan(graph.nodes.length);
});

it("searching highlights the matching boxes and brings the first into view", async () => {
  await page.fill("#search", "layer4.1.conv2.weight");
  const hits = await page.evaluate(() => [...document.querySelectorAll("g.box.hit")].map((b) => b.id));
  const want = graph.nodes.filter((n) => n.path === "layer4.1.conv2").map((n) => `node-${n.id}`);
  expect(hits).toEqual(want);
  const box = page.locator(`#${hits[0]}`);
  expect(await box.locator("rect").first().evaluate((r) => getComputedStyle(r).strokeWidth)).toBe("4px");
  // The view moved to it: the box lies inside the viewBox.
  const [x, y, w, h] = await viewBox();
  const b = await box.evaluate((e) => {
    const r = (e as SVGGraphicsElement).getBBox(); // an SVGRect: its fields do not cross to Node
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
  expect(b.x >= x! && b.y >= y! && b.x + b.width <= x! + w! && b.y + b.height <= y! + h!).toBe(true);
  expect(await page.textContent("#count")).toBe("1 of 1");
  // Search by op: every box of that op.
  await page.fill("#search", "global_avgpool");
  expect(await page.locator("g.box.hit").count()).toBe(graph.nodes.filter((n) => n.op === "global_avgpool").length);
  await page.fill("#search", "no such thing");
  expect(await page.locator("g.box.hit").count()).toBe(0);
  expect(await page.textContent("#count")).toBe("no match");
});

it("zooms with the wheel and pans by dragging", async () => {
  const before = await viewBox();
  await page.mouse.move(500, 400);
  await page.mouse.wheel(0, -400);
  const zoomed = await viewBox();
  expect(zoomed[2]!).toBeLessThan(before[2]! * 0.8);
  await page.mouse.down();
  await page.mouse.move(400, 300, { steps: 4 });
  await page.mouse.up();
  const panned = await viewBox();
  expect(panned[0]!).toBeGreaterThan(zoomed[0]!);
  expect(panned[1]!).toBeGreaterThan(zoomed[1]!);
  expect(panned[2]).toBe(zoomed[2]);
});
