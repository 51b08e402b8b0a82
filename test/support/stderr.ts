// What the code under test writes to process.stderr, captured per test instead of printed.
import { afterEach, beforeEach, vi } from "vitest";

export interface Captured {
  /** What this test has written so far. */
  readonly text: string;
  clear(): void;
}

/** Installs the capture for the enclosing suite (fresh for each test). */
export function captureStderr(): Captured {
  let text = "";
  beforeEach(() => {
    text = "";
    vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      text += String(s);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());
  return {
    get text() {
      return text;
    },
    clear: () => void (text = ""),
  };
}
