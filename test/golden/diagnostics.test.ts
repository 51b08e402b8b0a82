// Golden tests of user errors: each test/golden/diagnostics/NAME.nn is elaborated and its
// rendered diagnostics, as `graphc check` prints them, are compared with NAME.stderr.
// GRAPHC_BLESS=1 (npm run bless) rewrites the .stderr files instead.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { elaborateFile, renderDiagnostic } from "../../src/frontend/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = "test/golden/diagnostics";
const bless = process.env.GRAPHC_BLESS === "1";

// Paths in the output are relative to the repository root, so it is the same on every machine.
process.chdir(root);

/** What `graphc check` writes to stderr. */
function render(file: string): string {
  const r = elaborateFile(file);
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  const text = r.diagnostics.map((d) => renderDiagnostic(d, r.sources) + "\n\n").join("");
  return `${text}${errors} error${errors === 1 ? "" : "s"}\n`;
}

const cases = readdirSync(dir).filter((f) => f.endsWith(".nn")).sort();

describe("diagnostics", () => {
  test("there are enough cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  for (const name of cases) {
    test(name, () => {
      const nn = `${dir}/${name}`;
      const expectedFile = nn.replace(/\.nn$/, ".stderr");
      const actual = render(nn);
      expect(actual, "a diagnostics case must report at least one error").not.toMatch(/^0 errors/m);
      if (bless) {
        writeFileSync(expectedFile, actual);
        return;
      }
      if (!existsSync(expectedFile)) throw new Error(`${expectedFile} is missing; run \`npm run bless\` and review it`);
      expect(actual).toBe(readFileSync(expectedFile, "utf8"));
    });
  }
});
