// One read of one execution's file log (FileLogReader): the history from where the read starts
// (file-read-start), then, for a follow, whatever is appended, across rotations and retention.
import { type FileHandle, stat } from "node:fs/promises";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import {
  type LogReader,
  type LogReadItem,
  type LogReadOptions,
  type RemovedLines,
  removedLines,
} from "../log-source.js";
import { readExitMarker } from "./file-exit-marker.js";
import {
  completeLinesEnd,
  NEWLINE,
  parseLines,
  type ReadStats,
  readAt,
  searchFirst,
} from "./file-lines.js";
import { findReadStart, lastIndexWhere, logFilesNow } from "./file-read-start.js";
import { openSegment } from "./file-segments.js";
import { isErrnoException } from "./file-system.js";
import type { ChangeSubscription, DirectoryWatcher } from "./file-watch.js";

/** Entries per yielded batch at most. */
export const MAX_BATCH_ENTRIES = 4096;
/** Bytes per forward read (more only for a line longer than this). */
const FORWARD_CHUNK = 1 << 20;

export interface FileLogReaderInit {
  executionId: string;
  /** Open for reading; the reader owns it from now on and closes it. */
  fh: FileHandle;
  logPath: string;
  /** Where the execution's sealed segments live (see file-segments). */
  segDir: string;
  exitPath: string;
  options: LogReadOptions;
  stats: ReadStats;
  watcher: DirectoryWatcher;
  pollIntervalMs: number;
  /** Called once when the reader has released everything. */
  onClosed: (reader: FileLogReader) => void;
}

/**
 * One read of one execution's log; see LogReader. The log is the active file `<id>.log` plus
 * older sealed segments (see file-segments); retention removes the oldest segments. Opening
 * computes where the read starts (tail: a backward scan from the end, across segments; fromSeq
 * and since: binary searches over byte offsets in the segment that holds the start) and where the
 * history ends: the end of the last complete line of the active log when the read was opened.
 * Iterating reads forwards in 1 MiB chunks, one file after the other; a follow then keeps reading
 * whatever is appended, waking on the directory watcher, on the store's own writes and on a slow
 * poll, moves on to the new active log when the one it reads was sealed (a rotation), and ends
 * once the exit marker exists and the log has been read to its end after the marker was seen.
 *
 * A file the read has open stays readable when retention unlinks it, so lines are only missed
 * when the read moves on to a segment that is gone: it then yields a RemovedLines notice for
 * exactly the seqs it skips, and goes on with the oldest line still held. A range the read asked
 * for but that was already removed at open is the first thing it yields.
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
  /** The file being read; starts as the active log opened by the store. */
  #fh: FileHandle;
  /** #fh is the live active log (not a sealed segment); #ino is its inode. */
  #onActive = true;
  #ino = 0;
  /** #fh is the handle the store opened: a history read ends at #end in it. */
  #onOpened = true;
  readonly #follow: boolean;
  readonly #since: number | undefined;
  readonly #streams: ReadonlySet<LogStreamName> | null;
  #afterSeq = 0;
  #lastSeqAtOpen = 0;
  #firstSeqAtOpen = 1;
  #position = 0;
  #exitCode: number | null = null;
  #completed = false;
  /** The range asked for that retention had removed before the read opened. */
  #removedAtOpen: RemovedLines | null = null;
  /** Where the history ends in the opened active log (byte offset). */
  #end = 0;
  /** Offset just after the last complete line consumed in #fh. */
  #offset = 0;
  /** The last seq consumed (yielded, skipped by the filters or noticed removed); never goes back. */
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

  get firstSeqAtOpen(): number {
    return this.#firstSeqAtOpen;
  }

  get position(): number {
    return this.#position;
  }

  get exitCode(): number | null {
    return this.#exitCode;
  }

  [Symbol.asyncIterator](): AsyncIterator<LogReadItem> {
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
    const active = this.#fh;
    // The marker first, then the size: a marker seen here was written after the last append was
    // on disk, so the history read below is the whole log.
    const marker = await readExitMarker(this.#init.exitPath);
    if (marker !== null) {
      this.#completed = true;
      this.#exitCode = marker.exitCode;
    }
    const st = await active.stat();
    this.#ino = st.ino;
    const end = await completeLinesEnd(active, stats, st.size);
    this.#end = end;
    const start = await findReadStart(
      { fh: active, end, stats },
      this.#init.segDir,
      options,
      this.#streams,
    );
    const { files } = start;
    let { at } = start;
    this.#afterSeq = start.afterSeq;
    this.#lastSeqAtOpen = start.lastSeqAtOpen;
    this.#firstSeqAtOpen = start.firstSeqAtOpen;
    this.#removedAtOpen = start.removedAtOpen;
    const startFile = files[at.file]!;
    if (startFile.path !== undefined) {
      const fh = await openSegment(startFile.path);
      if (fh === null) {
        // Removed since it was listed: the read starts at the oldest file, the gap noticed then.
        at = { file: files.length - 1, offset: 0 };
        this.#advanceNeeded = true;
      } else {
        this.#fh = fh;
        this.#onActive = false;
        this.#onOpened = false;
        // The store's handle of the active log is released: the read reopens `<id>.log` by
        // path when it gets there (it may have been rotated by then).
        await active.close();
      }
    }
    this.#offset = at.offset;
    this.#cursor = this.#afterSeq;
    this.#position = this.#afterSeq;
  }

  /** Set when the start file vanished at open: the first step moves on to what is held. */
  #advanceNeeded = false;

  #matches(entry: LogEntry): boolean {
    if (this.#since !== undefined && entry.time < this.#since) return false;
    return this.#streams === null || this.#streams.has(entry.stream);
  }

  /** The notice for `cursor + 1 .. toSeq`, moving the cursor past it. */
  #notice(toSeq: number): RemovedLines {
    const notice = removedLines(this.#cursor + 1, toSeq);
    this.#cursor = toSeq;
    this.#position = toSeq;
    return notice;
  }

  async *#iterate(): AsyncGenerator<LogReadItem> {
    try {
      if (this.#closed) return;
      if (this.#removedAtOpen !== null && this.#removedAtOpen.toSeq > this.#cursor) {
        this.#cursor = this.#removedAtOpen.fromSeq - 1;
        yield this.#notice(this.#removedAtOpen.toSeq);
      }
      // The history: every line up to the last one at open, across files.
      for (;;) {
        if (this.#closed) return;
        if (this.#advanceNeeded) {
          this.#advanceNeeded = false;
          const notice = await this.#advance();
          if (notice !== null) yield notice;
          continue;
        }
        yield* this.#scan(this.#onOpened ? this.#end : undefined);
        if (this.#closed) return;
        if (this.#onOpened || this.#cursor >= this.#lastSeqAtOpen) break;
        if (this.#onActive) break; // nothing more was held at open
        this.#advanceNeeded = true;
      }
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
        if (this.#closed) return;
        if (!this.#onActive || (await this.#activeReplaced())) {
          // A sealed file is final: read what was written before it was sealed, then move on.
          if (this.#onActive) yield* this.#scan(undefined);
          if (this.#closed) return;
          const notice = await this.#advance();
          if (notice !== null) yield notice;
          continue;
        }
        if (this.#closed || completed) return;
        if (!sub.dirty) await this.#waitForChange(sub);
        if (this.#closed) return;
      }
    } finally {
      await this.close();
    }
  }

  /** True when `<id>.log` is no longer the file being read (sealed, or the log was removed). */
  async #activeReplaced(): Promise<boolean> {
    try {
      return (await stat(this.#init.logPath)).ino !== this.#ino;
    } catch (error) {
      if (isErrnoException(error) && error.code === "ENOENT") {
        // Removed by the store's age limit (only completed executions are): nothing more comes.
        this.#completed = true;
        return false;
      }
      throw error;
    }
  }

  /**
   * Moves on to the file holding the line after the cursor: the sealed segment that starts at or
   * before it, else the active log. Lines retention removed on the way come back as a notice.
   */
  async #advance(): Promise<RemovedLines | null> {
    const want = this.#cursor + 1;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return null;
      const { logPath, segDir, stats } = this.#init;
      const activeFh = await openSegment(logPath);
      if (activeFh === null) {
        // The execution was removed (age limit): the read ends with what it has.
        this.#completed = true;
        this.#onActive = true;
        return null;
      }
      let keep = false;
      try {
        const st = await activeFh.stat();
        const activeEnd = await completeLinesEnd(activeFh, stats, st.size);
        const files = await logFilesNow({ fh: activeFh, end: activeEnd, stats }, segDir, want);
        let index = lastIndexWhere(files, (f) => f.firstSeq <= want);
        if (index < 0) index = 0;
        const file = files[index]!;
        let fh: FileHandle | null = activeFh;
        if (file.path !== undefined) {
          fh = await openSegment(file.path);
          if (fh === null && attempt < 8) continue; // removed meanwhile: look again
          if (fh === null) throw new Error(`segment ${file.path} keeps disappearing`);
        } else {
          keep = true;
        }
        const old = this.#fh;
        this.#fh = fh;
        this.#onActive = file.path === undefined;
        this.#onOpened = false;
        if (this.#onActive) this.#ino = st.ino;
        await this.#inflight.catch(() => {});
        await old.close();
        if (this.#closed) {
          // close() ran meanwhile and released the old handle: release the new one too.
          await fh.close().catch(() => {});
          return null;
        }
        const gap = file.firstSeq > want ? this.#notice(file.firstSeq - 1) : null;
        this.#offset =
          file.firstSeq < want
            ? await searchFirst(
                fh,
                stats,
                await completeLinesEnd(fh, stats, (await fh.stat()).size),
                (e) => e.seq >= want,
              )
            : 0;
        return gap;
      } finally {
        if (!keep) await activeFh.close();
      }
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
   * to the current end of the file, and yields the matching entries in batches. A history read
   * stops at the last line that existed at open.
   */
  async *#scan(limit: number | undefined): AsyncGenerator<LogEntry[]> {
    let batch: LogEntry[] = [];
    let chunk = FORWARD_CHUNK;
    const maxSeq = this.#follow ? Number.MAX_SAFE_INTEGER : this.#lastSeqAtOpen;
    scan: for (;;) {
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
        if (entry.seq > maxSeq) break scan;
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
    } else {
      this.#position = this.#cursor;
    }
  }
}
