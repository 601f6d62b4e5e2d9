// A whole job's logs at once: every execution of the job, on every compute node that holds
// one, merged in capture-time order, with executions that start later (a retry elsewhere)
// joining while it follows.
import {
  ExecutionNotFoundError,
  InternalError,
  type LogEntry,
  type LogStreamName,
  type TailwireError,
} from "@tailwire/protocol";
import { integerOption } from "@tailwire/protocol/internal";
import { EntryQueue } from "./entry-queue.js";
import type { ExecutionLocator, LocatedExecution } from "./execution-locator.js";
import type { LogStream } from "./log-stream.js";
import { isRemovedNotice } from "./notices.js";
import type { StreamLogsOptions } from "./options.js";

export interface StreamJobLogsOptions {
  jobId: string;
  /** Keep streaming until every execution has ended and no new one appears (see settleMs). */
  follow?: boolean;
  /** The last N lines of each execution. */
  tail?: number;
  /** Only lines captured at or after this time. */
  since?: Date | number;
  streams?: readonly LogStreamName[];
  /**
   * Resume a job stream: for each execution listed, only entries with seq > its value (the last
   * seq a previous stream handed out for it, e.g. from a gateway's SSE id). Executions not listed
   * start as tail/since say.
   */
  fromSeqs?: Readonly<Record<string, number>>;
  /** Executions streamed at once (kubectl's --max-log-requests); the rest wait (default 10). */
  maxStreams?: number;
  /**
   * How long an entry may wait for an earlier one from another execution (default 250 ms):
   * output is in capture-time order across executions whose lines arrive within this of each
   * other; each execution's own lines are always in seq order.
   */
  reorderWindowMs?: number;
  /** While following, how often to look for new executions of the job (default 1 000 ms). */
  rediscoverMs?: number;
  /**
   * While following, how long after the last execution ended (or, with none found yet, after the
   * start) a new one may still appear before the stream ends (default 3 000 ms).
   */
  settleMs?: number;
  signal?: AbortSignal;
}

/** What a job stream hands out, in order. */
export type JobLogItem =
  | ({ type: "entry"; executionId: string; computeNodeId: string } & LogEntry)
  | { type: "started"; executionId: string; computeNodeId: string }
  | {
      type: "removed";
      executionId: string;
      computeNodeId: string;
      /** Lines fromSeq..toSeq of this execution were removed by the compute node's retention. */
      fromSeq: number;
      toSeq: number;
      reason: string;
    }
  | {
      type: "ended";
      executionId: string;
      computeNodeId: string;
      /** The execution's exit code from its End (null when unknown), undefined when it failed. */
      exitCode: number | null | undefined;
      /** Why this execution's stream failed (its node died, ...); the others go on. */
      error?: TailwireError;
    };

type Entry = Extract<JobLogItem, { type: "entry" }>;
type Removed = Extract<JobLogItem, { type: "removed" }>;
/**
 * What an execution's queue holds. A removal notice is merged where it arrived among its
 * execution's lines, so it carries the capture time of the line before it (not handed out).
 */
type Queued = Entry | (Removed & { time: number });

interface Execution {
  readonly executionId: string;
  readonly computeNodeId: string;
  /** Entries received and not yet handed out, with their arrival times. */
  readonly queue: EntryQueue<Queued>;
  state: "waiting" | "streaming" | "ended";
  stream: LogStream | undefined;
  /** The capture time of its last line received (-Infinity before any). */
  lastTime: number;
  /** Reported "ended" (after its queue drained). */
  reported: boolean;
  exitCode: number | null | undefined;
  error: TailwireError | undefined;
  /** Resolves the pump waiting for room in the queue. */
  room: (() => void) | undefined;
}

/** Entries queued per execution before its stream is paused (its credit then holds the node). */
const MAX_QUEUED = 4096;

/** The client's part a job stream uses. */
export interface JobStreamHost {
  locator: ExecutionLocator;
  streamLogs(options: StreamLogsOptions): LogStream;
}

/**
 * Iterate it once. Ends normally when every execution ended (each reported by an "ended" item
 * with its exit code or error) and, when following, no new execution appeared within settleMs.
 * A job with no execution found ends with ExecutionNotFoundError.
 */
export class JobLogStream implements AsyncIterable<JobLogItem> {
  readonly jobId: string;
  readonly #host: JobStreamHost;
  readonly #options: StreamJobLogsOptions;
  readonly #follow: boolean;
  readonly #maxStreams: number;
  readonly #windowMs: number;
  readonly #rediscoverMs: number;
  readonly #settleMs: number;
  readonly #executions = new Map<string, Execution>();
  readonly #announce: JobLogItem[] = [];
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  #lastChangeAt = performance.now();
  #rediscoverTimer: NodeJS.Timeout | undefined;
  #located = false;
  #failure: TailwireError | undefined;
  #done = false;
  #iterated = false;

  constructor(host: JobStreamHost, options: StreamJobLogsOptions) {
    this.jobId = options.jobId;
    this.#host = host;
    this.#options = options;
    this.#follow = options.follow ?? false;
    this.#maxStreams = integerOption("maxStreams", options.maxStreams ?? 10, 1);
    this.#windowMs = integerOption("reorderWindowMs", options.reorderWindowMs ?? 250, 0);
    this.#rediscoverMs = integerOption("rediscoverMs", options.rediscoverMs ?? 1_000, 1);
    this.#settleMs = integerOption("settleMs", options.settleMs ?? 3_000, 0);
    const signal = options.signal;
    if (signal?.aborted) this.cancel();
    else signal?.addEventListener("abort", () => this.cancel(), { once: true });
    void this.#discover();
  }

  /** Every execution seen so far and how it stands. */
  get executions(): { executionId: string; computeNodeId: string; state: string }[] {
    return [...this.#executions.values()].map((e) => ({
      executionId: e.executionId,
      computeNodeId: e.computeNodeId,
      state: e.state,
    }));
  }

  /** Stops every execution's stream; iteration ends quietly. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#abort.abort();
    clearTimeout(this.#rediscoverTimer);
    for (const e of this.#executions.values()) {
      e.stream?.cancel();
      e.room?.();
    }
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobLogItem> {
    if (this.#iterated) throw new TypeError("a JobLogStream is iterated once");
    this.#iterated = true;
    try {
      for (;;) {
        const item = this.#take();
        if (item) {
          yield item;
          continue;
        }
        // #finished() may itself conclude the job was never found: check for failure after it.
        const finished = !this.#done && this.#finished();
        if (this.#failure) throw this.#failure;
        if (this.#done || finished) return;
        await this.#waitForChange();
      }
    } finally {
      this.cancel();
    }
  }

  // --- discovery ---

  async #discover(): Promise<void> {
    if (this.#done) return;
    let found: LocatedExecution[];
    try {
      found = await this.#host.locator.locateJob(this.jobId, { signal: this.#abort.signal });
    } catch (error) {
      if (!this.#done) this.#fail(error);
      return;
    }
    if (this.#done) return;
    this.#located = true;
    for (const located of found) this.#add(located);
    this.#startWaiting();
    if (this.#follow) {
      this.#rediscoverTimer = setTimeout(() => void this.#discover(), this.#rediscoverMs);
    }
    this.#notify();
  }

  #add(located: LocatedExecution): void {
    const known = this.#executions.get(located.executionId);
    if (known) return; // the same execution from another node: the first one found serves it
    this.#executions.set(located.executionId, {
      executionId: located.executionId,
      computeNodeId: located.computeNodeId,
      queue: new EntryQueue<Queued>(),
      lastTime: Number.NEGATIVE_INFINITY,
      state: "waiting",
      stream: undefined,
      reported: false,
      exitCode: undefined,
      error: undefined,
      room: undefined,
    });
    this.#lastChangeAt = performance.now();
  }

  /** Starts waiting executions while fewer than maxStreams stream. */
  #startWaiting(): void {
    let streaming = 0;
    for (const e of this.#executions.values()) if (e.state === "streaming") streaming++;
    for (const e of this.#executions.values()) {
      if (streaming >= this.#maxStreams || this.#done) return;
      if (e.state !== "waiting") continue;
      streaming++;
      this.#start(e);
    }
  }

  #start(e: Execution): void {
    const o = this.#options;
    const fromSeq = o.fromSeqs?.[e.executionId];
    e.state = "streaming";
    this.#announce.push({
      type: "started",
      executionId: e.executionId,
      computeNodeId: e.computeNodeId,
    });
    const stream = this.#host.streamLogs({
      computeNodeId: e.computeNodeId,
      executionId: e.executionId,
      follow: this.#follow,
      ...(fromSeq !== undefined ? { fromSeq } : o.tail === undefined ? {} : { tail: o.tail }),
      ...(o.since === undefined ? {} : { since: o.since }),
      ...(o.streams === undefined ? {} : { streams: o.streams }),
    });
    e.stream = stream;
    void this.#pump(e, stream);
  }

  async #pump(e: Execution, stream: LogStream): Promise<void> {
    try {
      // A frame's worth at a time: one await per batch, not per line.
      for await (const batch of stream.batches()) {
        if (this.#done) return;
        const now = performance.now();
        if (isRemovedNotice(batch)) {
          e.queue.push(
            {
              type: "removed",
              executionId: e.executionId,
              computeNodeId: e.computeNodeId,
              fromSeq: batch.fromSeq,
              toSeq: batch.toSeq,
              reason: batch.reason,
              time: e.lastTime,
            },
            now,
          );
          this.#notify();
          continue;
        }
        for (const entry of batch as readonly LogEntry[]) {
          e.lastTime = entry.time;
          e.queue.push(
            {
              type: "entry",
              executionId: e.executionId,
              computeNodeId: e.computeNodeId,
              seq: entry.seq,
              stream: entry.stream,
              time: entry.time,
              line: entry.line,
            },
            now,
          );
        }
        this.#notify();
        if (e.queue.length >= MAX_QUEUED) {
          await new Promise<void>((resolve) => {
            e.room = resolve;
          });
          e.room = undefined;
        }
      }
      e.exitCode = stream.exitCode ?? null;
    } catch (error) {
      e.error = error as TailwireError;
    }
    e.state = "ended";
    this.#lastChangeAt = performance.now();
    this.#startWaiting();
    this.#notify();
  }

  // --- merging ---

  /** The next item to hand out now, or undefined to wait. */
  #take(): JobLogItem | undefined {
    const announced = this.#announce.shift();
    if (announced) return announced;
    let head: Execution | undefined;
    /** The earliest time an idle streaming execution may still send (its last line's). */
    let idleFrom = Number.POSITIVE_INFINITY;
    for (const e of this.#executions.values()) {
      if (e.queue.length === 0) {
        if (e.state === "ended" && !e.reported) return this.#reportEnd(e);
        // A streaming execution with nothing queued may still send a line, but (its capture
        // times never go back: stores keep them in order) none before its last one.
        if (e.state === "streaming") idleFrom = Math.min(idleFrom, e.lastTime);
        continue;
      }
      if (!head || earlier(e.queue.first as Queued, head.queue.first as Queued)) head = e;
    }
    if (!head) return undefined;
    // Behind what an idle execution may still send: wait for it, within the reorder window.
    if (
      (head.queue.first as Queued).time > idleFrom &&
      performance.now() - (head.queue.firstArrived as number) < this.#windowMs
    )
      return undefined;
    const item = head.queue.shift() as Queued;
    if (head.queue.length < MAX_QUEUED / 2) head.room?.();
    if (item.type === "entry") return item;
    const { time: _mergedAt, ...removed } = item;
    return removed;
  }

  #reportEnd(e: Execution): JobLogItem {
    e.reported = true;
    return {
      type: "ended",
      executionId: e.executionId,
      computeNodeId: e.computeNodeId,
      exitCode: e.error ? undefined : e.exitCode,
      ...(e.error ? { error: e.error } : {}),
    };
  }

  /** Every execution ended and was reported, and (following) none appeared within settleMs. */
  #finished(): boolean {
    if (!this.#located) return false;
    for (const e of this.#executions.values()) if (!e.reported) return false;
    if (this.#executions.size === 0 && !this.#follow) {
      this.#fail(new ExecutionNotFoundError(`no execution of job ${this.jobId} was found`));
      return false;
    }
    if (!this.#follow) return true;
    if (performance.now() - this.#lastChangeAt < this.#settleMs) return false;
    if (this.#executions.size === 0) {
      this.#fail(
        new ExecutionNotFoundError(
          `no execution of job ${this.jobId} appeared within ${this.#settleMs} ms`,
        ),
      );
      return false;
    }
    return true;
  }

  /** Resolves on any change, or when the oldest held entry or the settle time is due. */
  #waitForChange(): Promise<void> {
    let dueMs = Number.POSITIVE_INFINITY;
    for (const e of this.#executions.values()) {
      const first = e.queue.firstArrived;
      if (first !== undefined) dueMs = Math.min(dueMs, first + this.#windowMs - performance.now());
    }
    if (this.#follow && this.#located) {
      dueMs = Math.min(dueMs, this.#lastChangeAt + this.#settleMs - performance.now());
    }
    return new Promise<void>((resolve) => {
      const timer =
        dueMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(resolve, Math.max(1, Math.ceil(dueMs)));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #fail(error: unknown): void {
    this.#failure =
      error instanceof Error && "code" in error
        ? (error as TailwireError)
        : new InternalError("the job stream failed", { cause: error });
    this.#done = true;
    this.#cancelStreams();
    this.#notify();
  }

  #cancelStreams(): void {
    clearTimeout(this.#rediscoverTimer);
    for (const e of this.#executions.values()) e.stream?.cancel();
  }
}

/** Capture time first; equal times keep one execution's order and order executions by id. */
function earlier(a: Queued, b: Queued): boolean {
  if (a.time !== b.time) return a.time < b.time;
  return a.executionId < b.executionId;
}
