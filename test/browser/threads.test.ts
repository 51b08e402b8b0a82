// The generated wasm module on threads in a real browser (Debian's Chromium, headless, through
// playwright-core): a page served cross-origin isolated (COOP same-origin, COEP require-corp) runs
// a small CNN on 2 threads (Web Workers from a blob: URL; the page's own thread spins at the
// barriers) with outputs bit-identical to 1 thread and to Node's; the same page without those
// headers falls back to 1 thread, with one console warning that names them.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildModule, loadParts } from "../../codegen/module/index.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { inputsFor, model } from "../wasm/helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const TYPES: Record<string, string> = { ".mjs": "text/javascript", ".wasm": "application/wasm", ".bin": "application/octet-stream" };
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

let server: Server;
let browser: BrowserContext;
let dir: string;
let profile: string;
let origin: string;
const g = model(
  `  input x: f32[1, 3, 17, 15]
  a = relu(c1: conv2d(x, 16, 3, pad=1))
  b = relu(c2: conv2d(a, 16, 3, pad=1))
  c = maxpool(b + a, 2)
  output y = softmax(fc: linear(flatten(global_avgpool(c)), 10))`,
  3,
  defaultPipeline,
);
const x = inputsFor(g, 5).x as Float32Array;
const { files, parts } = buildModule(g);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium chromium-common`);
  dir = mkdtempSync(join(tmpdir(), "graphc-threads-"));
  for (const f of files) writeFileSync(join(dir, f.name), f.contents);
  // /isolated/... with the two headers, /plain/... without; the same files under both.
  server = createServer((req, res) => {
    const m = /^\/(isolated|plain)\/([\w.-]*)$/.exec(req.url ?? "");
    const headers = m?.[1] === "isolated" ? ISOLATED : {};
    if (m && m[2] === "") return void res.writeHead(200, { "content-type": "text/html", ...headers }).end("<!doctype html><title>graphc threads</title>");
    const file = m && join(dir, m[2]!);
    if (!file || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", ...headers }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const addr = server.address();
  origin = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  profile = mkdtempSync(join(tmpdir(), "graphc-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  for (const d of [dir, profile]) if (d) rmSync(d, { recursive: true, force: true });
});

interface PageRun {
  isolated: boolean;
  threads: number[];
  y: number[][];
}

/** Loads the module in a page under `path` with each of `options` and runs it on x. */
async function inPage(path: string, options: object[]): Promise<{ run: PageRun; warnings: string[] }> {
  const page = await browser.newPage();
  const warnings: string[] = [];
  page.on("console", (m) => void (m.type() === "warning" && warnings.push(m.text())));
  await page.goto(`${origin}/${path}/`);
  // A string, not a function: vitest would rewrite a function's import() for Node.
  const run = (await page.evaluate(`(async ([x, options]) => {
    const { load } = await import(location.href + "${g.name}.mjs");
    const out = { isolated: crossOriginIsolated, threads: [], y: [] };
    for (const o of options) {
      const model = await load(o);
      out.threads.push(model.threads);
      out.y.push(Array.from(new Uint32Array((await model.run({ x: new Float32Array(x) })).y.buffer)));
      model.dispose();
    }
    return out;
  })(${JSON.stringify([Array.from(x), options])})`)) as PageRun;
  await page.close();
  return { run, warnings };
}

it("runs on 2 threads in a cross-origin isolated page, bit for bit as on 1 and in Node", async () => {
  const node = await loadParts(parts, { threads: 1 });
  const want = Array.from(new Uint32Array((await node.run({ x })).y!.buffer));
  const { run, warnings } = await inPage("isolated", [{ threads: 2 }, { threads: 1 }, {}]);
  expect(run.isolated).toBe(true);
  expect(run.threads.slice(0, 2)).toEqual([2, 1]);
  expect(run.threads[2]).toBeGreaterThanOrEqual(1);
  for (const y of run.y) expect(y).toEqual(want);
  expect(warnings).toEqual([]);
}, 180_000);

it("falls back to 1 thread with one warning naming the headers where the page is not isolated", async () => {
  const { run, warnings } = await inPage("plain", [{}, {}]);
  expect(run.isolated).toBe(false);
  expect(run.threads).toEqual([1, 1]);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
}, 180_000);
