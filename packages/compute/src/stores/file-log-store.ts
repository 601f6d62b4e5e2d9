// The file log store (FileLogStore): executions' logs as NDJSON files in one directory, with
// writers, readers, retention and the catalog of executions it holds.
import { constants } from "node:fs";
import { access, type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  BadRequestError,
  ExecutionNotFoundError,
  isExecutionId,
  isJobId,
  type LogEntry,
  type LogStreamName,
} from "@tailwire/protocol";
import type {
  CatalogChange,
  CreateOptions,
  ExecutionCatalog,
  ExecutionInfo,
} from "../execution-catalog.js";
import type { LogReader, LogReadOptions, LogStore } from "../log-source.js";
import { checkAppend } from "./append-checks.js";
import { FileExecutionCatalog, readJobFile, writeJobFile } from "./file-catalog.js";
import type { ReadStats } from "./file-lines.js";
import { FileLogReader } from "./file-log-reader.js";
import { FileLogWriter } from "./file-log-writer.js";
import { segmentDirOf } from "./file-segments.js";
import { sweepStore } from "./file-store-sweep.js";
import { isErrnoException, O_NOFOLLOW } from "./file-system.js";
import { DirectoryWatcher } from "./file-watch.js";
import {
  FILE_RETENTION_DEFAULTS,
  type RetentionLimits,
  type RetentionOptions,
  retentionLimits,
  type StoreUsage,
  segmentBytesFor,
} from "./retention-limits.js";

export interface FileLogStoreOptions extends RetentionOptions {
  /** The directory holding the logs; created on the first write. */
  dir: string;
  /** How often a follow checks the file when no change notification arrived. Default 250 ms. */
  pollIntervalMs?: number | undefined;
  /**
   * How often the store-wide limits (maxStoreBytes, maxLogAgeMs) are enforced over the whole
   * directory, whoever wrote it. Default 10 s; 0 = only when `sweep()` is called.
   */
  sweepIntervalMs?: number | undefined;
}

/**
 * A LogStore of append-only files in one directory, readable by other processes while it is
 * written (a `tailwire exec` writes, a compute node reads) and surviving restarts.
 *
 * On disk, for an execution id `<id>` (validated by the protocol's `isExecutionId`, so it never
 * contains a path separator and never starts with a dot):
 *
 * - `<dir>/<id>.log`: NDJSON, one LogEntry per line, `{"seq":1,"stream":"stdout","time":...,
 *   "line":"..."}\n`. Seqs start at 1 and increase by one; times (ms since the epoch) never
 *   decrease within a file (the writer clamps a clock that steps back), which lets `since` be
 *   found by binary search. Its existence is the execution's existence.
 * - `<dir>/<id>.exit`: `{"exitCode":0}\n` (null for a process killed by a signal), written to a
 *   temporary dot-file, fsynced and renamed, after the log was fdatasync'd. Its existence means
 *   the execution completed and the log is final.
 *
 * - `<dir>/<id>.seg/<firstSeq>.log`: the older lines, sealed segments of the same format, when
 *   the log is bounded (`maxLogBytes`): the active log is sealed at a quarter of the cap and the
 *   oldest segments are removed, so seqs never change and what remains is contiguous up to the
 *   newest line. Readers that need removed lines get a RemovedLines notice (see file-segments,
 *   FileLogReader).
 *
 * One process at a time may write an execution (any number may read it). Appends after
 * completion reject; completion is final (the first exit code wins). The per-execution cap is
 * applied by the writing process; the store-wide budget and age by whichever process sweeps
 * (every store with a sweep interval, e.g. the compute node's).
 */
export class FileLogStore implements LogStore, ExecutionCatalog {
  /** The absolute directory of the logs. */
  readonly dir: string;
  readonly pollIntervalMs: number;
  /** Read I/O done by this store's readers and writers (diagnostics). */
  readonly stats: ReadStats = { bytesRead: 0, reads: 0 };
  readonly #writers = new Map<string, FileLogWriter>();
  readonly #readers = new Set<FileLogReader>();
  readonly #watcher: DirectoryWatcher;
  /** The executions of the directory, for lookups (whoever wrote them). */
  readonly #catalog: FileExecutionCatalog;
  readonly #limits: RetentionLimits;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<StoreUsage> | null = null;
  #usage: StoreUsage = { totalBytes: 0, executions: {}, executionsRemoved: 0 };
  #dirReady: Promise<void> | null = null;
  #closed = false;

  constructor(options: FileLogStoreOptions) {
    if (typeof options.dir !== "string" || options.dir.length === 0) {
      throw new TypeError("FileLogStore: dir must be a non-empty path");
    }
    const poll = options.pollIntervalMs ?? 250;
    if (!Number.isFinite(poll) || poll < 1) {
      throw new TypeError("FileLogStore: pollIntervalMs must be a number >= 1");
    }
    this.dir = resolve(options.dir);
    this.pollIntervalMs = poll;
    this.#limits = retentionLimits(options, FILE_RETENTION_DEFAULTS, "FileLogStore");
    const sweepEvery = options.sweepIntervalMs ?? 10_000;
    if (!Number.isFinite(sweepEvery) || sweepEvery < 0) {
      throw new TypeError("FileLogStore: sweepIntervalMs must be a number >= 0");
    }
    this.#watcher = new DirectoryWatcher(this.dir);
    this.#catalog = new FileExecutionCatalog(this.dir);
    if (sweepEvery > 0) {
      this.#sweepTimer = setInterval(() => {
        this.sweep().catch(() => {});
      }, sweepEvery);
      this.#sweepTimer.unref();
    }
  }

  /** The retention limits in force. */
  get limits(): Readonly<RetentionLimits> {
    return this.#limits;
  }

  /**
   * Applies the store-wide limits to the whole directory now (completed executions past
   * maxLogAgeMs, then the oldest data while over maxStoreBytes) and returns the usage after it.
   * Concurrent calls share one sweep.
   */
  sweep(): Promise<StoreUsage> {
    if (this.#sweeping === null) {
      this.#sweeping = (async () => {
        try {
          const result = await sweepStore(this.dir, this.#limits, Date.now());
          this.#usage = {
            totalBytes: result.totalBytes,
            executions: result.executions,
            executionsRemoved: this.#usage.executionsRemoved + result.executionsRemoved,
          };
          return this.#usage;
        } finally {
          this.#sweeping = null;
        }
      })();
    }
    return this.#sweeping;
  }

  /** What the store held at its last sweep (bytes per execution and in total). */
  usage(): StoreUsage {
    return this.#usage;
  }

  /** The log file of an execution (validated like every other use of an id). */
  logPath(executionId: string): string {
    return this.#paths(executionId).log;
  }

  /** The exit marker of an execution. */
  exitPath(executionId: string): string {
    return this.#paths(executionId).exit;
  }

  async open(executionId: string, options: LogReadOptions): Promise<LogReader> {
    this.#assertOpen();
    const paths = this.#paths(executionId);
    validateReadOptions(options);
    let fh: FileHandle;
    try {
      fh = await open(paths.log, constants.O_RDONLY | O_NOFOLLOW);
    } catch (error) {
      if (isErrnoException(error)) {
        if (error.code === "ENOENT" || error.code === "ENOTDIR") {
          throw new ExecutionNotFoundError(`no logs for execution ${executionId}`);
        }
        if (error.code === "ELOOP") {
          throw new BadRequestError(`the log of execution ${executionId} is a symbolic link`);
        }
      }
      throw error;
    }
    try {
      if (!(await fh.stat()).isFile()) {
        throw new BadRequestError(`the log of execution ${executionId} is not a regular file`);
      }
    } catch (error) {
      await fh.close();
      throw error;
    }
    const reader = await FileLogReader.open({
      executionId,
      fh,
      logPath: paths.log,
      segDir: segmentDirOf(paths.log),
      exitPath: paths.exit,
      options,
      stats: this.stats,
      watcher: this.#watcher,
      pollIntervalMs: this.pollIntervalMs,
      onClosed: (r) => this.#readers.delete(r),
    });
    if (this.#closed) await reader.close();
    else this.#readers.add(reader);
    return reader;
  }

  async create(executionId: string, options: CreateOptions = {}): Promise<void> {
    this.#assertOpen();
    if (options.jobId !== undefined) {
      if (!isJobId(options.jobId))
        throw new BadRequestError(`invalid job id ${JSON.stringify(options.jobId)}`);
      this.#paths(executionId);
      await this.#ensureDir();
      // Before the log: an execution is found with its job, or not yet at all.
      await writeJobFile(this.dir, executionId, options.jobId);
    }
    await this.#writer(executionId).ready;
  }

  async listExecutions(): Promise<{ executionId: string; jobId?: string }[]> {
    return this.#catalog.list();
  }

  async describeExecution(executionId: string): Promise<ExecutionInfo | undefined> {
    if (!isExecutionId(executionId) || this.#closed) return undefined;
    let reader: LogReader;
    try {
      reader = await this.open(executionId, { tail: 0, follow: false, signal: NEVER });
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) return undefined;
      throw error;
    }
    try {
      const jobId = await readJobFile(this.dir, executionId);
      return {
        executionId,
        ...(jobId === undefined ? {} : { jobId }),
        lastSeq: reader.lastSeqAtOpen,
        completed: reader.exitCode !== null || (await exists(this.exitPath(executionId))),
      };
    } finally {
      await reader.close();
    }
  }

  watchExecutions(listener: (change: CatalogChange) => void): () => void {
    return this.#catalog.watch(listener);
  }

  async append(
    executionId: string,
    stream: LogStreamName,
    line: string,
    time?: number,
  ): Promise<LogEntry> {
    // Everything up to the writer's queue is synchronous: appends are queued in call order.
    this.#assertOpen();
    if (!this.#writers.has(executionId)) this.#paths(executionId);
    checkAppend(stream, line, time);
    return this.#writer(executionId).append(stream, line, time ?? Date.now());
  }

  async complete(executionId: string, exitCode: number | null): Promise<void> {
    this.#assertOpen();
    this.#paths(executionId);
    if (exitCode !== null && !Number.isSafeInteger(exitCode)) {
      throw new BadRequestError(`invalid exit code ${exitCode}`);
    }
    const writer = this.#writer(executionId);
    try {
      await writer.complete(exitCode);
    } finally {
      await writer.close();
    }
  }

  /**
   * Closes every reader (their iterations end), waits for queued appends, closes every file
   * descriptor and the directory watcher. The store cannot be used afterwards.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    const pending: Promise<void>[] = [];
    for (const reader of this.#readers) pending.push(reader.close());
    for (const writer of this.#writers.values()) pending.push(writer.close());
    this.#watcher.close();
    this.#catalog.close();
    await Promise.allSettled(pending);
    await this.#sweeping?.catch(() => {});
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("FileLogStore is closed");
  }

  /** The execution's writer; validates the id unless a writer for it exists (the hot path). */
  #writer(executionId: string): FileLogWriter {
    let writer = this.#writers.get(executionId);
    if (writer === undefined || writer.unusable) {
      const paths = this.#paths(executionId);
      writer = new FileLogWriter({
        dir: this.dir,
        executionId,
        logPath: paths.log,
        exitPath: paths.exit,
        stats: this.stats,
        maxLogBytes: this.#limits.maxLogBytes,
        segmentBytes: segmentBytesFor(this.#limits.maxLogBytes),
        ensureDir: () => this.#ensureDir(),
        onChange: () => this.#watcher.notify(executionId),
        onClosed: (w) => {
          if (this.#writers.get(executionId) === w) this.#writers.delete(executionId);
        },
      });
      this.#writers.set(executionId, writer);
    }
    return writer;
  }

  #ensureDir(): Promise<void> {
    if (this.#dirReady === null) {
      const ready = mkdir(this.dir, { recursive: true }).then(() => {});
      ready.catch(() => {
        if (this.#dirReady === ready) this.#dirReady = null; // retry on the next write
      });
      this.#dirReady = ready;
    }
    return this.#dirReady;
  }

  /**
   * The files of an execution. The id must match the protocol's pattern, and the resolved paths
   * must be direct children of the store's directory: no id can name a file anywhere else.
   */
  #paths(executionId: string): { log: string; exit: string } {
    if (typeof executionId !== "string" || !isExecutionId(executionId)) {
      throw new BadRequestError(`invalid execution id ${describeId(executionId)}`);
    }
    const log = resolve(this.dir, `${executionId}.log`);
    const exit = resolve(this.dir, `${executionId}.exit`);
    if (dirname(log) !== this.dir || dirname(exit) !== this.dir) {
      throw new BadRequestError(`invalid execution id ${describeId(executionId)}`);
    }
    return { log, exit };
  }
}

function describeId(value: unknown): string {
  if (typeof value !== "string") return `(${typeof value})`;
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return `${JSON.stringify(shown)}${value.length > 64 ? ` (${value.length} characters)` : ""}`;
}

function validateReadOptions(options: LogReadOptions): void {
  const { tail, fromSeq, since, streams } = options;
  const count = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new BadRequestError(`${name} must be a non-negative integer`);
    }
  };
  count("tail", tail);
  count("fromSeq", fromSeq);
  count("since", since);
  if (streams !== undefined) {
    for (const stream of streams) {
      if (stream !== "stdout" && stream !== "stderr") {
        throw new BadRequestError(`invalid stream ${JSON.stringify(stream)}`);
      }
    }
  }
  if (typeof options.follow !== "boolean") throw new BadRequestError("follow must be a boolean");
  if (!(options.signal instanceof AbortSignal)) {
    throw new BadRequestError("signal must be an AbortSignal");
  }
}

/** A signal that never aborts: a describe's read is closed by describeExecution itself. */
const NEVER = new AbortController().signal;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );
