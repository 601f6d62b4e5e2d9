// The contract between the server and a log store: LogSource (open a read of an execution's
// log), LogReader (the read), LogStore (a source that can also be written) and what they trade.
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import type { CreateOptions } from "./execution-catalog.js";

/** What a stream asks of a log source. Mirrors the request's read options. */
export interface LogReadOptions {
  /** The last N matching lines; 0 = only lines written from now on; undefined = whole history. */
  tail?: number | undefined;
  /** Only entries with seq > fromSeq. Takes precedence over `tail`. */
  fromSeq?: number | undefined;
  /** Only entries with time >= since (ms since the Unix epoch). */
  since?: number | undefined;
  /** Only these streams; undefined = both. */
  streams?: readonly LogStreamName[] | undefined;
  /** After the history, wait for new lines until the execution completes. */
  follow: boolean;
  /** Aborting it ends the read at once and releases everything it holds. */
  signal: AbortSignal;
}

/**
 * The old name of LogReadOptions.
 * @deprecated Renamed LogReadOptions (the requester has a different type of the same old name);
 * this alias goes before 1.0.
 */
export type ReadOptions = LogReadOptions;

/**
 * Lines `fromSeq..toSeq` (both included) that the read covers but will never yield: a store's
 * retention removed them (the oldest lines of a bounded log) before the read got to them. A read
 * yields one for the range it asked for but that was already gone when it opened (first, before
 * any entry), and one for each range a follow fell behind on; entries after it have seq > toSeq.
 */
export interface RemovedLines {
  readonly kind: "removed";
  readonly reason: "retention";
  readonly fromSeq: number;
  readonly toSeq: number;
}

/** The notice for lines fromSeq..toSeq removed by retention. */
export const removedLines = (fromSeq: number, toSeq: number): RemovedLines => ({
  kind: "removed",
  reason: "retention",
  fromSeq,
  toSeq,
});

/** What one step of a read yields: a batch of entries (never empty) or a removal notice. */
export type LogReadItem = LogEntry[] | RemovedLines;

/** True for a removal notice, false for a batch of entries. */
export const isRemovedLines = (item: LogReadItem): item is RemovedLines => !Array.isArray(item);

/**
 * One read of one execution's log. Iterating yields batches of entries in increasing `seq`
 * order, and a RemovedLines notice where retention removed lines the read covers; iteration ends when the history is read (no follow) or the execution has completed and
 * everything was read (follow), or when the signal aborts (then it simply stops, no throw).
 */
export interface LogReader extends AsyncIterable<LogReadItem> {
  /**
   * The read yields only entries with seq > afterSeq: what it asked for (fromSeq, or where a tail
   * starts), even when retention removed some of those lines (then the first item is a notice).
   */
  readonly afterSeq: number;
  /**
   * The first seq the store still held when the read was opened (lastSeqAtOpen + 1 when it held
   * none). Optional for LogSources written before retention: absent means "nothing removed".
   */
  readonly firstSeqAtOpen?: number;
  /** The execution's last sequence number when the read was opened (0 = none yet). */
  readonly lastSeqAtOpen: number;
  /**
   * The sequence number up to which the read has covered the log so far, counting entries that
   * the filters skipped and lines removed by retention (notices). After iteration ends it is the
   * stream's final `lastSeq`.
   */
  readonly position: number;
  /** The execution's exit code once it is known to have completed, else null. */
  readonly exitCode: number | null;
  /** Releases file handles, watchers and timers; safe to call more than once. */
  close(): Promise<void>;
}

/** Where a compute node reads logs from. Implemented by MemoryLogStore and FileLogStore. */
export interface LogSource {
  /**
   * Opens a read. Rejects with ExecutionNotFoundError (from @tailwire/protocol) when the
   * execution is unknown, and with BadRequestError for an invalid execution id.
   */
  open(executionId: string, options: LogReadOptions): Promise<LogReader>;
}

/** A log source that can also be written: what captureProcess writes into. */
export interface LogStore extends LogSource {
  /**
   * Creates the execution if it does not exist yet (a read of it then finds an empty log),
   * with its job if it has one.
   */
  create(executionId: string, options?: CreateOptions): Promise<void>;
  /** Appends one line; returns the entry with its sequence number. */
  append(
    executionId: string,
    stream: LogStreamName,
    line: string,
    time?: number,
  ): Promise<LogEntry>;
  /** Marks the execution complete: follows end once they have read everything. */
  complete(executionId: string, exitCode: number | null): Promise<void>;
}
