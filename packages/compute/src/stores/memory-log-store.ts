import {
  BadRequestError,
  ExecutionNotFoundError,
  isExecutionId,
  isJobId,
  type LogEntry,
  type LogStreamName,
} from "@tailwire/protocol";
import { integerOption } from "@tailwire/protocol/internal";
import {
  type CatalogChange,
  type CreateOptions,
  type ExecutionCatalog,
  ExecutionDirectory,
  type ExecutionInfo,
} from "../execution-catalog.js";
import {
  type LogReader,
  type LogReadItem,
  type LogStore,
  type ReadOptions,
  type RemovedLines,
  removedLines,
} from "../log-source.js";
import { checkAppend } from "./append-checks.js";
import { ChangeSignal } from "./change-signal.js";
import {
  MEMORY_RETENTION_DEFAULTS,
  type RetentionLimits,
  type RetentionOptions,
  retentionLimits,
  type StoreUsage,
} from "./retention-limits.js";

/** What an entry is counted as against the byte limits: its line's characters plus this. */
export const MEMORY_ENTRY_OVERHEAD = 64;

export interface MemoryLogStoreOptions extends RetentionOptions {
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
  /** Counted bytes of the retained entries (see MEMORY_ENTRY_OVERHEAD). */
  bytes = 0;
  completed = false;
  /** Date.now() at completion. */
  completedAt = 0;
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

  /** Appends; drops the oldest entries past `maxEntries` or `maxBytes` (the newest stays). */
  push(entry: LogEntry, maxEntries: number, maxBytes: number): void {
    this.entries.push(entry);
    this.lastSeq = entry.seq;
    this.bytes += entry.line.length + MEMORY_ENTRY_OVERHEAD;
    while (
      this.entries.length - this.head > 1 &&
      (this.entries.length - this.head > maxEntries || this.bytes > maxBytes)
    ) {
      this.dropOldest();
    }
  }

  /** Drops the oldest retained entry (seqs keep counting); returns its counted bytes. */
  dropOldest(): number {
    const dropped = this.entries[this.head]!;
    const bytes = dropped.line.length + MEMORY_ENTRY_OVERHEAD;
    this.entries[this.head] = undefined as unknown as LogEntry; // let the line be collected
    this.head++;
    this.firstSeq++;
    this.bytes -= bytes;
    // Compact only once half the array is dead, so dropping stays amortised O(1).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return bytes;
  }
}

/**
 * An in-memory, bounded LogStore: for tests, demos and nodes that do not need logs to survive
 * a restart. Follows are woken by appends (no polling).
 *
 * Retention: each execution keeps at most `maxEntriesPerExecution` entries and `maxLogBytes`;
 * the store at most `maxStoreBytes` (completed executions go first, oldest completion first, then
 * the oldest entries of the largest running one) and a completed execution at most `maxLogAgeMs`.
 * Seqs never change; a read that covers removed entries gets a RemovedLines notice for them.
 */
export class MemoryLogStore implements LogStore, ExecutionCatalog {
  readonly #logs = new Map<string, ExecutionLog>();
  /** Which job each execution belongs to, and who wants to know of new ones (locating). */
  readonly #directory = new ExecutionDirectory();
  /** Completed executions, in completion order (oldest first). */
  readonly #completedOrder = new Set<string>();
  readonly #maxEntries: number;
  readonly #maxBatch: number;
  readonly #limits: RetentionLimits;
  #totalBytes = 0;
  #executionsRemoved = 0;
  #lastAgeSweep = 0;

  constructor(options: MemoryLogStoreOptions = {}) {
    this.#maxEntries = integerOption(
      "maxEntriesPerExecution",
      options.maxEntriesPerExecution ?? DEFAULT_MAX_ENTRIES,
      1,
    );
    this.#maxBatch = integerOption(
      "maxBatchEntries",
      options.maxBatchEntries ?? DEFAULT_MAX_BATCH,
      1,
    );
    this.#limits = retentionLimits(options, MEMORY_RETENTION_DEFAULTS, "MemoryLogStore");
  }

  /** The retention limits in force. */
  get limits(): Readonly<RetentionLimits> {
    return this.#limits;
  }

  /** Bytes held per execution and in total (line characters plus an overhead per entry). */
  usage(): StoreUsage {
    const executions: Record<string, number> = {};
    for (const [id, log] of this.#logs) executions[id] = log.bytes;
    return { totalBytes: this.#totalBytes, executions, executionsRemoved: this.#executionsRemoved };
  }

  /**
   * Applies the age limit now (it also runs by itself, at most once a second, on appends and
   * opens): completed executions older than maxLogAgeMs are forgotten.
   */
  sweep(now = Date.now()): StoreUsage {
    this.#lastAgeSweep = now;
    if (this.#limits.maxLogAgeMs !== Number.POSITIVE_INFINITY) {
      for (const id of this.#completedOrder) {
        const log = this.#logs.get(id);
        if (log === undefined || now - log.completedAt <= this.#limits.maxLogAgeMs) break;
        this.#remove(id);
        this.#executionsRemoved++;
      }
    }
    return this.usage();
  }

  #maybeSweep(): void {
    if (this.#limits.maxLogAgeMs === Number.POSITIVE_INFINITY) return;
    const now = Date.now();
    if (now - this.#lastAgeSweep >= 1000) this.sweep(now);
  }

  /** Over the store budget: completed executions go first, then the largest running one's oldest. */
  #enforceStoreBudget(): void {
    const max = this.#limits.maxStoreBytes;
    if (this.#totalBytes <= max) return;
    // Down to 90%, so that a store at its budget does not search on every append.
    const target = Math.floor(max * 0.9);
    for (const id of this.#completedOrder) {
      if (this.#totalBytes <= target) return;
      this.#remove(id);
      this.#executionsRemoved++;
    }
    while (this.#totalBytes > target) {
      let largest: ExecutionLog | undefined;
      for (const log of this.#logs.values()) {
        if (largest === undefined || log.bytes > largest.bytes) largest = log;
      }
      if (largest === undefined || largest.lastSeq - largest.firstSeq < 1) return; // newest stays
      const share = Math.max(this.#totalBytes - target, 1);
      let freed = 0;
      while (freed < share && largest.lastSeq > largest.firstSeq) freed += largest.dropOldest();
      this.#totalBytes -= freed;
    }
  }

  #remove(executionId: string): void {
    const log = this.#logs.get(executionId);
    this.#completedOrder.delete(executionId);
    if (!log) return;
    this.#logs.delete(executionId);
    this.#directory.removed(executionId);
    this.#totalBytes -= log.bytes;
    // Open reads keep what they hold and end as complete.
    log.completed = true;
    log.changed.notify();
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
    const before = log.bytes;
    log.push(entry, this.#maxEntries, this.#limits.maxLogBytes);
    this.#totalBytes += log.bytes - before;
    this.#enforceStoreBudget();
    this.#maybeSweep();
    log.changed.notify();
    return entry;
  }

  async complete(executionId: string, exitCode: number | null): Promise<void> {
    const log = this.#getOrCreate(executionId);
    if (log.completed) return;
    log.completed = true;
    log.completedAt = Date.now();
    log.exitCode = exitCode;
    this.#completedOrder.add(executionId);
    log.changed.notify();
  }

  /** Forgets an execution (memory is the only thing bounding it); open reads end as complete. */
  delete(executionId: string): boolean {
    if (!this.#logs.has(executionId)) return false;
    this.#remove(executionId);
    return true;
  }

  /** Reads currently waiting for this execution to change (diagnostics, leak tests). */
  waitingReads(executionId: string): number {
    return this.#logs.get(executionId)?.changed.listenerCount ?? 0;
  }

  async open(executionId: string, options: ReadOptions): Promise<LogReader> {
    if (!isExecutionId(executionId))
      throw new BadRequestError(`invalid execution id ${JSON.stringify(executionId)}`);
    this.#maybeSweep();
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

type Filter = (entry: LogEntry) => boolean;

function filterOf(options: ReadOptions): Filter | undefined {
  const { since, streams } = options;
  const oneStream = streams && streams.length === 1 ? streams[0] : undefined;
  if (since === undefined && oneStream === undefined) return undefined;
  return (e) =>
    (oneStream === undefined || e.stream === oneStream) && (since === undefined || e.time >= since);
}

/**
 * The seq the read starts after (fromSeq, else the tail computed over matching entries) and the
 * part of the range it asked for that retention had already dropped, if any.
 */
function startAfter(
  log: ExecutionLog,
  options: ReadOptions,
  filter: Filter | undefined,
): { after: number; removedFrom: number | undefined } {
  const held = log.firstSeq;
  if (options.fromSeq !== undefined) {
    const after = options.fromSeq;
    const since = options.since;
    const oldestMatches = since === undefined || (log.at(held)?.time ?? 0) >= since;
    return { after, removedFrom: after + 1 < held && oldestMatches ? after + 1 : undefined };
  }
  if (options.tail === undefined) {
    const since = options.since;
    const oldestMatches = since === undefined || (log.at(held)?.time ?? 0) >= since;
    return { after: 0, removedFrom: held > 1 && oldestMatches ? 1 : undefined };
  }
  if (options.tail === 0) return { after: log.lastSeq, removedFrom: undefined };
  if (!filter) {
    // Every retained entry matches and seqs are consecutive: the tail starts at a known seq.
    const after = Math.max(0, log.lastSeq - options.tail);
    return { after, removedFrom: after + 1 < held ? after + 1 : undefined };
  }
  // Walk back from the newest entry until `tail` matching entries are behind us.
  let found = 0;
  for (let seq = log.lastSeq; seq >= held; seq--) {
    const entry = log.at(seq);
    if (entry && filter(entry) && ++found === options.tail)
      return { after: seq - 1, removedFrom: undefined };
    if (entry && options.since !== undefined && entry.time < options.since) {
      return { after: held - 1, removedFrom: undefined };
    }
  }
  // Fewer matching entries than asked for: any dropped one may have matched.
  return held > 1 ? { after: 0, removedFrom: 1 } : { after: 0, removedFrom: undefined };
}

class MemoryLogReader implements LogReader {
  readonly afterSeq: number;
  readonly lastSeqAtOpen: number;
  readonly firstSeqAtOpen: number;
  #removedAtOpen: number | undefined;
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
    this.firstSeqAtOpen = log.firstSeq;
    const start = startAfter(log, options, this.#filter);
    this.afterSeq = start.after;
    this.#removedAtOpen = start.removedFrom;
    // Without a notice for them, dropped entries are skipped silently only where the read did
    // not ask for them (a since older than them, filtered-out lines).
    this.#position =
      start.removedFrom === undefined ? Math.max(start.after, log.firstSeq - 1) : start.after;
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

  async *[Symbol.asyncIterator](): AsyncIterator<LogReadItem> {
    const log = this.#log;
    const { follow, signal } = this.#options;
    if (this.#removedAtOpen !== undefined) {
      this.#removedAtOpen = undefined;
      const toSeq = Math.max(this.#position, this.firstSeqAtOpen - 1);
      if (toSeq > this.#position) yield this.#notice(toSeq);
    }
    while (!this.#closed && !signal.aborted) {
      // A non-follow read ends at what existed when it was opened.
      const end = follow ? log.lastSeq : Math.min(this.lastSeqAtOpen, log.lastSeq);
      if (this.#position < end && this.#position + 1 < log.firstSeq) {
        // Dropped while this read lagged behind: say exactly which, then go on with the oldest held.
        yield this.#notice(Math.min(end, log.firstSeq - 1));
        continue;
      }
      if (this.#position < end) {
        const batch = this.#collect(end);
        if (batch.length > 0) yield batch;
        continue;
      }
      if (!follow || log.completed) return;
      await waitForChange(log.changed, this.#closeSignal, signal);
    }
  }

  #notice(toSeq: number): RemovedLines {
    const notice = removedLines(this.#position + 1, toSeq);
    this.#position = toSeq;
    return notice;
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
