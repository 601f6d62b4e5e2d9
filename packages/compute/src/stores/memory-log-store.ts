import {
  BadRequestError,
  ExecutionNotFoundError,
  isExecutionId,
  isJobId,
  type LogEntry,
  type LogStreamName,
} from "@tailwire/protocol";
import {
  type CatalogChange,
  type CreateOptions,
  type ExecutionCatalog,
  ExecutionDirectory,
  type ExecutionInfo,
} from "../execution-catalog.js";
import type { LogReader, LogStore, ReadOptions } from "../log-source.js";
import { checkAppend } from "./append-checks.js";
import { ChangeSignal } from "./change-signal.js";

export interface MemoryLogStoreOptions {
  /** Entries kept per execution; older ones are dropped (sequence numbers keep counting). */
  maxEntriesPerExecution?: number;
  /** Most entries one batch of a read yields (and most entries it scans before yielding). */
  maxBatchEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BATCH = 4096;

/** One execution's log: a window of consecutive sequence numbers, oldest first. */
class ExecutionLog {
  /** entries[head] has seq firstSeq; entries before head are dropped but not yet compacted. */
  entries: LogEntry[] = [];
  head = 0;
  firstSeq = 1;
  lastSeq = 0;
  completed = false;
  exitCode: number | null = null;
  readonly changed = new ChangeSignal();

  /** The retained entry with this seq, if any: O(1) because seqs are consecutive. */
  at(seq: number): LogEntry | undefined {
    if (seq < this.firstSeq || seq > this.lastSeq) return undefined;
    return this.entries[this.head + (seq - this.firstSeq)];
  }

  /** The retained entries with seqs from..to (both retained), copied out in one step. */
  range(from: number, to: number): LogEntry[] {
    const start = this.head + (from - this.firstSeq);
    return this.entries.slice(start, start + (to - from) + 1);
  }

  push(entry: LogEntry, max: number): void {
    this.entries.push(entry);
    this.lastSeq = entry.seq;
    if (this.entries.length - this.head > max) {
      this.head++;
      this.firstSeq++;
      // Compact only once half the array is dead, so dropping stays amortised O(1).
      if (this.head > max && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    }
  }
}

/**
 * An in-memory, bounded LogStore: for tests, demos and nodes that do not need logs to survive
 * a restart. Follows are woken by appends (no polling).
 */
export class MemoryLogStore implements LogStore, ExecutionCatalog {
  readonly #logs = new Map<string, ExecutionLog>();
  /** Which job each execution belongs to, and who wants to know of new ones (locating). */
  readonly #directory = new ExecutionDirectory();
  readonly #maxEntries: number;
  readonly #maxBatch: number;

  constructor(options: MemoryLogStoreOptions = {}) {
    this.#maxEntries = positiveInt(
      options.maxEntriesPerExecution,
      DEFAULT_MAX_ENTRIES,
      "maxEntriesPerExecution",
    );
    this.#maxBatch = positiveInt(options.maxBatchEntries, DEFAULT_MAX_BATCH, "maxBatchEntries");
  }

  async create(executionId: string, options: CreateOptions = {}): Promise<void> {
    if (options.jobId !== undefined && !isJobId(options.jobId))
      throw new BadRequestError(`invalid job id ${JSON.stringify(options.jobId)}`);
    this.#getOrCreate(executionId, options.jobId);
  }

  async listExecutions(): Promise<{ executionId: string; jobId?: string }[]> {
    return this.#directory.list();
  }

  async describeExecution(executionId: string): Promise<ExecutionInfo | undefined> {
    const log = this.#logs.get(executionId);
    if (!log) return undefined;
    const jobId = this.#directory.jobOf(executionId);
    return {
      executionId,
      ...(jobId === undefined ? {} : { jobId }),
      lastSeq: log.lastSeq,
      completed: log.completed,
    };
  }

  watchExecutions(listener: (change: CatalogChange) => void): () => void {
    return this.#directory.watch(listener);
  }

  async append(
    executionId: string,
    stream: LogStreamName,
    line: string,
    time?: number,
  ): Promise<LogEntry> {
    checkAppend(stream, line, time);
    const log = this.#getOrCreate(executionId);
    if (log.completed)
      throw new Error(`execution ${executionId} is complete; it takes no more lines`);
    const entry: LogEntry = { seq: log.lastSeq + 1, stream, time: time ?? Date.now(), line };
    log.push(entry, this.#maxEntries);
    log.changed.notify();
    return entry;
  }

  async complete(executionId: string, exitCode: number | null): Promise<void> {
    const log = this.#getOrCreate(executionId);
    if (log.completed) return;
    log.completed = true;
    log.exitCode = exitCode;
    log.changed.notify();
  }

  /** Forgets an execution (memory is the only thing bounding it); open reads end as complete. */
  delete(executionId: string): boolean {
    const log = this.#logs.get(executionId);
    if (!log) return false;
    this.#logs.delete(executionId);
    this.#directory.removed(executionId);
    log.completed = true;
    log.changed.notify();
    return true;
  }

  /** Reads currently waiting for this execution to change (diagnostics, leak tests). */
  waitingReads(executionId: string): number {
    return this.#logs.get(executionId)?.changed.listenerCount ?? 0;
  }

  async open(executionId: string, options: ReadOptions): Promise<LogReader> {
    if (!isExecutionId(executionId))
      throw new BadRequestError(`invalid execution id ${JSON.stringify(executionId)}`);
    const log = this.#logs.get(executionId);
    if (!log) throw new ExecutionNotFoundError(`no logs for execution ${executionId}`);
    return new MemoryLogReader(log, options, this.#maxBatch);
  }

  #getOrCreate(executionId: string, jobId?: string): ExecutionLog {
    let log = this.#logs.get(executionId);
    if (!log) {
      if (!isExecutionId(executionId)) {
        throw new BadRequestError(`invalid execution id ${JSON.stringify(executionId)}`);
      }
      log = new ExecutionLog();
      this.#logs.set(executionId, log);
      this.#directory.created(executionId, jobId);
    }
    return log;
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer`);
  return value;
}

type Filter = (entry: LogEntry) => boolean;

function filterOf(options: ReadOptions): Filter | undefined {
  const { since, streams } = options;
  const oneStream = streams && streams.length === 1 ? streams[0] : undefined;
  if (since === undefined && oneStream === undefined) return undefined;
  return (e) =>
    (oneStream === undefined || e.stream === oneStream) && (since === undefined || e.time >= since);
}

/** The seq the read starts after: fromSeq, else the tail computed over matching entries. */
function startAfter(log: ExecutionLog, options: ReadOptions, filter: Filter | undefined): number {
  let after: number;
  if (options.fromSeq !== undefined) after = options.fromSeq;
  else if (options.tail === undefined) after = 0;
  else if (options.tail === 0) after = log.lastSeq;
  else if (!filter) {
    // Every retained entry matches and seqs are consecutive: the tail starts at a known seq.
    after = Math.max(log.firstSeq - 1, log.lastSeq - options.tail);
  } else {
    // Walk back from the newest entry until `tail` matching entries are behind us.
    let found = 0;
    after = log.firstSeq - 1;
    for (let seq = log.lastSeq; seq >= log.firstSeq; seq--) {
      const entry = log.at(seq);
      if (entry && (!filter || filter(entry)) && ++found === options.tail) {
        after = seq - 1;
        break;
      }
    }
  }
  // Dropped entries cannot be read: say so in afterSeq rather than pretend they were covered.
  return Math.max(after, log.firstSeq - 1);
}

class MemoryLogReader implements LogReader {
  readonly afterSeq: number;
  readonly lastSeqAtOpen: number;
  #position: number;
  #closed = false;
  readonly #log: ExecutionLog;
  readonly #options: ReadOptions;
  readonly #filter: Filter | undefined;
  readonly #maxBatch: number;
  /** Wakes a pending wait when close() is called. */
  readonly #closeSignal = new ChangeSignal();

  constructor(log: ExecutionLog, options: ReadOptions, maxBatch: number) {
    this.#log = log;
    this.#options = options;
    this.#filter = filterOf(options);
    this.#maxBatch = maxBatch;
    this.lastSeqAtOpen = log.lastSeq;
    this.afterSeq = startAfter(log, options, this.#filter);
    this.#position = this.afterSeq;
  }

  get position(): number {
    return this.#position;
  }

  get exitCode(): number | null {
    return this.#log.completed ? this.#log.exitCode : null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closeSignal.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry[]> {
    const log = this.#log;
    const { follow, signal } = this.#options;
    while (!this.#closed && !signal.aborted) {
      // A non-follow read ends at what existed when it was opened.
      const end = follow ? log.lastSeq : Math.min(this.lastSeqAtOpen, log.lastSeq);
      if (this.#position < end) {
        const batch = this.#collect(end);
        if (batch.length > 0) yield batch;
        continue;
      }
      if (!follow || log.completed) return;
      await waitForChange(log.changed, this.#closeSignal, signal);
    }
  }

  /** Up to maxBatch matching entries after position; scanning is bounded too, so filters never stall the loop. */
  #collect(end: number): LogEntry[] {
    const log = this.#log;
    const filter = this.#filter;
    // Entries dropped while we lagged behind are skipped: the oldest retained is next.
    let seq = Math.max(this.#position + 1, log.firstSeq);
    if (!filter) {
      // Every entry matches: the batch is a slice of the log (a copy in one step, not a loop).
      const last = Math.min(end, seq + this.#maxBatch - 1);
      this.#position = Math.max(this.#position, last);
      return seq <= last ? log.range(seq, last) : [];
    }
    const batch: LogEntry[] = [];
    const scanEnd = Math.min(end, seq + this.#maxBatch * 16 - 1);
    for (; seq <= scanEnd && batch.length < this.#maxBatch; seq++) {
      const entry = log.at(seq);
      if (entry && (!filter || filter(entry))) batch.push(entry);
    }
    this.#position = Math.max(this.#position, Math.min(seq - 1, end));
    return batch;
  }
}

/** Resolves on the next change of the log, close() or abort; leaves no listener behind. */
function waitForChange(
  changed: ChangeSignal,
  closed: ChangeSignal,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      changed.off(done);
      closed.off(done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    changed.on(done);
    closed.on(done);
    signal.addEventListener("abort", done, { once: true });
  });
}
