// One read of one execution's in-memory log (MemoryLogReader): where it starts (fromSeq, tail,
// since), the filters, the batches it yields and, for a follow, the wait for new entries.
import type { LogEntry } from "@tailwire/protocol";
import {
  type LogReader,
  type LogReadItem,
  type LogReadOptions,
  type RemovedLines,
  removedLines,
} from "../log-source.js";
import { ChangeSignal } from "./change-signal.js";
import type { ExecutionLog } from "./memory-execution-log.js";

type Filter = (entry: LogEntry) => boolean;

function filterOf(options: LogReadOptions): Filter | undefined {
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
  options: LogReadOptions,
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

export class MemoryLogReader implements LogReader {
  readonly afterSeq: number;
  readonly lastSeqAtOpen: number;
  readonly firstSeqAtOpen: number;
  #removedAtOpen: number | undefined;
  #position: number;
  #closed = false;
  readonly #log: ExecutionLog;
  readonly #options: LogReadOptions;
  readonly #filter: Filter | undefined;
  readonly #maxBatch: number;
  /** Wakes a pending wait when close() is called. */
  readonly #closeSignal = new ChangeSignal();

  constructor(log: ExecutionLog, options: LogReadOptions, maxBatch: number) {
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
