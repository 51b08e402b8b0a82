// The import target: an imported torchvision-style ResNet-50 reaches the hand-written
// spec's kernel count and latency within 5%. Both modules come from the same graph and weights:
// specs/resnet50.nn compiled directly, and its ONNX export imported and compiled (the round trip
// `graphc import` makes). Batch 1, 224x224, wasm baseline SIMD, one thread.
// Run: npx vitest run -c bench/vitest.config.ts bench/import.bench.ts
// Times are this process's CPU time (process.cpuUsage: the machines here are shared, and CPU time
// does not count the time another process held the core); the two modules alternate, run by
// run, so a slow spell of the machine falls on both. The ratio is imported / hand-written.
import { expect, test } from "vitest";
import { compile, instantiate, type LoadedModel } from "../src/api.js";
import { elaborateFile } from "../src/frontend/index.js";
import { exportOnnx } from "../src/onnx/export.js";
import { fastWeights } from "../test/module/weights.js";
import { median } from "./measure.js";

const RUNS = 15;
const WARMUP = 3;


test("resnet50: hand-written vs imported from its ONNX export", async () => {
  const g = elaborateFile("specs/resnet50.nn").graph!;
  const weights = fastWeights(g, 1);
  const handWritten = await compile({ path: "specs/resnet50.nn" }, { weights });
  const imported = await compile(exportOnnx(g, weights));
  const kernels = [handWritten, imported].map((r) => r.report.stats.kernels);
  const models: LoadedModel[] = await Promise.all([handWritten, imported].map((r) => instantiate(r, { simd: "baseline" })));
  const x = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.7311));
  const feeds = models.map((m) => ({ [m.inputs[0]!.name]: x }));
  // run() is async only to fit the WebGPU target: the wasm work is done when its promise settles.
  const runOnce = async (k: number) => {
    const t0 = process.cpuUsage();
    const out = await models[k]!.run(feeds[k]!);
    const t = process.cpuUsage(t0);
    return { ms: (t.user + t.system) / 1000, out: Object.values(out)[0]! as Float32Array };
  };
  for (let i = 0; i < WARMUP; i++) for (const k of [0, 1]) await runOnce(k);
  const times: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  let outs: Float32Array[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    const order = i % 2 ? [1, 0] : [0, 1];
    const r: number[] = [];
    outs = [];
    for (const k of order) {
      const { ms, out } = await runOnce(k);
      times[k]!.push(ms);
      r[k] = ms;
      outs[k] = out;
    }
    ratios.push(r[1]! / r[0]!);
  }
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < outs[0]!.length; i++) {
    diff = Math.max(diff, Math.abs(outs[0]![i]! - outs[1]![i]!));
    scale = Math.max(scale, Math.abs(outs[0]![i]!));
  }
  const [a, b] = times.map(median) as [number, number];
  console.log(
    [
      `resnet50 1x3x224x224, wasm baseline, CPU ms, median of ${RUNS} alternating runs:`,
      `  hand-written ${a.toFixed(1)} ms (${kernels[0]} kernels)`,
      `  imported     ${b.toFixed(1)} ms (${kernels[1]} kernels)`,
      `  ratio imported / hand-written: ${(b / a).toFixed(3)} of the medians, ${median(ratios).toFixed(3)} median of the per-run ratios`,
      `  outputs: max |difference| ${diff.toExponential(2)} (max |output| ${scale.toFixed(3)})`,
    ].join("\n"),
  );
  expect(kernels[1]).toBe(kernels[0]);
});
