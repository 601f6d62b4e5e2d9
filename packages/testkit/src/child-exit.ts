// A child process's exit: watching for it from spawn on, signalling quietly, and terminating with
// escalation to SIGKILL.
import type { ChildProcess } from "node:child_process";
import { withDeadline } from "./deadline.js";

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Tracks a child's exit from the moment it is spawned, so later callers can await it
 * without racing the 'exit' event (which fires once and is missed if nobody listens).
 */
export class ExitWatcher {
  readonly exited: Promise<ExitStatus>;
  /** Settles once the process exited and its stdio streams are drained. */
  readonly closed: Promise<void>;
  #status: ExitStatus | undefined;

  constructor(child: ChildProcess) {
    this.closed = new Promise<void>((resolve) => {
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    this.exited = new Promise<ExitStatus>((resolve) => {
      const done = (status: ExitStatus) => {
        this.#status ??= status;
        resolve(this.#status);
      };
      child.once("exit", (code, signal) => done({ code, signal }));
      // A failed spawn (ENOENT, EACCES) emits 'error' and possibly no 'exit'.
      child.once("error", () => done({ code: null, signal: null }));
    });
  }

  /** The exit status, or undefined while the process is still running. */
  get status(): ExitStatus | undefined {
    return this.#status;
  }

  wait(timeoutMs: number, what: string): Promise<ExitStatus> {
    return withDeadline(this.exited, timeoutMs, what);
  }

  /**
   * Exit status once the output is complete: 'exit' can fire before the last stderr
   * chunk (often the actual error message) has been read. Bounded, because a grandchild
   * holding the pipes open would otherwise delay this forever.
   */
  async settled(drainMs = 1_000): Promise<ExitStatus> {
    const status = await this.exited;
    await withDeadline(this.closed, drainMs, "stdio to close").catch(() => undefined);
    return status;
  }
}

/** Sends `signal`, ignoring ESRCH (the process exited in the meantime). */
export function signalQuietly(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Sends `signal` and waits for exit; escalates to SIGKILL if the process outlives
 * `graceMs`. A SIGSTOPped process cannot act on SIGTERM until continued, so it gets a
 * SIGCONT right after the signal.
 */
export async function terminate(
  child: ChildProcess,
  watcher: ExitWatcher,
  options: { signal?: NodeJS.Signals; graceMs?: number; what: string },
): Promise<ExitStatus> {
  if (watcher.status) return watcher.status;
  const signal = options.signal ?? "SIGTERM";
  signalQuietly(child, signal);
  if (signal !== "SIGKILL") signalQuietly(child, "SIGCONT");
  try {
    return await watcher.wait(options.graceMs ?? 5_000, `${options.what} to exit on ${signal}`);
  } catch {
    signalQuietly(child, "SIGKILL");
    return watcher.wait(5_000, `${options.what} to exit on SIGKILL`);
  }
}
