// Every fast-check property runs from a fixed seed, so CI is reproducible; set GRAPHC_FC_SEED to
// explore other seeds (a failure report prints the seed and path to replay it).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll } from "vitest";

fc.configureGlobal({ seed: Number(process.env.GRAPHC_FC_SEED ?? 20261126) });

// Each test file's scratch files (generated modules of hundreds of MB, CLI outputs) go under one
// folder of its own, removed when the file is done: os.tmpdir() reads TMPDIR, and the CLI
// processes the tests start inherit it. The system's folder is kept aside for a reused worker.
process.env.GRAPHC_SYSTEM_TMPDIR ??= tmpdir();
const scratch = mkdtempSync(join(process.env.GRAPHC_SYSTEM_TMPDIR, "graphc-test-"));
process.env.TMPDIR = scratch;
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
