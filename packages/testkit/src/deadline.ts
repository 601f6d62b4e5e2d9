// Waiting with a deadline: racing a promise against one, and polling a check until it holds.
import { setTimeout as delay } from "node:timers/promises";
import { TimeoutError } from "./errors.js";

/**
 * Races `promise` against a deadline. The timer is cleared as soon as either side settles,
 * so a passed deadline never keeps the event loop (or a test worker) alive.
 */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`timed out after ${timeoutMs}ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface PollOptions {
  timeoutMs: number;
  /** Pause between attempts; polling is only used where no event exists (files, HTTP). */
  intervalMs?: number;
  /** Describes the condition in the timeout error. */
  what: string;
  /** Checked before each attempt: a reason to stop early (e.g. the process died). */
  abort?: () => Error | undefined;
}

/**
 * Calls `check` until it returns a value other than `undefined`, or the deadline passes.
 * Errors thrown by `check` count as "not yet" (the last one is attached to the timeout).
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: PollOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 25;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new TimeoutError(
        `timed out after ${options.timeoutMs}ms waiting for ${options.what}${why}`,
        {
          cause: lastError,
        },
      );
    }
    await delay(interval);
  }
}
