import type { Logger } from "@tailwire/protocol";

export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string | undefined;
  at: number;
}

/** A Logger that keeps what it is told, so tests can wait for an event and see when it happened. */
export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  #waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  debug(obj: object, msg?: string): void {
    this.#record("debug", obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.#record("info", obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.#record("warn", obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.#record("error", obj, msg);
  }

  find(match: (r: LogRecord) => boolean): LogRecord[] {
    return this.records.filter(match);
  }

  /** The first record (past or future) that matches; rejects at the deadline. */
  next(match: (r: LogRecord) => boolean, timeoutMs = 5000): Promise<LogRecord> {
    const found = this.records.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs}ms waiting for a log record`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (r: LogRecord) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  #record(level: LogRecord["level"], obj: object, msg: string | undefined): void {
    const record = { level, obj: obj as Record<string, unknown>, msg, at: performance.now() };
    this.records.push(record);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(record)) return true;
      w.resolve(record);
      return false;
    });
  }
}

/** Matches the one "log stream ended" record of a stream. */
export const endedRecord =
  (streamId: string) =>
  (r: LogRecord): boolean =>
    r.msg === "log stream ended" && r.obj["streamId"] === streamId;
