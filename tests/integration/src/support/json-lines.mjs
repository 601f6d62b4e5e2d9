// The script side of the fixtures' JSON-line convention (support/event-process.ts is the test
// side), shared by the chaos and scale fixture scripts so that each keeps only what it serves:
// its config is the one argument, it prints one JSON object per stdout line with `ev` first,
// `id` second and `t` = Date.now() last, and it reads one command per stdin line.
// Plain .mjs with no package imports: fixture scripts run under node as they are.
import { createInterface } from "node:readline";

/** The JSON config the harness passed as the one argument. */
export function readConfig() {
  return JSON.parse(process.argv[2] ?? "{}");
}

/** Prints one event line: `{"ev":...,"id":...,...fields,"t":...}`. */
export function emit(ev, id, fields = {}) {
  process.stdout.write(`${JSON.stringify({ ev, id, ...fields, t: Date.now() })}\n`);
}

/**
 * Calls `handle(word, args)` for every stdin line, split on whitespace. Returns the readline
 * interface (close it to stop reading).
 */
export function onCommand(handle) {
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (text) => {
    const [word, ...args] = text.trim().split(/\s+/);
    handle(word, args);
  });
  return lines;
}

/** `options` without its undefined entries: config values left out keep the library defaults. */
export function defined(options) {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
