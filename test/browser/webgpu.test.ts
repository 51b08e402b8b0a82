// The generated WebGPU module in a real browser: Debian's Chromium, headless, driven by
// playwright-core, imports the module from a local server (weights fetched next to it), runs
// MobileNetV3-small at 32x32 on its SwiftShader WebGPU adapter and must match the interpreter.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { interpret } from "../../src/interp/index.js";
import { randomInputs } from "../../src/weights/calibrate.js";
import { closeness, compileForGpu, elaborate } from "../wgsl/helpers.js";
import { writeModule } from "../wgsl/gpu.js";

const CHROMIUM = "/usr/bin/chromium";
const TYPES: Record<string, string> = { ".mjs": "text/javascript", ".html": "text/html", ".bin": "application/octet-stream" };

let server: Server;
let browser: BrowserContext;
let dir: string;
let profile: string;
let origin: string;
const g = elaborate("specs/mobilenet_v3_small.nn", { shapes: { image: [1, 3, 32, 32] } });
const { graph, data } = compileForGpu(g, "seeded");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium chromium-common libvulkan1`);
  dir = writeModule(graph, "mnv3").dir;
  server = createServer((req, res) => {
    const file = join(dir, req.url === "/" ? "index.html" : (req.url ?? "").slice(1));
    if (req.url === "/") return void res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>graphc webgpu</title>");
    if (!/^\/[\w.-]+$/.test(req.url ?? "") || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const addr = server.address();
  origin = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  profile = mkdtempSync(join(tmpdir(), "graphc-chromium-")); // a fresh profile each run
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  for (const d of [dir, profile]) if (d) rmSync(d, { recursive: true, force: true });
});

it("MobileNetV3-small (32x32) on Chromium's WebGPU matches the interpreter", async () => {
  const inputs = randomInputs(g, 4);
  const ref = interpret(g, data, inputs).logits as Float32Array;
  const page = await browser.newPage();
  await page.goto(origin + "/");
  // A string, not a function: vitest would rewrite a function's import() for Node.
  const got = (await page.evaluate(`(async (image) => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error("no WebGPU adapter in the page");
    const device = await adapter.requestDevice();
    const { load } = await import(location.origin + "/mnv3.mjs");
    const model = await load({ device });
    const out = await model.run({ image: new Float32Array(image) });
    return { logits: Array.from(out.logits), names: model.outputs.map((o) => o.name) };
  })(${JSON.stringify(Array.from(inputs.image as Float32Array))})`)) as { logits: number[]; names: string[] };
  expect(got.names).toEqual(["logits"]);
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  // Same tolerance as the Node end-to-end tests: 1e-4 of the largest logit.
  expect(closeness(got.logits, ref, 1e-4 * scale, 0).worst).toBeLessThanOrEqual(1);
}, 180_000);
