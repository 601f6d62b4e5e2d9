// Helpers of hostile-input.slow.test.ts: a recording logger, a message collector, the payloads
// of the hostile table and a trap for exceptions nobody caught.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { LogEntry, Logger } from "@tailwire/protocol";
import type { LogStream } from "@tailwire/requester";

export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** Keeps every record, so a test can assert that a rejection was logged (and nothing failed). */
export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  debug(obj: object, msg?: string): void {
    this.#push("debug", obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.#push("info", obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.#push("warn", obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.#push("error", obj, msg);
  }
  count(match: (r: LogRecord) => boolean): number {
    return this.records.filter(match).length;
  }
  #push(level: LogRecord["level"], obj: object, msg: string | undefined): void {
    this.records.push({ level, obj: obj as Record<string, unknown>, msg });
  }
}

/** Every message received on one (wildcard) subscription, by subject. */
export class Collector {
  readonly #bySubject = new Map<string, Msg[]>();
  readonly #sub: Subscription;

  constructor(nc: NatsConnection, subject: string) {
    this.#sub = nc.subscribe(subject, {
      callback: (_err, msg) => {
        const list = this.#bySubject.get(msg.subject) ?? [];
        list.push(msg);
        this.#bySubject.set(msg.subject, list);
      },
    });
  }

  on(subject: string): Msg[] {
    return this.#bySubject.get(subject) ?? [];
  }

  /** Subjects that received anything and end with `suffix` (a stream id). */
  subjectsEndingWith(suffix: string): string[] {
    return [...this.#bySubject.keys()].filter((subject) => subject.endsWith(suffix));
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

/** Everything a LogStream yields, live, and how it ended. */
export interface Drained {
  entries: LogEntry[];
  done: Promise<{ error?: unknown }>;
}

export function drain(stream: LogStream): Drained {
  const entries: LogEntry[] = [];
  const done = (async () => {
    try {
      for await (const entry of stream) entries.push(entry as LogEntry);
      return {};
    } catch (error) {
      return { error };
    }
  })();
  return { entries, done };
}

/** Records uncaught exceptions and unhandled rejections of this process while installed. */
export class ExceptionTrap {
  readonly caught: unknown[] = [];
  readonly #onError = (error: unknown) => {
    this.caught.push(error);
  };

  install(): void {
    process.on("uncaughtException", this.#onError);
    process.on("unhandledRejection", this.#onError);
  }

  uninstall(): void {
    process.off("uncaughtException", this.#onError);
    process.off("unhandledRejection", this.#onError);
  }
}

const encoder = new TextEncoder();
export const text = (s: string): Uint8Array => encoder.encode(s);
export const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

/** `{"type":"<ff fe>"}`: a lone 0xff / 0xfe is never valid UTF-8. */
export const INVALID_UTF8 = Uint8Array.from([
  0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d,
]);

/** Garbage every subscriber must survive, whatever its subject: [name, payload]. */
export const GARBAGE: readonly (readonly [string, Uint8Array])[] = [
  ["invalid JSON", text('{"type":')],
  ["invalid UTF-8", INVALID_UTF8],
  ["an empty payload", new Uint8Array(0)],
  ["a JSON array", json([1, 2, 3])],
  ["JSON null", json(null)],
  ["a JSON number", json(42)],
  ["a JSON string", json("ExecutionLogs.Request/v1")],
  ["an object without type", json({ hello: "world" })],
  ["a numeric type", json({ type: 7 })],
  ["an unknown message type", json({ type: "ExecutionLogs.Frobnicate/v1" })],
  ["a future version", json({ type: "ExecutionLogs.Request/v2" })],
];

export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
