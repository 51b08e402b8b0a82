// Compiling an untrusted .nn: its imports read only .nn source files inside the folder of the
// model being compiled (the working directory for text without a file), never a device, a
// FIFO or a link out of it, and a refused file's content is never shown. Checked through the
// CLI and the API; each refusal is a located diagnostic at the import.
import { mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { compile, CompileError } from "../../src/api.js";
import { cliBuild } from "../support/cli.js";

const { build, graphc } = cliBuild("hostile-imports");

/** Text no diagnostic may ever show: it sits in every file an import must not read. */
const SECRET = "TOP-SECRET-7f3a";

const model = (imports: string[]) => `${imports.map((p) => `import ${JSON.stringify(p)}\n`).join("")}model m() {\n  input x: f32[1, 4]\n  output y = relu(x)\n}\n`;

/** outer/secret.txt, outer/secret.nn and outer/model/ (the model's folder) with its traps. */
function sandbox(): { outer: string; dir: string } {
  const outer = mkdtempSync(join(tmpdir(), "graphc-imports-"));
  const dir = join(outer, "model");
  mkdirSync(join(dir, "lib"), { recursive: true });
  writeFileSync(join(outer, "secret.txt"), `${SECRET}\n`);
  writeFileSync(join(outer, "secret.nn"), `${SECRET} is not .nn source\n`);
  writeFileSync(join(dir, "lib", "ok.nn"), "block twice(x) {\n  return x + x\n}\n");
  symlinkSync(join(outer, "secret.nn"), join(dir, "link_out.nn"));
  symlinkSync(outer, join(dir, "lib", "up"));
  symlinkSync(join(outer, "secret.txt"), join(dir, "text_link.nn"));
  symlinkSync("/dev/zero", join(dir, "zero.nn"));
  mkdirSync(join(dir, "folder.nn"));
  execFileSync("mkfifo", [join(dir, "fifo.nn")]);
  writeFileSync(join(dir, "latin1.nn"), Buffer.concat([Buffer.from(`# ${SECRET} `), Buffer.from([0xe9, 0x0a])]));
  writeFileSync(join(dir, "huge.nn"), "");
  truncateSync(join(dir, "huge.nn"), 16 * 2 ** 20 + 1); // sparse: takes no disk
  return { outer, dir };
}

/** [import path, what the diagnostic says]: every way out of the folder, and every file that is not source. */
const refused: [string, RegExp][] = [
  ["../../../../../../etc/passwd", /only \.nn files can be imported/],
  ["/proc/self/environ", /only \.nn files can be imported/],
  ["../secret.txt", /only \.nn files can be imported/],
  ["../secret.nn", /imports must stay inside the folder of /],
  ["lib/../../secret.nn", /imports must stay inside the folder of /],
  ["/etc/hosts.nn", /import paths are relative to the importing file/],
  ["link_out.nn", /link_out\.nn leads, through a symbolic link, outside the folder of /],
  ["lib/up/secret.nn", /lib\/up\/secret\.nn leads, through a symbolic link, outside/],
  ["text_link.nn", /leads, through a symbolic link, outside/],
  ["zero.nn", /zero\.nn leads, through a symbolic link, outside/],
  ["folder.nn", /folder\.nn is not a regular file/],
  ["fifo.nn", /fifo\.nn is not a regular file/],
  ["latin1.nn", /latin1\.nn is not UTF-8 text \(an invalid byte at line 1, column 19\)/],
  ["huge.nn", /huge\.nn is larger than 16 MiB, the most a source file may be/],
  ["missing.nn", /missing\.nn does not exist/],
];

function expectRefusals(text: string, file: string): void {
  refused.forEach(([path, why], i) => {
    const at = text.indexOf(`\n  --> ${file}:${i + 1}:8\n`);
    expect(at, `a diagnostic at ${file}:${i + 1}:8 (${path})`).toBeGreaterThan(0);
    const message = text.slice(text.lastIndexOf("error: ", at), at);
    expect(message).toContain(`cannot import ${JSON.stringify(path)}: `);
    expect(message).toMatch(why);
  });
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain("root:");
  expect(text).not.toContain("    at ");
}

beforeAll(build);

describe.concurrent("imports stay inside the model's folder", () => {
  test("graphc check: each refused import is a located error; nothing outside is shown", { timeout: 30_000 }, async () => {
    const { dir } = sandbox();
    const file = join(dir, "model.nn");
    writeFileSync(file, model(refused.map(([p]) => p)));
    const r = await graphc("check", file);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expectRefusals(r.stderr, file);
    expect(r.stderr).toMatch(new RegExp(`\\n${refused.length} errors\\n$`));
  });

  test("compile({ path }): the same refusals as CompileError diagnostics", async () => {
    const { dir } = sandbox();
    const file = join(dir, "model.nn");
    writeFileSync(file, model(refused.map(([p]) => p)));
    const error = await compile({ path: file }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CompileError);
    expectRefusals((error as CompileError).diagnostics.join("\n\n"), file);
  });

  test("compile(text): text without a file imports from inside the working directory only", async () => {
    const error = await compile(model(["../outside.nn", "specs/../../outside.nn"])).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CompileError);
    const diagnostics = (error as CompileError).diagnostics;
    expect(diagnostics).toHaveLength(2);
    expect(diagnostics[0]).toMatch(/^error: cannot import "\.\.\/outside\.nn": imports must stay inside the working directory\n {2}--> <source>:1:8\n/);
    expect(diagnostics[1]).toContain("--> <source>:2:8");
  });

  test("imports that stay inside still work, through a link inside the folder too", async () => {
    const { dir } = sandbox();
    symlinkSync(join(dir, "lib", "ok.nn"), join(dir, "alias.nn"));
    const body = (block: string) => `model m() {\n  input x: f32[1, 4]\n  output y = ${block}(x)\n}\n`;
    writeFileSync(join(dir, "a.nn"), `import "alias.nn"\n${body("twice")}`);
    // A library imports next to itself, up to the model's folder (as specs/lib/*.nn import common.nn).
    writeFileSync(join(dir, "lib", "four.nn"), `import "../alias.nn"\nblock four(x) {\n  return twice(twice(x))\n}\n`);
    writeFileSync(join(dir, "b.nn"), `import "lib/four.nn"\n${body("four")}`);
    for (const f of ["a.nn", "b.nn"]) expect(await graphc("check", join(dir, f))).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("the file named on the command line: a device or a FIFO is refused at once, not read", { timeout: 30_000 }, async () => {
    const { dir } = sandbox();
    const refusedFiles: [string, string][] = [
      ["/dev/zero", "is not a regular file"],
      [join(dir, "fifo.nn"), "is not a regular file"],
      [join(dir, "folder.nn"), "is not a regular file"],
      [join(dir, "huge.nn"), "is larger than 16 MiB, the most a source file may be"],
      [join(dir, "latin1.nn"), "is not UTF-8 text (an invalid byte at line 1, column 19)"],
    ];
    const results = await Promise.all(refusedFiles.map(([path]) => graphc("check", path)));
    results.forEach((r, i) => {
      const [path, why] = refusedFiles[i]!;
      expect(r).toEqual({ code: 2, stdout: "", stderr: `graphc check: cannot read ${path}: it ${why}\n` });
    });
  });
});
