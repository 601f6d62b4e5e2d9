// Process probes for the testkit's own tests: does a pid exist, is it stopped (SIGSTOP).
import { readFileSync } from "node:fs";

/** True while `pid` names a process (signal 0 probes without delivering anything). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The scheduler state letter from /proc (Linux): "T" means stopped by SIGSTOP. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces; the state follows it.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}
