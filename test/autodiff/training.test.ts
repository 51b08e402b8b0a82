// The training graph on the interpreter: one SGD and one Adam/AdamW step against hand
// computations of PyTorch's formulas, BatchNorm in training mode, frozen parameters.
import { describe, expect, it } from "vitest";
import { trainingGraph, TrainingError, type TrainingOptions } from "../../src/autodiff/index.js";
import { elaborate } from "../../src/driver.js";
import type { TensorData } from "../../src/interp/index.js";
import { rng } from "../support/source.js";
import { step, withState } from "./step.js";

/** f32 storage between the graph's ops against a double hand computation: a few roundings of values near 1. */
const TOL = { rel: 1e-5, abs: 1e-6 };
function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i]! - want[i]!) <= TOL.rel * Math.abs(want[i]!) + TOL.abs)) expect.fail(`${what}[${i}]: ${got[i]} vs ${want[i]} by hand`);
}

const random = (seed: number, n: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
};

// A linear regression: y = x W^T + b, loss = mean((y - t)^2).
const regression = `
model regression() {
  input x: f32[4, 3]
  input t: f32[4, 2]
  y = head: linear(x, 2)
  d = y - t
  output y = y
  output loss = mean(d * d, [0, 1])
}`;
const x = random(1, 12);
const t = random(2, 8);
const W0 = random(3, 6);
const b0 = random(4, 2);

/** The regression's gradients by hand, in double. */
function handGrads(W: ArrayLike<number>, b: ArrayLike<number>): { dW: number[]; db: number[]; loss: number } {
  const dW = new Array<number>(6).fill(0);
  const db = [0, 0];
  let loss = 0;
  for (let r = 0; r < 4; r++)
    for (let o = 0; o < 2; o++) {
      let y = b[o]!;
      for (let i = 0; i < 3; i++) y += x[r * 3 + i]! * W[o * 3 + i]!;
      const d = y - t[r * 2 + o]!;
      loss += (d * d) / 8;
      const dy = (2 * d) / 8;
      db[o]! += dy;
      for (let i = 0; i < 3; i++) dW[o * 3 + i]! += dy * x[r * 3 + i]!;
    }
  return { dW, db, loss };
}

function train(options: TrainingOptions, steps: number, lr: number) {
  const tg = trainingGraph(elaborate(regression).graph, options);
  let weights: Map<string, TensorData> = withState(tg, new Map([["head.weight", W0], ["head.bias", b0]]));
  const losses: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const r = step(tg, weights, { x, t }, lr, s);
    losses.push((r.outputs.loss as Float32Array)[0]!);
    weights = r.weights;
  }
  return { tg, weights, losses };
}

describe("SGD", () => {
  it("two steps with momentum and weight decay match torch.optim.SGD's formula by hand", () => {
    const [lr, mu, wd] = [0.1, 0.9, 0.01];
    const { weights, losses } = train({ optimizer: "sgd", momentum: mu, weightDecay: wd }, 2, lr);
    let [W, b] = [Array.from(W0, Number), Array.from(b0, Number)];
    let [bufW, bufB] = [W.map(() => 0), b.map(() => 0)];
    const handLosses: number[] = [];
    for (let s = 0; s < 2; s++) {
      const g = handGrads(W, b);
      handLosses.push(g.loss);
      bufW = bufW.map((m, i) => mu * m + g.dW[i]! + wd * W[i]!);
      bufB = bufB.map((m, i) => mu * m + g.db[i]! + wd * b[i]!);
      W = W.map((w, i) => w - lr * bufW[i]!);
      b = b.map((v, i) => v - lr * bufB[i]!);
    }
    close(losses, handLosses, "loss");
    close(weights.get("head.weight") as Float32Array, W, "head.weight");
    close(weights.get("head.bias") as Float32Array, b, "head.bias");
    close(weights.get("optimizer.head.weight.momentum_buffer") as Float32Array, bufW, "momentum buffer");
  });

  it("plain SGD keeps no state", () => {
    const { tg } = train({ optimizer: "sgd" }, 1, 0.1);
    expect(tg.state).toEqual([]);
    expect(tg.updates.map((u) => u.weight).sort()).toEqual(["head.bias", "head.weight"]);
  });
});

describe("Adam", () => {
  it.each(["adam", "adamw"] as const)("two %s steps match torch.optim's formula by hand", (optimizer) => {
    const [lr, b1, b2, eps, wd] = [0.01, 0.8, 0.99, 1e-8, 0.1];
    const { weights, losses } = train({ optimizer, betas: [b1, b2], eps, weightDecay: wd }, 2, lr);
    let p = [...Array.from(W0, Number), ...Array.from(b0, Number)];
    let m = p.map(() => 0);
    let v = p.map(() => 0);
    const handLosses: number[] = [];
    for (let s = 1; s <= 2; s++) {
      const g0 = handGrads(p.slice(0, 6), p.slice(6));
      handLosses.push(g0.loss);
      const g = [...g0.dW, ...g0.db].map((d, i) => (optimizer === "adam" ? d + wd * p[i]! : d));
      if (optimizer === "adamw") p = p.map((w) => w * (1 - lr * wd));
      m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]!);
      v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i]! ** 2);
      const [c1, c2] = [1 - b1 ** s, 1 - b2 ** s];
      p = p.map((w, i) => w - (lr / c1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(c2) + eps)));
    }
    close(losses, handLosses, "loss");
    close(weights.get("head.weight") as Float32Array, p.slice(0, 6), "head.weight");
    close(weights.get("head.bias") as Float32Array, p.slice(6), "head.bias");
    close(weights.get("optimizer.head.bias.exp_avg_sq") as Float32Array, v.slice(6), "exp_avg_sq");
  });
});

describe("BatchNorm in training mode", () => {
  const source = `
model bn() {
  input x: f32[3, 2, 2, 1]
  y = norm: batchnorm(x)
  output loss = mean(y * y * y, [0, 1, 2, 3])
}`;
  it("normalises by the batch statistics and updates the running ones with momentum", () => {
    const tg = trainingGraph(elaborate(source).graph, { optimizer: "sgd", bnMomentum: 0.2 });
    const xs = random(5, 12);
    const [gamma, beta] = [Float32Array.of(1.5, 0.5), Float32Array.of(0.1, -0.2)];
    const weights = withState(tg, new Map<string, TensorData>([
      ["norm.weight", gamma], ["norm.bias", beta], ["norm.running_mean", Float32Array.of(1, 2)], ["norm.running_var", Float32Array.of(3, 4)], ["norm.num_batches_tracked", BigInt64Array.of(5n)],
    ]));
    const r = step(tg, weights, { x: xs }, 0.1, 1);
    const wantMean: number[] = [];
    const wantVar: number[] = [];
    let loss = 0;
    for (let c = 0; c < 2; c++) {
      const vals = [0, 1, 2].flatMap((n) => [0, 1].map((h) => xs[n * 4 + c * 2 + h]!));
      const mean = vals.reduce((a, b) => a + b) / 6;
      const biased = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 6;
      for (const v of vals) loss += ((((v - mean) / Math.sqrt(biased + 1e-5)) * gamma[c]! + beta[c]!) ** 3) / 12;
      wantMean.push(0.8 * [1, 2][c]! + 0.2 * mean);
      wantVar.push(0.8 * [3, 4][c]! + 0.2 * biased * (6 / 5));
    }
    close(r.outputs.loss as Float32Array, [loss], "loss");
    close(r.weights.get("norm.running_mean") as Float32Array, wantMean, "running_mean");
    close(r.weights.get("norm.running_var") as Float32Array, wantVar, "running_var");
    expect(r.weights.get("norm.num_batches_tracked")).toEqual(BigInt64Array.of(6n));
  });

  it("in eval mode normalises by the running statistics and leaves them, as model.eval()", () => {
    const tg = trainingGraph(elaborate(source).graph, { optimizer: "sgd", mode: "eval" });
    expect(tg.updates.map((u) => u.weight).sort()).toEqual(["norm.bias", "norm.weight"]);
    expect(tg.counters).toEqual([]);
    const xs = random(6, 12);
    const r = step(tg, new Map<string, TensorData>([["norm.weight", Float32Array.of(2, 1)], ["norm.bias", Float32Array.of(0, 1)], ["norm.running_mean", Float32Array.of(1, -1)], ["norm.running_var", Float32Array.of(4, 1)]]), { x: xs }, 0.1, 1);
    let loss = 0;
    xs.forEach((v, i) => {
      const c = Math.floor(i / 2) % 2;
      loss += ((((v - [1, -1][c]!) / Math.sqrt([4, 1][c]! + 1e-5)) * [2, 1][c]! + [0, 1][c]!) ** 3) / 12;
    });
    close(r.outputs.loss as Float32Array, [loss], "loss");
  });

  it("one value per channel is an error, as in PyTorch", () => {
    const one = source.replace("f32[3, 2, 2, 1]", "f32[1, 2, 1, 1]");
    expect(() => trainingGraph(elaborate(one).graph)).toThrow(/batchnorm at .*:4:\d+: training needs more than one value per channel, got 1/);
  });
});

describe("options", () => {
  it("trainOnly freezes every parameter it does not match", () => {
    const tg = trainingGraph(elaborate(regression).graph, { trainOnly: ["head.b*"] });
    expect(tg.parameters).toEqual(["head.bias"]);
    expect(tg.updates.map((u) => u.weight)).toEqual(["head.bias"]);
  });

  it("names what is wrong", () => {
    const g = elaborate(regression).graph;
    expect(() => trainingGraph(g, { loss: "nope" })).toThrow(new TrainingError("no output nope to minimise (outputs: y, loss)"));
    expect(() => trainingGraph(g, { loss: "y" })).toThrow(/the loss y must be one f32 value, got f32\[4, 2\]/);
    expect(() => trainingGraph(g, { trainOnly: ["body.*"] })).toThrow(/no trainable weight matches body\.\*/);
    expect(() => trainingGraph(g, { optimizer: "rmsprop" as never })).toThrow(new TrainingError("unknown optimizer rmsprop (one of sgd, adam, adamw)"));
    expect(() => trainingGraph(g, { momentum: -0.5 })).toThrow(new TrainingError("momentum must be a number >= 0, got -0.5"));
    expect(() => trainingGraph(g, { optimizer: "adam", betas: [0.9, 1] })).toThrow(new TrainingError("betas[1] must be in [0, 1), got 1"));
    expect(() => trainingGraph(g, { optimizer: "adam", eps: 0 })).toThrow(new TrainingError("eps must be a number > 0, got 0"));
    // An option the optimizer does not read is refused, not ignored.
    expect(() => trainingGraph(g, { optimizer: "adamw", momentum: 0.9 })).toThrow(new TrainingError("momentum is for sgd; adamw has betas"));
    expect(() => trainingGraph(g, { betas: [0.9, 0.99] })).toThrow(new TrainingError("betas is for adam and adamw, not sgd"));
    expect(() => trainingGraph(g, { optimizer: "sgd", eps: 1e-6 })).toThrow(new TrainingError("eps is for adam and adamw, not sgd"));
  });
});
