// What a generated module (wasm or WGSL) checks before it trusts its files and its inputs.
//
// The build id: 16 hex digits of SHA-256 over everything one compile writes (the manifest, the
// wasm builds, the weights). The manifest holds it, the weights file ends with its 8 bytes and
// each wasm file carries them in a "graphc.build" custom section. load() compares them and
// refuses, naming the file, a weights or wasm file another compile wrote (say, one left by a
// compile that failed part-way): nothing is hashed at load time, the check is 8 bytes compared.
//
// Gather ids: a model input a gather reads as ids is range-checked on the host before run(),
// naming the input and the position (a shader cannot throw, and a wasm kernel can only trap).
import { createHash } from "node:crypto";
import type { Graph } from "../../src/ir/graph.js";
import { attrsOf, normAxis } from "../../src/ir/ops.js";

export const BUILD_ID_BYTES = 8;
const BUILD_SECTION = "graphc.build";

/** The build id of a compile's outputs. */
export function buildId(parts: readonly (Uint8Array | string)[]): string {
  const hash = createHash("sha256");
  // Each part's length first, so moving bytes from one part to the next changes the id.
  for (const p of parts) hash.update(`${p.length}:`).update(p);
  return hash.digest("hex").slice(0, 2 * BUILD_ID_BYTES);
}

const idBytes = (id: string) => Uint8Array.from(id.match(/../g)!, (h) => parseInt(h, 16));

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** The weights file: the weights, then the build id. */
export function weightsFile(weights: Uint8Array, id: string): Uint8Array {
  return concat(weights, idBytes(id));
}

/** `wasm` with the build id in a custom section at its end (custom sections may come anywhere). */
export function withBuildSection(wasm: Uint8Array, id: string): Uint8Array {
  const name = new TextEncoder().encode(BUILD_SECTION);
  const payload = [name.length, ...name, ...idBytes(id)];
  // Section id 0 (custom), then its size; both lengths are under 128, one LEB128 byte each.
  return concat(wasm, Uint8Array.of(0, payload.length, ...payload));
}

/**
 * [input index, hi, lo] for each model input a gather reads as ids: they must lie in [lo, hi),
 * the intersection over its gathers of [0, d) (negative_ids "error", embeddings) or [-d, d), d
 * the size of the gathered axis; lo is left out when it is 0.
 */
export function idChecks(g: Graph): IdCheck[] {
  const bounds = new Map<number, [number, number]>();
  for (const n of g.nodes) {
    const input = n.op === "gather" ? g.inputs.findIndex((p) => p.value === n.inputs[1]) : -1;
    if (input < 0) continue;
    const a = attrsOf(n, "gather");
    const shape = g.values[n.inputs[0]!]!.type.shape;
    const d = shape[normAxis(a.axis ?? 0, shape.length)]!;
    const [lo, hi] = bounds.get(input) ?? [-Infinity, Infinity];
    bounds.set(input, [Math.max(lo, a.negative_ids === "error" ? 0 : -d), Math.min(hi, d)]);
  }
  return [...bounds].map(([input, [lo, hi]]) => (lo === 0 ? [input, hi] : [input, hi, lo]));
}

/** [input index, hi, lo = 0]: the ids an input may hold, [lo, hi). */
export type IdCheck = [number, number] | [number, number, number];

/** The runtime half, JavaScript text both runtimes include (no backticks or `${` in it). */
export const CHECKS_RUNTIME = String.raw`
const BUILD_ID_BYTES = ${BUILD_ID_BYTES};
const BUILD_SECTION = ${JSON.stringify(BUILD_SECTION)};

const ONE_COMPILE = "use the files of one compile together, or compile again";

/** Why the bytes of "from" are not this module's (its build id, "idBytes", differs from "want"), or "" when they are. */
function foreignBuild(from, idBytes, want) {
  const got = idBytes ? Array.from(idBytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("") : "";
  if (got === want) return "";
  return from + " was not built with this module (" + (got ? "its build id is " + got : "it has no build id") + ", the module's is " + want + "): " + ONE_COMPILE;
}

/** Why a weights file of n bytes cannot be this module's (weightBytes of weights, then the build id), or "" when it can. */
function weightsSizeProblem(from, n, weightBytes) {
  const want = weightBytes + BUILD_ID_BYTES;
  return n === want ? "" : from + " holds " + n + " bytes, the module's weights file " + want + ": it is not the weights this module was built with (" + ONE_COMPILE + ")";
}

/** The id checks of a manifest by input index: [lo, hi). */
function idBounds(checks) {
  return new Map(checks.map(([input, hi, lo]) => [input, [lo === undefined ? 0 : lo, hi]]));
}

/** Why integer input "name" cannot run: an i64 value that does not fit in 32 bits, or an id outside [lo, hi) ("ids") when a gather reads it; "" when it can. */
function badInts(name, values, ids) {
  const i64 = values instanceof BigInt64Array;
  if (!i64 && ids === undefined) return "";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const at = "input " + JSON.stringify(name) + "[" + i + "] = " + v;
    if (i64 && (v < -2147483648n || v > 2147483647n)) return at + " does not fit in 32 bits";
    if (ids !== undefined && !(v >= ids[0] && v < ids[1]))
      return at + " is outside [" + ids[0] + ", " + ids[1] + "): " + (ids[0] === 0 ? "an embedding of " + ids[1] + " rows reads it as an id" : "a gather reads it as an index into " + ids[1] + " (negative ones from the end)");
  }
  return "";
}
`;
