// The in-memory log store (MemoryLogStore): every execution's log kept in memory, bounded per
// execution and in total, with the catalog of executions it holds.
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
import type { LogReader, LogReadOptions, LogStore } from "../log-source.js";
import { checkAppend } from "./append-checks.js";
import { ExecutionLog } from "./memory-execution-log.js";
import { MemoryLogReader } from "./memory-log-reader.js";
import {
  MEMORY_RETENTION_DEFAULTS,
  type RetentionLimits,
  type RetentionOptions,
  retentionLimits,
  type StoreUsage,
} from "./retention-limits.js";

export { MEMORY_ENTRY_OVERHEAD } from "./memory-execution-log.js";

export interface MemoryLogStoreOptions extends RetentionOptions {
  /** Entries kept per execution; older ones are dropped (sequence numbers keep counting). */
  maxEntriesPerExecution?: number;
  /** Most entries one batch of a read yields (and most entries it scans before yielding). */
  maxBatchEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BATCH = 4096;

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

  async open(executionId: string, options: LogReadOptions): Promise<LogReader> {
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
