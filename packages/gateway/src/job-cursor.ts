// A job stream's resume position: the last seq handed out per execution, written as the SSE id
// (`<executionId>:<seq>,...`) so an EventSource's reconnect (Last-Event-ID) goes on exactly where
// it stopped in every execution. Execution ids never contain `:` or `,` (PROTOCOL.md's pattern).
import { isExecutionId, LIMITS } from "@tailwire/protocol";
import { bad, INTEGER } from "./query.js";

/**
 * Executions a cursor names at most: 64 ids of up to 200 characters and their seqs (about
 * 14 KB) stay under Node's 16 KiB header limit. Past that a job stream's SSE events stop carrying an id (see README).
 */
export const MAX_CURSOR_EXECUTIONS = 64;

export class JobCursor {
  readonly #seqs = new Map<string, number>();
  #text: string | undefined = "";

  /** The positions as the requester's `fromSeqs` option takes them. */
  get fromSeqs(): Record<string, number> {
    return Object.fromEntries(this.#seqs);
  }

  get size(): number {
    return this.#seqs.size;
  }

  advance(executionId: string, seq: number): void {
    this.#seqs.set(executionId, seq);
    this.#text = undefined;
  }

  /** The SSE id, or undefined once the cursor names more executions than an id may carry. */
  toString(): string | undefined {
    if (this.#seqs.size > MAX_CURSOR_EXECUTIONS) return undefined;
    if (this.#text === undefined) {
      const parts: string[] = [];
      for (const [id, seq] of this.#seqs) parts.push(`${id}:${seq}`);
      this.#text = parts.join(",");
    }
    return this.#text;
  }

  /** Parses a Last-Event-ID; a malformed one is a BAD_REQUEST naming what is wrong. */
  static parse(text: string): JobCursor {
    const cursor = new JobCursor();
    const trimmed = text.trim();
    if (trimmed === "") return cursor;
    const parts = trimmed.split(",");
    if (parts.length > MAX_CURSOR_EXECUTIONS) {
      throw bad(`Last-Event-ID names more than ${MAX_CURSOR_EXECUTIONS} executions`);
    }
    for (const part of parts) {
      const colon = part.lastIndexOf(":");
      const id = part.slice(0, colon);
      const seq = part.slice(colon + 1);
      if (colon < 0 || !isExecutionId(id) || !INTEGER.test(seq) || Number(seq) > LIMITS.maxSafe) {
        throw bad(
          "Last-Event-ID of a job stream must be <executionId>:<seq>,... as its events carry",
        );
      }
      if (cursor.#seqs.has(id)) throw bad(`Last-Event-ID names execution ${id} twice`);
      cursor.advance(id, Number(seq));
    }
    return cursor;
  }
}
