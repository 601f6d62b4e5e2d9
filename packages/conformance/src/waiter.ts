// Event-driven waiting with a deadline: whoever changes state calls notify(), waiters re-check.
// No polling and no sleeps as synchronisation; absence checks wait out a bounded window.

export class Changes {
  #waiters = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves true as soon as `check()` holds, false when `timeoutMs` passed first. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (): void => {
        if (check()) done(true);
      };
      const timer = setTimeout(() => done(check()), Math.max(0, timeoutMs));
      const done = (result: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(result);
      };
      this.#waiters.add(wake);
    });
  }

  /**
   * Resolves true once `count()` has not changed for `quietMs`, or false at `timeoutMs`: tells
   * "stopped sending" (waiting for credit, stopped) from "still sending".
   */
  quiet(count: () => number, quietMs: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      let last = count();
      let timer: NodeJS.Timeout | undefined;
      const done = (result: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(result);
      };
      const arm = (): void => {
        clearTimeout(timer);
        const left = deadline - Date.now();
        if (left <= 0) {
          done(false);
          return;
        }
        // Quiet for quietMs before the deadline: true; the deadline comes first: false.
        timer =
          left < quietMs
            ? setTimeout(() => done(false), left)
            : setTimeout(() => done(true), quietMs);
      };
      const wake = (): void => {
        const now = count();
        if (now === last) return;
        last = now;
        arm();
      };
      this.#waiters.add(wake);
      arm();
    });
  }
}

/** A window of time in which something must NOT happen (absence checks only). */
export const windowOf = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
