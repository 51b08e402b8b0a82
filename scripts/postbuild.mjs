// Marks the CLI entry executable after tsc (tsc does not keep modes).
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/src/cli/main.js', import.meta.url), 0o755);
