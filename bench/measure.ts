// What the benchmarks measure: their own process's peak RSS, and the median of repeated timings.
import { existsSync, readFileSync } from "node:fs";

/**
 * This process's peak RSS. On Linux, getrusage's maxRSS survives execve and so starts at the size
 * of the (large) parent; VmHWM belongs to this process's own address space.
 */
export function peakRss(): number {
  const hwm = existsSync("/proc/self/status") ? /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8")) : null;
  return (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) * 1024;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
