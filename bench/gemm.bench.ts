// GFLOP/s of the wasm GEMM kernels on ResNet-50 and BERT-base shapes (batch 1, seq 128), both
// builds, one thread, medians of 7. Run: npx vitest run -c bench/vitest.config.ts bench/gemm.bench.ts
// Times are this process's CPU time (process.cpuUsage), not wall time: the machines here are
// shared, and CPU time does not count the time another process held the core.
import { test } from "vitest";
import type { Attrs } from "../src/ir/graph.js";
import { inputsOf, instantiate, type Operand } from "../test/wasm/gemm-harness.js";
import { oneNode } from "../test/wasm/gemm-harness.js";

const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311) * 0.5);
const op = (shape: number[], constant = false): Operand => ({ shape, data: rnd(shape.reduce((a, b) => a * b, 1)), constant });

interface Case { name: string; op: string; ops: Operand[]; attrs: Attrs; flops: number }

/** A GEMM M x K x N as linear with bias + relu (the fused epilogue ResNet and BERT use). */
const gemm = (name: string, M: number, K: number, N: number): Case => ({
  name: `${name} ${M}x${K}x${N}`, op: "linear", ops: [op([M, K]), op([N, K], true), op([N], true)], attrs: { bias: true, act: "relu" }, flops: 2 * M * K * N,
});

/** A square-kernel NHWC conv with bias + relu. */
const conv = (name: string, hw: number, C: number, K: number, k: number, stride: number, groups = 1): Case => {
  const pad = (k - 1) >> 1;
  const o = Math.floor((hw + 2 * pad - k) / stride) + 1;
  return {
    name: `${name} ${hw}x${hw}x${C} -> ${K} k${k}/${stride}${groups > 1 ? ` g${groups}` : ""}`, op: "conv2d",
    ops: [op([1, hw, hw, C]), op([K, C / groups, k, k], true), op([K], true)],
    attrs: { stride: [stride, stride], pads: [pad, pad, pad, pad], dilation: [1, 1], groups, layout: "NHWC", bias: true, act: "relu" },
    flops: 2 * o * o * K * (C / groups) * k * k,
  };
};

const cases: Case[] = [
  conv("resnet conv1", 224, 3, 64, 7, 2),
  gemm("resnet l1 1x1", 3136, 64, 256),
  gemm("resnet l1 1x1", 3136, 256, 64),
  conv("resnet l1 3x3", 56, 64, 64, 3, 1),
  conv("resnet l3 3x3", 14, 256, 256, 3, 1),
  gemm("resnet l4 1x1", 49, 2048, 512),
  conv("mobilenet dw", 56, 144, 144, 3, 1, 144),
  conv("resnext 3x3", 56, 128, 128, 3, 1, 32),
  gemm("bert qkv/out", 128, 768, 768),
  gemm("bert ffn1", 128, 768, 3072),
  gemm("bert ffn2", 128, 3072, 768),
  { name: "bert attention 12x128x64", op: "attention", ops: [op([1, 12, 128, 64]), op([1, 12, 128, 64]), op([1, 12, 128, 64])], attrs: { scale: 0.125 }, flops: 2 * 2 * 12 * 128 * 128 * 64 },
];

test("gemm GFLOP/s", async () => {
  const rows: string[] = [];
  for (const c of cases) {
    const g = oneNode(c.op, c.ops, c.attrs);
    const cells: string[] = [];
    for (const relaxed of [false, true]) {
      const run = await instantiate(g, inputsOf(c.ops), relaxed);
      // Enough repetitions for ~50 ms a sample.
      const cpuMs = (reps: number) => {
        const t0 = process.cpuUsage();
        run(reps);
        const t = process.cpuUsage(t0);
        return (t.user + t.system) / 1000;
      };
      let reps = 1;
      while (cpuMs(reps) < 50) reps *= 2;
      const times = Array.from({ length: 7 }, () => cpuMs(reps) / reps);
      const ms = times.sort((a, b) => a - b)[3]!;
      cells.push(`${(c.flops / ms / 1e6).toFixed(1).padStart(6)} (${ms.toFixed(3)} ms)`);
    }
    rows.push(`${c.name.padEnd(40)} ${cells.join("   ")}`);
  }
  console.log(`${"shape".padEnd(40)} ${"baseline GFLOP/s".padEnd(22)}   relaxed GFLOP/s\n${rows.join("\n")}`);
});
