// Appends one execution's lines to its file log (FileLogWriter): ordered, batched writes,
// rotation into sealed segments and the exit marker on completion.
import { constants } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import { readExitMarker, writeExitMarker } from "./file-exit-marker.js";
import { completeLinesEnd, firstEntry, lastEntry, type ReadStats } from "./file-lines.js";
import {
  listSegments,
  removeFile,
  rotate,
  type Segment,
  segmentDirOf,
  undoHalfRotation,
} from "./file-segments.js";
import { O_NOFOLLOW, syncDirectory } from "./file-system.js";

/** Entries written per write call at most. */
const MAX_WRITE_ENTRIES = 4096;

interface PendingAppend {
  stream: LogStreamName;
  line: string;
  time: number;
  resolve: (entry: LogEntry) => void;
  reject: (error: unknown) => void;
}

export interface FileLogWriterInit {
  dir: string;
  executionId: string;
  logPath: string;
  exitPath: string;
  stats: ReadStats;
  /**
   * Retention: the most bytes this execution's log keeps (active log plus sealed segments);
   * Infinity = unbounded. The active log is sealed once it reaches `segmentBytes`, and the oldest
   * sealed segments are removed while the rest would pass the cap once the active log fills.
   */
  maxLogBytes: number;
  segmentBytes: number;
  /** Makes sure the directory exists. */
  ensureDir: () => Promise<void>;
  /** Called after lines were written or the execution completed (wakes local followers). */
  onChange: () => void;
  /** Called once the writer holds no file handle any more and must not be used again. */
  onClosed: (writer: FileLogWriter) => void;
}

/**
 * The single writer of one execution's log inside this process. Appends are queued and written
 * in call order by one drain loop, many lines per write(2) on an O_APPEND file descriptor that
 * stays open until the execution completes (or the store closes). Sequence numbers are assigned
 * in queue order when the batch is written, so concurrent appends always get increasing seqs in
 * the order they were called.
 *
 * Opening the writer recovers the state from the file: the last seq and time come from the last
 * complete line (so seqs continue after a restart), and a partial last line (a crash mid-write)
 * is truncated away so the next line does not get glued onto it.
 *
 * Only one writer per execution may exist at a time across all processes (readers are
 * unlimited): two processes appending to the same execution would hand out the same seqs.
 */
export class FileLogWriter {
  readonly #init: FileLogWriterInit;
  readonly ready: Promise<void>;
  #fh: FileHandle | null = null;
  #lastSeq = 0;
  #lastTime = 0;
  /** The active log's first seq (lastSeq + 1 while it is empty) and its size in bytes. */
  #activeFirstSeq = 1;
  #activeBytes = 0;
  /** Sealed segments, oldest first, with their sizes. */
  #sealed: (Segment & { bytes: number })[] = [];
  #queue: PendingAppend[] = [];
  #draining: Promise<void> | null = null;
  /** complete() was called, or the execution had completed before this writer opened. */
  #completing = false;
  #completion: Promise<void> | null = null;
  /** The exit marker existed when this writer opened. */
  #completedBefore = false;
  #failure: unknown = null;
  #closed = false;
  #closePromise: Promise<void> | null = null;

  constructor(init: FileLogWriterInit) {
    this.#init = init;
    this.ready = this.#open();
    // Failures surface through append/complete/create; never as an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** True once the writer failed or closed: the store replaces it with a fresh one. */
  get unusable(): boolean {
    return this.#closed || this.#failure !== null;
  }

  append(stream: LogStreamName, line: string, time: number): Promise<LogEntry> {
    if (this.#completing) return Promise.reject(this.#completedError());
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<LogEntry>((resolve, reject) => {
      this.#queue.push({ stream, line, time, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Writes the exit marker once every append queued before it is on disk (fdatasync'd), then
   * closes the log. Completion is final: a second call, or a call for an execution that had
   * already completed (before a restart), keeps the first exit code.
   */
  complete(exitCode: number | null): Promise<void> {
    if (this.#completion === null) {
      this.#completing = true;
      this.#completion = this.#complete(exitCode);
    }
    return this.#completion;
  }

  /** Waits for queued appends, then releases the file descriptor. Safe to call more than once. */
  close(): Promise<void> {
    if (this.#closePromise === null) {
      this.#closePromise = (async () => {
        await this.ready.catch(() => {});
        while (this.#draining !== null) await this.#draining;
        this.#closed = true;
        const fh = this.#fh;
        this.#fh = null;
        try {
          await fh?.close();
        } finally {
          this.#init.onClosed(this);
        }
      })();
    }
    return this.#closePromise;
  }

  async #open(): Promise<void> {
    const { logPath, exitPath, stats } = this.#init;
    await this.#init.ensureDir();
    const marker = await readExitMarker(exitPath);
    const fh = await open(
      logPath,
      constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | O_NOFOLLOW,
      0o644,
    );
    this.#fh = fh;
    const stat = await fh.stat();
    if (!stat.isFile()) throw new Error(`${logPath} is not a regular file`);
    if (stat.size === 0) await syncDirectory(this.#init.dir);
    if (marker !== null) {
      // Completed before this writer existed (an earlier process): nothing may be appended.
      this.#completing = true;
      this.#completedBefore = true;
      return;
    }
    const end = await completeLinesEnd(fh, stats, stat.size);
    if (end < stat.size) await fh.truncate(end);
    const segDir = segmentDirOf(logPath);
    const segments = await undoHalfRotation(logPath, segDir, await listSegments(segDir));
    this.#sealed = await Promise.all(
      segments.map(async (s) => ({ ...s, bytes: (await statSize(s.path)) ?? 0 })),
    );
    let last = await lastEntry(fh, stats, end);
    const newest = this.#sealed[this.#sealed.length - 1];
    if (last === undefined && newest !== undefined) {
      // Rotated just before a restart: the seqs go on from the newest sealed segment.
      const sfh = await open(newest.path, constants.O_RDONLY | O_NOFOLLOW);
      try {
        last = await lastEntry(sfh, stats, await completeLinesEnd(sfh, stats, newest.bytes));
      } finally {
        await sfh.close();
      }
    }
    this.#lastSeq = last?.seq ?? 0;
    this.#lastTime = last?.time ?? 0;
    this.#activeFirstSeq = (await firstEntry(fh, stats, end))?.seq ?? this.#lastSeq + 1;
    this.#activeBytes = end;
    // A lower cap than the last run's applies at once.
    await this.#retain();
  }

  /** Bytes this execution's log holds on disk (active log and sealed segments). */
  get bytes(): number {
    let total = this.#activeBytes;
    for (const s of this.#sealed) total += s.bytes;
    return total;
  }

  /** Seals the active log once it is full, then drops the oldest segments over the cap. */
  async #rotateIfFull(): Promise<void> {
    const { maxLogBytes, segmentBytes, logPath } = this.#init;
    if (maxLogBytes === Number.POSITIVE_INFINITY || this.#activeBytes < segmentBytes) return;
    const old = this.#fh!;
    // No fsync here: appends are not fsynced either (only completion is), and a SIGKILL loses
    // nothing the page cache holds. After a power loss the rotation is found done or undone.
    const firstSeq = this.#activeFirstSeq;
    this.#fh = await rotate(logPath, segmentDirOf(logPath), firstSeq);
    this.#sealed.push({
      firstSeq,
      path: `${segmentDirOf(logPath)}/${String(firstSeq).padStart(16, "0")}.log`,
      bytes: this.#activeBytes,
    });
    this.#activeFirstSeq = this.#lastSeq + 1;
    this.#activeBytes = 0;
    await old.close();
    await this.#retain();
  }

  /**
   * Removes the oldest sealed segments while the remaining ones plus a full active log would pass
   * the cap. The newest sealed segment always stays: with an empty active log it is what the next
   * writer recovers the last seq from (seqs never start again).
   */
  async #retain(): Promise<void> {
    const { maxLogBytes, segmentBytes } = this.#init;
    if (maxLogBytes === Number.POSITIVE_INFINITY) return;
    let sealedBytes = 0;
    for (const s of this.#sealed) sealedBytes += s.bytes;
    while (
      this.#sealed.length > 1 &&
      sealedBytes + Math.max(segmentBytes, this.#activeBytes) > maxLogBytes
    ) {
      const oldest = this.#sealed.shift()!;
      sealedBytes -= oldest.bytes;
      await removeFile(oldest.path);
    }
  }

  #kick(): void {
    if (this.#draining !== null) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    try {
      await this.ready;
    } catch (error) {
      this.#fail(error, []);
      return;
    }
    if (this.#completedBefore) {
      for (const pending of this.#queue.splice(0)) pending.reject(this.#completedError());
      return;
    }
    while (this.#queue.length > 0) {
      const fh = this.#fh;
      if (fh === null) {
        this.#fail(new Error("log writer closed"), []);
        return;
      }
      // A batch ends where the active log fills up, so a rotation seals about one segment's
      // worth whatever the burst (sizes counted in UTF-16 units: at most the bytes).
      const room = this.#init.segmentBytes - this.#activeBytes;
      const limit = Math.min(this.#queue.length, MAX_WRITE_ENTRIES);
      const entries: LogEntry[] = [];
      let text = "";
      let seq = this.#lastSeq;
      let lastTime = this.#lastTime;
      let taken = 0;
      while (taken < limit) {
        const pending = this.#queue[taken++]!;
        // Times never decrease within a file (a clock stepping back is clamped): readers rely on
        // it to binary-search `since`.
        lastTime = Math.max(pending.time, lastTime);
        const entry: LogEntry = {
          seq: ++seq,
          stream: pending.stream,
          time: lastTime,
          line: pending.line,
        };
        entries.push(entry);
        text += JSON.stringify(entry) + "\n";
        if (text.length >= room) break;
      }
      const batch = this.#queue.splice(0, taken);
      const buf = Buffer.from(text, "utf8");
      try {
        await writeAll(fh, buf);
      } catch (error) {
        // The file may now end with part of a line: this writer is dropped, and the next one
        // truncates that part away and recovers the seq from the last complete line.
        this.#fail(error, batch);
        return;
      }
      this.#lastSeq = seq;
      this.#lastTime = lastTime;
      this.#activeBytes += buf.length;
      let rotationError: unknown = null;
      try {
        // Before the appends resolve: a caller that awaited its appends sees the log bounded.
        await this.#rotateIfFull();
      } catch (error) {
        // The lines are written; the next writer finishes or undoes the rotation on open.
        rotationError = error;
      }
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(entries[i]!);
      this.#init.onChange();
      if (rotationError !== null) {
        this.#fail(rotationError, []);
        return;
      }
    }
  }

  #fail(error: unknown, batch: PendingAppend[]): void {
    this.#failure = error;
    for (const pending of batch) pending.reject(error);
    for (const pending of this.#queue.splice(0)) pending.reject(error);
  }

  #completedError(): Error {
    return new Error(`execution ${this.#init.executionId} has completed; its log is closed`);
  }

  async #complete(exitCode: number | null): Promise<void> {
    await this.ready;
    if (this.#completedBefore) return;
    while (this.#draining !== null) await this.#draining;
    if (this.#failure !== null) throw this.#failure;
    const fh = this.#fh;
    if (fh === null) throw new Error("log writer closed");
    await fh.datasync();
    const { dir, executionId, exitPath } = this.#init;
    await writeExitMarker(dir, executionId, exitPath, { exitCode });
    this.#init.onChange();
  }
}

async function statSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}
