// The error bound of GEMM-class kernels (conv2d, linear, matmul, attention) shared by the wasm
// kernel tests and the conformance tester. A K-term f32 dot product whose terms' magnitudes sum
// to S is within (K + 3) 2^-23 S of the exact value (Higham 3.1 with margin); a fused activation
// then scales that error by its slope and adds its own.
import type { Attrs } from "../../src/ir/graph.js";

/** The unit roundoff of f32, doubled: 2^-23. */
export const U2 = 2 ** -23;

/** Error allowed on y given the bound e of its pre-activation value. */
export function activationError(act: string | undefined, y: number, e: number): number {
  switch (act) {
    case "exp": return e * (1 + Math.abs(y));
    case "log": return e * Math.exp(-y);
    case "sqrt": return Math.sqrt(e) + e / Math.max(Math.abs(y), 1e-30);
    default: return 2 * e;
  }
}

/** Attributes for the epilogue activations that need them, in the tests' value ranges. */
export const activationAttrs: Record<string, Attrs> = { clip: { min: -0.5, max: 0.5 }, leaky_relu: { slope: 0.1 }, elu: { alpha: 1.3 }, hard_sigmoid: { alpha: 0.2, beta: 0.5 } };
