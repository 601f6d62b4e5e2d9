// Shared pieces of the resume tests: a compute node in its own process (fixtures/compute-node.mjs,
// built packages), a writer that appends lines while a follow runs, and a consumer that checks
// every sequence number arrives exactly once and in order.

import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { LogStore, LogStreamServerStats } from "@tailwire/compute";
import type { LogEntry, LogStream } from "@tailwire/requester";
import type { NodeProcess } from "@tailwire/testkit";
import { EventProcess, type ProcessEvent, startScript } from "../support/event-process.js";

const FIXTURES = new URL("./fixtures/", import.meta.url);
let tags = 0;

export interface ComputeConfig {
  urls: string[];
  nodeId: string;
  store: "memory" | "file";
  dir?: string;
  /** Memory store: lines per execution, appended before ready, then completed. */
  fill?: Record<string, number>;
  lineBytes?: number;
  pollIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  maxMissed?: number;
  maxFrameBytes?: number;
}

/** fixtures/compute-node.mjs: a LogStreamServer in its own process. */
export class ComputeProcess extends EventProcess {
  private constructor(proc: NodeProcess) {
    super(proc);
  }

  static async start(config: ComputeConfig, readyTimeoutMs = 60_000): Promise<ComputeProcess> {
    const proc = await startScript(new URL("compute-node.mjs", FIXTURES), config, {
      readyTimeoutMs,
    });
    return new ComputeProcess(proc);
  }

  async stats(): Promise<LogStreamServerStats> {
    const tag = `t${++tags}`;
    this.send(`stats ${tag}`);
    return (await this.event<ProcessEvent & { stats: LogStreamServerStats }>("stats", tag)).stats;
  }
}

/**
 * A NATS connection that fails over: `servers` in this order (no shuffling), reconnecting
 * forever, quickly. The caller closes it.
 */
export function connectTo(servers: string[], name: string): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    noRandomize: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 20,
  });
}

/** Resolves on the connection's next status event of this type ("disconnect", "reconnect"). */
export function nextStatus(nc: NatsConnection, type: string): Promise<string> {
  const status = nc.status() as AsyncIterable<{ type: string; server?: string }> & {
    stop?: () => void;
  };
  return (async () => {
    try {
      for await (const event of status) {
        if (event.type === type) return event.server ?? "";
      }
      throw new Error(`connection closed before a ${type} event`);
    } finally {
      status.stop?.();
    }
  })();
}

export interface Consumed {
  count: number;
  lastSeq: number;
  /** Every place where the sequence did not go up by exactly one (must stay empty). */
  violations: string[];
  error: unknown;
}

/**
 * Drains a stream, checking that seqs go 1, 2, 3, ... with nothing missing or repeated.
 * `onEntry` may return a promise to throttle the consumer.
 */
export async function consume(
  stream: LogStream,
  options: {
    firstSeq?: number;
    onEntry?: (entry: LogEntry, count: number) => void | Promise<void>;
  } = {},
): Promise<Consumed> {
  let expected = options.firstSeq ?? 1;
  let count = 0;
  const violations: string[] = [];
  try {
    for await (const item of stream) {
      const entry = item as LogEntry; // no retention here: a notice fails the seq check
      if (entry.seq !== expected && violations.length < 20) {
        violations.push(`expected seq ${expected}, got ${entry.seq}`);
      }
      expected = entry.seq + 1;
      count++;
      const pending = options.onEntry?.(entry, count);
      if (pending) await pending;
    }
    return { count, lastSeq: expected - 1, violations, error: undefined };
  } catch (error) {
    return { count, lastSeq: expected - 1, violations, error };
  }
}

/**
 * Appends lines to an execution in the background: `perTick` lines every `tickMs`, until
 * stop(), then completes it. Lines are numbered by seq so a test can check content too.
 */
export class Writer {
  written = 0;
  readonly #store: LogStore;
  readonly #executionId: string;
  #stopped = false;
  readonly #done: Promise<void>;
  #failure: unknown;

  constructor(store: LogStore, executionId: string, perTick = 10, tickMs = 5) {
    this.#store = store;
    this.#executionId = executionId;
    this.#done = this.#run(perTick, tickMs).catch((error: unknown) => {
      this.#failure = error;
    });
  }

  async #run(perTick: number, tickMs: number): Promise<void> {
    while (!this.#stopped) {
      for (let i = 0; i < perTick; i++) {
        const n = this.written + 1;
        await this.#store.append(this.#executionId, n % 7 === 0 ? "stderr" : "stdout", lineOf(n));
        this.written = n;
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    await this.#store.complete(this.#executionId, 0);
  }

  /** Waits until at least `n` lines are written (the writer runs on timers: no busy wait). */
  async until(n: number, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.written < n) {
      if (this.#failure) throw this.#failure;
      if (performance.now() > deadline) throw new Error(`writer reached ${this.written} of ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops writing and completes the execution; resolves with the number of lines written. */
  async stop(): Promise<number> {
    this.#stopped = true;
    await this.#done;
    if (this.#failure) throw this.#failure;
    return this.written;
  }
}

export const lineOf = (seq: number): string => `line ${seq} ${"y".repeat(seq % 50)}`;

/** A deadline for things the event loop delivers (not a sleep): rejects with `what` if late. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
