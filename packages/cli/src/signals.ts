/**
 * Calls `handler` once, on the first SIGINT or SIGTERM. While the handler's work runs, another
 * SIGTERM is ignored (a supervisor repeating itself must not cut a graceful shutdown short), but
 * a second SIGINT exits at once with 130: the user pressed Ctrl-C twice.
 */
export function onTerminate(handler: (signal: "SIGINT" | "SIGTERM") => void): () => void {
  let fired = false;
  const on = (signal: "SIGINT" | "SIGTERM") => () => {
    if (fired) {
      if (signal === "SIGINT") process.exit(130);
      return;
    }
    fired = true;
    handler(signal);
  };
  const onInt = on("SIGINT");
  const onTerm = on("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return () => {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  };
}
