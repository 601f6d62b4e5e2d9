import type { FileHandle } from "node:fs/promises";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import type { LogReader, ReadOptions } from "../log-source.js";
import { readExitMarker } from "./file-exit-marker.js";
import {
  backwardLines,
  completeLinesEnd,
  lastEntry,
  NEWLINE,
  parseLine,
  parseLines,
  type ReadStats,
  readAt,
  searchFirst,
} from "./file-lines.js";
import type { ChangeSubscription, DirectoryWatcher } from "./file-watch.js";

/** Entries per yielded batch at most. */
export const MAX_BATCH_ENTRIES = 4096;
/** Bytes per forward read (more only for a line longer than this). */
const FORWARD_CHUNK = 1 << 20;

export interface FileLogReaderInit {
  executionId: string;
  /** Open for reading; the reader owns it from now on and closes it. */
  fh: FileHandle;
  exitPath: string;
  options: ReadOptions;
  stats: ReadStats;
  watcher: DirectoryWatcher;
  pollIntervalMs: number;
  /** Called once when the reader has released everything. */
  onClosed: (reader: FileLogReader) => void;
}

/**
 * One read of one execution's log file; see LogReader. Opening computes where the read starts
 * (tail: a backward scan from the end; fromSeq and since: binary searches over byte offsets) and
 * where the history ends: the end of the last complete line when the read was opened. Iterating
 * reads forwards from there in 1 MiB chunks; a follow then keeps reading whatever is appended,
 * waking on the directory watcher, on the store's own writes and on a slow poll, and ends once the
 * exit marker exists and the file has been read to its end after the marker was seen.
 *
 * Only complete lines (ending in "\n") are ever parsed: a partial last line stays unread until
 * its newline arrives. Corrupt lines are skipped, and an entry whose seq is not above the last one
 * read is dropped, so the yielded seqs always increase.
 *
 * `exitCode`: a non-follow read reports it only when the execution had completed when the read
 * was opened (its history is then the whole log); a follow reports it once it sees the marker.
 */
export class FileLogReader implements LogReader {
  readonly #init: FileLogReaderInit;
  readonly #fh: FileHandle;
  readonly #follow: boolean;
  readonly #since: number | undefined;
  readonly #streams: ReadonlySet<LogStreamName> | null;
  #afterSeq = 0;
  #lastSeqAtOpen = 0;
  #position = 0;
  #exitCode: number | null = null;
  #completed = false;
  /** Where the history starts and ends (byte offsets). */
  #start = 0;
  #end = 0;
  /** Offset just after the last complete line consumed. */
  #offset = 0;
  /** The last seq consumed (yielded or skipped by the filters); never goes back. */
  #cursor = 0;
  #iterated = false;
  #closed = false;
  #closePromise: Promise<void> | null = null;
  /** The read in flight on #fh, so close() can wait for it before closing the handle. */
  #inflight: Promise<unknown> = Promise.resolve();
  #sub: ChangeSubscription | null = null;
  #wakeWaiter: (() => void) | null = null;
  readonly #onAbort = () => {
    void this.close();
  };

  private constructor(init: FileLogReaderInit) {
    this.#init = init;
    this.#fh = init.fh;
    this.#follow = init.options.follow;
    this.#since = init.options.since;
    this.#streams = init.options.streams === undefined ? null : new Set(init.options.streams);
  }

  /** Opens a read; on failure the file handle is closed. */
  static async open(init: FileLogReaderInit): Promise<FileLogReader> {
    const reader = new FileLogReader(init);
    try {
      await reader.#prepare();
    } catch (error) {
      await reader.close();
      throw error;
    }
    const { signal } = init.options;
    if (signal.aborted) await reader.close();
    else signal.addEventListener("abort", reader.#onAbort, { once: true });
    return reader;
  }

  get afterSeq(): number {
    return this.#afterSeq;
  }

  get lastSeqAtOpen(): number {
    return this.#lastSeqAtOpen;
  }

  get position(): number {
    return this.#position;
  }

  get exitCode(): number | null {
    return this.#exitCode;
  }

  [Symbol.asyncIterator](): AsyncIterator<LogEntry[]> {
    if (this.#iterated) throw new Error("a LogReader can be iterated only once");
    this.#iterated = true;
    return this.#iterate();
  }

  close(): Promise<void> {
    if (this.#closePromise === null) {
      this.#closed = true;
      this.#init.options.signal.removeEventListener("abort", this.#onAbort);
      if (this.#sub !== null) {
        this.#init.watcher.unsubscribe(this.#sub);
        this.#sub = null;
      }
      this.#wakeWaiter?.();
      this.#closePromise = (async () => {
        try {
          await this.#inflight.catch(() => {});
          await this.#fh.close();
        } finally {
          this.#init.onClosed(this);
        }
      })();
    }
    return this.#closePromise;
  }

  #read(position: number, length: number): Promise<Buffer> {
    const read = readAt(this.#fh, this.#init.stats, position, length);
    this.#inflight = read;
    return read;
  }

  async #prepare(): Promise<void> {
    const { options, stats } = this.#init;
    const fh = this.#fh;
    // The marker first, then the size: a marker seen here was written after the last append was
    // on disk, so the history read below is the whole log.
    const marker = await readExitMarker(this.#init.exitPath);
    if (marker !== null) {
      this.#completed = true;
      this.#exitCode = marker.exitCode;
    }
    const { size } = await fh.stat();
    const end = await completeLinesEnd(fh, stats, size);
    this.#end = end;
    this.#lastSeqAtOpen = (await lastEntry(fh, stats, end))?.seq ?? 0;

    const { tail, fromSeq, since } = options;
    if (fromSeq !== undefined) {
      this.#afterSeq = fromSeq;
      this.#start =
        fromSeq >= this.#lastSeqAtOpen
          ? end
          : fromSeq === 0
            ? 0
            : await searchFirst(fh, stats, end, (e) => e.seq > fromSeq);
      if (since !== undefined && this.#start < end) {
        this.#start = Math.max(
          this.#start,
          await searchFirst(fh, stats, end, (e) => e.time >= since),
        );
      }
    } else if (tail === 0) {
      this.#afterSeq = this.#lastSeqAtOpen;
      this.#start = end;
    } else if (tail !== undefined) {
      await this.#prepareTail(tail);
    } else if (since !== undefined) {
      this.#start = await searchFirst(fh, stats, end, (e) => e.time >= since);
    }
    this.#offset = this.#start;
    this.#cursor = this.#afterSeq;
    this.#position = this.#afterSeq;
  }

  /**
   * Scans backwards from the end for the last `tail` matching lines. With `since`, the scan stops
   * at the first line older than `since` (times never decrease within a file).
   */
  async #prepareTail(tail: number): Promise<void> {
    let count = 0;
    let first: { start: number; seq: number } | null = null;
    scan: for await (const lines of backwardLines(this.#fh, this.#init.stats, this.#end)) {
      for (const raw of lines) {
        const entry = parseLine(raw.text);
        if (entry === undefined) continue;
        if (this.#since !== undefined && entry.time < this.#since) break scan;
        if (this.#streams !== null && !this.#streams.has(entry.stream)) continue;
        count++;
        first = { start: raw.start, seq: entry.seq };
        if (count >= tail) break scan;
      }
    }
    this.#start = first?.start ?? this.#end;
    // With fewer matching lines than asked for, the read covers the whole (filtered) history.
    this.#afterSeq = first !== null && count >= tail ? first.seq - 1 : 0;
  }

  #matches(entry: LogEntry): boolean {
    if (this.#since !== undefined && entry.time < this.#since) return false;
    return this.#streams === null || this.#streams.has(entry.stream);
  }

  async *#iterate(): AsyncGenerator<LogEntry[]> {
    try {
      if (this.#closed) return;
      yield* this.#scan(this.#end);
      if (this.#closed) return;
      if (!this.#follow) {
        this.#position = Math.max(this.#position, this.#lastSeqAtOpen);
        return;
      }
      const sub = this.#init.watcher.subscribe(this.#init.executionId);
      this.#sub = sub;
      for (;;) {
        sub.dirty = false;
        // Seen before reading to the end: everything was appended before the marker was written.
        const completed = this.#completed || (await this.#checkCompleted());
        if (this.#closed) return;
        yield* this.#scan(undefined);
        if (this.#closed || completed) return;
        if (!sub.dirty) await this.#waitForChange(sub);
        if (this.#closed) return;
      }
    } finally {
      await this.close();
    }
  }

  async #checkCompleted(): Promise<boolean> {
    const marker = await readExitMarker(this.#init.exitPath);
    if (marker === null) return false;
    this.#completed = true;
    this.#exitCode = marker.exitCode;
    return true;
  }

  #waitForChange(sub: ChangeSubscription): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.wake = null;
        this.#wakeWaiter = null;
        resolve();
      };
      const timer = setTimeout(done, this.#init.pollIntervalMs);
      sub.wake = done;
      this.#wakeWaiter = done;
    });
  }

  /**
   * Reads complete lines forwards from #offset, up to `limit` (a line end) or, without a limit,
   * to the current end of the file, and yields the matching entries in batches.
   */
  async *#scan(limit: number | undefined): AsyncGenerator<LogEntry[]> {
    let batch: LogEntry[] = [];
    let chunk = FORWARD_CHUNK;
    for (;;) {
      const want = limit === undefined ? chunk : Math.min(chunk, limit - this.#offset);
      if (want <= 0 || this.#closed) break;
      const buf = await this.#read(this.#offset, want);
      if (this.#closed) return;
      const nl = buf.lastIndexOf(NEWLINE);
      if (nl === -1) {
        // Only part of a line: at the end of the file it is still being written (read it again
        // once its newline is there); otherwise the line is longer than the chunk.
        if (buf.length < want) break;
        chunk *= 2;
        continue;
      }
      chunk = FORWARD_CHUNK;
      const entries = parseLines(buf, nl + 1);
      this.#offset += nl + 1;
      for (const entry of entries) {
        if (entry.seq <= this.#cursor) continue;
        this.#cursor = entry.seq;
        if (!this.#matches(entry)) continue;
        batch.push(entry);
        if (batch.length >= MAX_BATCH_ENTRIES) {
          this.#position = this.#cursor;
          yield batch;
          batch = [];
          if (this.#closed) return;
        }
      }
      if (batch.length === 0) this.#position = this.#cursor;
      if (nl + 1 < buf.length && buf.length < want) break; // reached the end with a partial line
    }
    if (batch.length > 0) {
      this.#position = this.#cursor;
      yield batch;
    }
  }
}
