// What the benchmark engines measure of their own process.
import { existsSync, readFileSync } from "node:fs";

/**
 * This process's peak RSS. On Linux, getrusage's maxRSS survives execve and so starts at the size
 * of the (large) parent; VmHWM belongs to this process's own address space.
 */
export function peakRss(): number {
  const hwm = existsSync("/proc/self/status") ? /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8")) : null;
  return (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) * 1024;
}
