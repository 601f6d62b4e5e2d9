/**
 * Last-resort cleanup when the test process exits with fixtures still alive (a failed
 * test that never reached its `stop()`, a forgotten `await using`). Without it every such
 * run leaks a nats-server that holds ports and memory until someone notices.
 *
 * Only synchronous work is possible in an 'exit' handler, which is why cleanups here are
 * plain functions (process.kill + rmSync). The hook is installed on first use rather than
 * at import, so merely importing the package has no side effects.
 */
const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: one failing cleanup must not stop the others.
    }
  }
  cleanups.clear();
}

/** Registers `cleanup` to run at process exit; returns a function that unregisters it. */
export function registerExitCleanup(cleanup: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once("exit", runAll);
  }
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/** SIGKILLs `pid`, ignoring "no such process" (it may have exited on its own). */
export function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
