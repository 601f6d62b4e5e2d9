import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import type { LogEntry, LogStreamName } from "@tailwire/protocol";
import { O_NOFOLLOW, readExitMarker, syncDirectory, writeExitMarker } from "./file-exit-marker.js";
import { completeLinesEnd, lastEntry, type ReadStats } from "./file-lines.js";

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
    const last = await lastEntry(fh, stats, end);
    this.#lastSeq = last?.seq ?? 0;
    this.#lastTime = last?.time ?? 0;
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
      const batch = this.#queue.splice(0, MAX_WRITE_ENTRIES);
      const entries: LogEntry[] = [];
      let text = "";
      let seq = this.#lastSeq;
      let lastTime = this.#lastTime;
      for (const pending of batch) {
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
      }
      try {
        await writeAll(fh, Buffer.from(text, "utf8"));
      } catch (error) {
        // The file may now end with part of a line: this writer is dropped, and the next one
        // truncates that part away and recovers the seq from the last complete line.
        this.#fail(error, batch);
        return;
      }
      this.#lastSeq = seq;
      this.#lastTime = lastTime;
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(entries[i]!);
      this.#init.onChange();
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

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}
