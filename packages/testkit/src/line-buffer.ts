// The bounded last lines of a process's output streams, with a listener per complete line.
import type { Readable } from "node:stream";

/**
 * Keeps the last `capacity` lines of one or more streams, and tells listeners about each
 * complete line as it arrives. Bounded so that a chatty long-running process (nats-server
 * with -D, a worker streaming logs) cannot grow memory without limit during a test run.
 */
export class LineBuffer {
  readonly #capacity: number;
  readonly #lines: { stream: string; text: string }[] = [];
  readonly #listeners = new Set<(line: string, stream: string) => void>();
  #dropped = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  /** Splits `stream` into lines (tagged with `name`) and records them. */
  attach(stream: Readable, name: string): void {
    stream.setEncoding("utf8");
    let partial = "";
    stream.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const part of parts) this.push(part.replace(/\r$/, ""), name);
    });
    // A last line without a trailing newline is still output worth showing.
    stream.on("end", () => {
      if (partial !== "") this.push(partial, name);
      partial = "";
    });
  }

  push(line: string, stream = "log"): void {
    this.#lines.push({ stream, text: line });
    if (this.#lines.length > this.#capacity) {
      this.#lines.shift();
      this.#dropped++;
    }
    for (const listener of this.#listeners) listener(line, stream);
  }

  /** Subscribes to future lines; returns the unsubscribe function. */
  onLine(listener: (line: string, stream: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The retained lines, oldest first, optionally only those of one stream. */
  lines(stream?: string): string[] {
    return this.#lines
      .filter((l) => stream === undefined || l.stream === stream)
      .map((l) => l.text);
  }

  /** The last `n` retained lines as text, prefixed with a note if older lines were dropped. */
  tail(n = this.#capacity): string {
    const kept = this.#lines.slice(-n).map((l) => l.text);
    const omitted = this.#dropped + (this.#lines.length - kept.length);
    return (omitted > 0 ? `[... ${omitted} earlier lines omitted]\n` : "") + kept.join("\n");
  }
}
